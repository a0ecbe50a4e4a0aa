/*
 * message.h - what mail2ticket reads from a mail (GMime).
 *
 * message_parse() takes the spooled message and returns everything the
 * later stages need, decoded to UTF-8: the addresses, the identifiers,
 * the subject, the best body text, the attachments and the headers that
 * signal automatic mail.  Broken mail is normal: the parser tolerates
 * it and records what it had to guess in `warnings`.
 *
 * Ownership: every string and array in a Message belongs to it and is
 * freed by message_free().
 */
#ifndef M2T_MESSAGE_H
#define M2T_MESSAGE_H

#include <gmime/gmime.h>

/* GMime 3.2 declares no g_autoptr() cleanups; these are for everyone. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeMessage, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeObject, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimePart, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeTextPart, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeStream, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeParser, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeParserOptions, g_mime_parser_options_free)

typedef struct {
	char *name;		/* decoded UTF-8 file name on one line, no
				 * control character (never NULL: one is
				 * made from the type when missing) */
	char *content_type;	/* "image/png", lower case */
	char *content_id;	/* without <>, or NULL */
	gsize size;		/* decoded bytes */
	gboolean is_inline;	/* Content-Disposition: inline, or none */
	GMimeObject *part;	/* the part, for message_attachment_data(),
				 * or NULL when the parser made the file
				 * (uudecoded, from winmail.dat) */
	GBytes *data;		/* the content of such a made file, or
				 * of an attached message as it stands
				 * in the mail; NULL otherwise */
} MessageAttachment;

typedef struct {
	const char **fallback_charsets;	/* for raw 8-bit text; NULL-ended;
					 * NULL: utf-8, gb18030, windows-1252 */
	guint title_max_length;		/* unused by the parser */
} MessageOptions;

typedef struct {
	GMimeMessage *mime;

	char *message_id;	/* without <>, or NULL when missing */
	char *in_reply_to;	/* raw header value, or NULL */
	char *references;	/* raw header value, or NULL */
	char *subject;		/* decoded, UTF-8, "" when missing */

	char *from_addr;	/* address of the first From mailbox */
	char *from_name;	/* its display name, or NULL */
	char *reply_to_addr;	/* first Reply-To mailbox, or NULL */
	char *return_path;	/* Return-Path without <>; "" for <>;
				 * NULL when absent */

	/* Candidate envelope recipients from the headers, in the order
	 * Delivered-To, X-Original-To, To, Cc (addresses only). */
	GPtrArray *header_recipients;

	char *body;		/* best body text, valid UTF-8, never NULL */
	gboolean body_from_html;	/* TRUE when made from HTML */

	GPtrArray *attachments;	/* MessageAttachment*, in mail order */

	/* Hex SHA-256 over the message without its delivery headers
	 * (Received, Return-Path, Delivered-To, X-Original-To, a leading
	 * From line): the same for every delivery of the same mail. */
	char *digest;

	GPtrArray *warnings;	/* char*, what the parser had to guess */
	guint ignored_parts;	/* MIME parts nested too deep to be read */
} Message;

/*
 * Parse the message in STREAM (seekable, at offset 0; a leading mbox
 * "From " line is accepted).  Fails only when nothing resembling a mail
 * is there (M2T_ERROR_DATAERR).
 */
Message *message_parse(GMimeStream *stream, const MessageOptions *options,
		       GError **error);

/* The first value of header NAME, decoded to UTF-8, or NULL (owned). */
char *message_header(const Message *message, const char *name);

/* TRUE when MESSAGE has nothing a ticket could be made of: no subject,
 * no text and no attachment (white space counts as nothing). */
gboolean message_is_empty(const Message *message);

/* TRUE when header NAME is present. */
gboolean message_has_header(const Message *message, const char *name);

/* The decoded content of ATTACHMENT (owned). */
GBytes *message_attachment_data(const MessageAttachment *attachment,
				GError **error);

void message_free(Message *message);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Message, message_free)

#endif
