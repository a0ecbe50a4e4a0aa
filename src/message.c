/*
 * message.c - what mail2ticket reads from a mail (GMime).
 *
 * Entry points: message_parse() turns the spooled mail into a Message;
 * message_header() and message_has_header() answer questions about its
 * top-level headers; message_attachment_data() decodes one attachment
 * when it is needed; message_free().
 *
 * The MIME tree is walked here rather than left to
 * g_mime_message_get_body(): in multipart/alternative the text/plain
 * part wins unless it is blank, then the HTML one is turned into text;
 * elsewhere every inline text part without a file name is body text
 * (joined with a blank line), and every other leaf is an attachment,
 * except the signature of multipart/signed.  Attachment contents stay
 * in the spool file: only their decoded size is counted while parsing.
 *
 * Text is always returned as UTF-8.  Mail often lies about its charset
 * or omits it, and raw 8-bit bytes appear in headers and file names;
 * these are decoded with the fallback charsets (by default utf-8,
 * gb18030, windows-1252), never with the process locale, which under a
 * mail server is usually C.  iso-8859-1 is deliberately not a fallback:
 * windows-1252 shows the same letters and also the quotes, dashes and
 * euro sign of 0x80-0x9f, where iso-8859-1 has invisible control
 * characters; and as iso-8859-1 accepts any byte, placing it last would
 * make it win over windows-1252 whenever one of the five bytes that
 * windows-1252 leaves undefined appears, garbling the rest.
 *
 * A declared gb2312 or gbk is read as GB18030 and iso-8859-1 as
 * windows-1252, the supersets mailers really write.  Raw 8-bit file
 * names and text parts without a charset try the charset of the mail's
 * own text first (see add_charset_hint).
 *
 * The digest covers the header lines except those each delivery adds
 * (Received, Return-Path, Delivered-To, X-Original-To), then the body
 * bytes as spooled, so that a mail delivered twice is recognised.
 *
 * Forwarded messages (message/rfc822) are unwrapped: a header block
 * (From, Date, Subject) and their text join the body, their files are
 * attachments; one with an attachment disposition, or returned inside
 * a delivery report, is a file named after its subject (SUBJECT.eml).
 * In multipart/related only the root is body; the other parts are
 * files.  A text alternative that is blank or a stub (under a fifth of
 * what the HTML shows) gives way to the HTML.  uuencoded blocks in
 * plain text and winmail.dat (with libytnef) become attachments.
 * Raw 8-bit text is read with the first fallback that fits; GB18030
 * only when the bytes look Chinese (see looks_gb18030).
 *
 * Limits: encrypted parts are attachments; an HTML part's own
 * <meta charset> is not read; raw 8-bit text in a charset that is
 * neither hinted by the mail nor among the fallbacks comes out
 * garbled, as valid UTF-8.
 */
#include "autoconfig.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>

#ifdef HAVE_YTNEF
#include <stdio.h>
#include <ytnef.h>
#include <mapi.h>
#include <mapidefs.h>
#endif

#include "error.h"
#include "html.h"
#include "message.h"

/* Deeper MIME nesting than this is not walked (GMime has its own,
 * similar, limit); parts below it are ignored with a warning. */
#define MAX_DEPTH 64

/* The parser's warnings kept at most; the rest are counted. */
#define MAX_WARNINGS 50

static const char *default_charsets[] = {
	"utf-8", "gb18030", "windows-1252", NULL
};

/* Headers each delivery adds or rewrites: not part of the digest. */
static const char *delivery_headers[] = {
	"Received", "Return-Path", "Delivered-To", "X-Original-To", NULL
};

/* The Message with what only the parser needs. */
typedef struct {
	Message pub;
	GMimeParserOptions *options;
	/* The same with the charset of the mail's text first: for what
	 * the mailer wrote inside the MIME parts (see add_charset_hint),
	 * NULL when there is no hint. */
	GMimeParserOptions *part_options;
	guint dropped_warnings;
	GMimeStream *raw;	/* the mail as parsed (header offsets count
				 * from its start) */
} MessagePrivate;

/* How a part is walked: for body text and attachments, or, in the
 * alternatives that were not chosen, for attachments only. */
typedef enum {
	WALK_ALL,
	WALK_ATTACHMENTS,
} WalkMode;

/* What the walk collects. */
typedef struct {
	MessagePrivate *message;
	GPtrArray *texts;	/* char*, the body's pieces */
	const char *boundary;	/* of the innermost multipart, or NULL */
} Walk;

static void walk_object(Walk *walk, GMimeObject *object, WalkMode mode,
			guint depth);
static GBytes *uudecode(char **lines);
static void attachment_free(gpointer data);

/* Add a warning, as printf would format it. */
static void G_GNUC_PRINTF(2, 3)
add_warning(MessagePrivate *m, const char *format, ...)
{
	va_list args;
	char *text;

	if (m->pub.warnings->len >= MAX_WARNINGS) {
		m->dropped_warnings++;
		return;
	}
	va_start(args, format);
	text = g_strdup_vprintf(format, args);
	va_end(args);
	g_ptr_array_add(m->pub.warnings, g_utf8_make_valid(text, -1));
	g_free(text);
}

/* GMime's warning callback: one line per issue in the mail. */
static void
parser_warning(gint64 offset, GMimeParserWarning code, const char *item,
	       gpointer user_data)
{
	static const char *names[] = {
		[GMIME_WARN_DUPLICATED_HEADER] = "duplicated header",
		[GMIME_WARN_DUPLICATED_PARAMETER] = "duplicated parameter",
		[GMIME_WARN_UNENCODED_8BIT_HEADER] = "unencoded 8-bit header",
		[GMIME_WARN_INVALID_CONTENT_TYPE] = "invalid content type",
		[GMIME_WARN_INVALID_RFC2047_HEADER_VALUE] =
			"invalid RFC 2047 header value",
		[GMIME_WARN_MALFORMED_MULTIPART] = "malformed multipart",
		[GMIME_WARN_TRUNCATED_MESSAGE] = "truncated message",
		[GMIME_WARN_MALFORMED_MESSAGE] = "malformed message",
		[GMIME_CRIT_INVALID_HEADER_NAME] = "invalid header name",
		[GMIME_CRIT_CONFLICTING_HEADER] = "conflicting header",
		[GMIME_CRIT_CONFLICTING_PARAMETER] = "conflicting parameter",
		[GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY] =
			"multipart without boundary",
		[GMIME_WARN_INVALID_PARAMETER] = "invalid parameter",
		[GMIME_WARN_INVALID_ADDRESS_LIST] = "invalid address list",
		[GMIME_CRIT_NESTING_OVERFLOW] = "MIME nesting too deep",
		[GMIME_WARN_PART_WITHOUT_CONTENT] = "part without content",
		[GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT] =
			"part without headers or content",
	};
	const char *name = (guint) code < G_N_ELEMENTS(names) && names[code]
			   ? names[code] : "parser warning";
	g_autofree char *shown = g_strndup(item ? item : "", 80);

	/* The item is a piece of the mail: one line, no control bytes. */
	for (char *p = shown; *p != '\0'; p++)
		if ((guchar) *p < 0x20 || *p == 0x7f)
			*p = ' ';
	g_strstrip(shown);
	if (offset < 0)
		add_warning(user_data, "%s%s%s", name, *shown ? ": " : "",
			    shown);
	else
		add_warning(user_data, "offset %" G_GINT64_FORMAT ": %s%s%s",
			    offset, name, *shown ? ": " : "", shown);
}

/* TRUE when LEN bytes of TEXT hold a byte outside ASCII. */
static gboolean
has_8bit(const char *text, gsize len)
{
	for (gsize i = 0; i < len; i++)
		if ((guchar) text[i] >= 0x80)
			return TRUE;
	return FALSE;
}

/* TEXT (LEN bytes) without NUL and with CRLF and CR made LF (owned). */
static char *
normalise_text(const char *text, gsize len)
{
	GString *out = g_string_sized_new(len + 1);

	for (gsize i = 0; i < len; i++) {
		if (text[i] == '\0')
			continue;
		if (text[i] == '\r') {
			if (i + 1 < len && text[i + 1] == '\n')
				continue;
			g_string_append_c(out, '\n');
			continue;
		}
		g_string_append_c(out, text[i]);
	}
	return g_string_free(out, FALSE);
}

/* TRUE when GB18030 is a likely reading of LEN bytes of TEXT.  In
 * Chinese text nearly every two-byte character has a second byte
 * above ASCII; Latin-1 or Shift_JIS read as GB18030 pair a byte with
 * an ASCII letter ("W\xf6lbung"), so such text is left to the next
 * charset. */
static gboolean
looks_gb18030(const char *text, gsize len)
{
	const guchar *s = (const guchar *) text;
	gsize pairs = 0;
	gsize ascii_trail = 0;

	for (gsize i = 0; i < len; i++) {
		if (s[i] < 0x81 || s[i] == 0xff)
			continue;
		if (i + 1 >= len)
			return FALSE;
		pairs++;
		if (s[i + 1] >= '0' && s[i + 1] <= '9') {
			i += 3;		/* a four-byte sequence */
			continue;
		}
		if (s[i + 1] < 0x80)
			ascii_trail++;
		i++;
	}
	return ascii_trail * 4 <= pairs;
}

/* LEN bytes of TEXT converted from CHARSET, or NULL when iconv does not
 * know CHARSET or a byte does not fit it (owned). */
static char *
convert_strict(const char *text, gsize len, const char *charset)
{
	g_autoptr(GError) error = NULL;
	gsize written = 0;
	char *out = g_convert(text, (gssize) len, "UTF-8", charset, NULL,
			      &written, &error);

	if (out != NULL && memchr(out, '\0', written) != NULL)
		g_clear_pointer(&out, g_free);
	return out;
}

/* TRUE when CHARSET names GB18030 or one of its subsets. */
static gboolean
is_chinese_charset(const char *charset)
{
	return g_ascii_strcasecmp(charset, "gb18030") == 0 ||
	       g_ascii_strcasecmp(charset, "gbk") == 0 ||
	       g_ascii_strcasecmp(charset, "gb2312") == 0;
}

/*
 * LEN bytes of raw 8-bit TEXT that name no charset, as UTF-8 (owned):
 * the first of CHARSETS (NULL-ended) that reads every byte, GB18030
 * only when the text looks Chinese; else the last one, with U+FFFD for
 * what it cannot read.
 */
static char *
decode_8bit(const char **charsets, const char *text, gsize len)
{
	const char *last = "windows-1252";

	for (const char **c = charsets; *c != NULL; c++) {
		char *out;

		last = *c;
		if (is_chinese_charset(*c) && !looks_gb18030(text, len))
			continue;
		out = convert_strict(text, len, *c);
		if (out != NULL)
			return out;
	}
	{
		g_autofree char *copy = g_strndup(text, len);
		g_autofree char *lossy = g_convert_with_fallback(copy, -1,
			"UTF-8", last, "\xef\xbf\xbd", NULL, NULL, NULL);

		if (lossy != NULL)
			return g_steal_pointer(&lossy);
		return g_utf8_make_valid(copy, -1);
	}
}

/* The fallback charsets for raw 8-bit text in M (NULL-ended). */
static const char **
fallbacks(const MessagePrivate *m)
{
	GMimeParserOptions *options = m->part_options ? m->part_options
						      : m->options;

	return g_mime_parser_options_get_fallback_charsets(options);
}

/* LEN bytes of TEXT as UTF-8: as they are when valid, else decoded with
 * the fallback charsets of M; always valid UTF-8 (owned). */
static char *
utf8_of(const MessagePrivate *m, const char *text, gsize len)
{
	g_autofree char *decoded = NULL;

	if (g_utf8_validate(text, (gssize) len, NULL))
		return g_strndup(text, len);
	decoded = decode_8bit(fallbacks(m), text, len);
	return g_utf8_make_valid(decoded, -1);
}

/* A NUL-terminated TEXT made valid UTF-8, or NULL for NULL (owned). */
static char *
string_to_utf8(const MessagePrivate *m, const char *text)
{
	return text ? utf8_of(m, text, strlen(text)) : NULL;
}

/* LEN bytes of TEXT converted with CD, each invalid byte replaced by
 * U+FFFD and counted in *BAD (owned, *OUT_LEN bytes). */
static char *
convert_lossy(iconv_t cd, const char *text, gsize len, gsize *bad,
	      gsize *out_len)
{
	GString *out = g_string_sized_new(len * 2 + 16);
	char buf[4096];
	char *in = (char *) text;
	size_t in_left = len;

	*bad = 0;
	iconv(cd, NULL, NULL, NULL, NULL);
	while (in_left > 0) {
		char *o = buf;
		size_t o_left = sizeof(buf);
		size_t r = iconv(cd, &in, &in_left, &o, &o_left);

		g_string_append_len(out, buf, o - buf);
		if (r != (size_t) -1 || errno == E2BIG)
			continue;
		/* EILSEQ, or EINVAL for a sequence cut at the end. */
		g_string_append(out, "\xef\xbf\xbd");
		(*bad)++;
		in++;
		in_left--;
	}
	{
		char *o = buf;
		size_t o_left = sizeof(buf);

		iconv(cd, NULL, NULL, &o, &o_left);
		g_string_append_len(out, buf, o - buf);
	}
	*out_len = out->len;
	return g_string_free(out, FALSE);
}

/* The charset to convert declared CHARSET with: the superset that
 * mailers really mean by the name. */
static const char *
effective_charset(const char *charset)
{
	static const char *chinese[] = {
		"gb2312", "gbk", "x-gbk", "cp936", "euc-cn", "gb_2312-80",
		"csgb2312", "x-euc-cn", NULL
	};
	static const char *latin1[] = {
		"iso-8859-1", "iso8859-1", "latin1", "iso_8859-1", "l1",
		"cp819", NULL
	};

	for (const char **c = chinese; *c != NULL; c++)
		if (g_ascii_strcasecmp(charset, *c) == 0)
			return "GB18030";
	for (const char **c = latin1; *c != NULL; c++)
		if (g_ascii_strcasecmp(charset, *c) == 0)
			return "WINDOWS-1252";
	return charset;
}

/* TRUE for the charset labels that are often wrong: utf-8, us-ascii. */
static gboolean
is_weak_label(const char *charset)
{
	return g_ascii_strcasecmp(charset, "utf-8") == 0 ||
	       g_ascii_strcasecmp(charset, "utf8") == 0 ||
	       g_ascii_strcasecmp(charset, "us-ascii") == 0 ||
	       g_ascii_strcasecmp(charset, "ascii") == 0;
}

/* TRUE when CHARSET says UTF-8 and LEN bytes of TEXT are UTF-8 with a
 * few damaged bytes: more well-formed multibyte characters than bytes
 * that are not.  Text in a legacy charset labelled UTF-8 seldom forms
 * even one such character. */
static gboolean
is_damaged_utf8(const char *charset, const char *text, gsize len)
{
	const char *p = text;
	const char *end = text + len;
	gsize good = 0;
	gsize bad = 0;

	if (g_ascii_strcasecmp(charset, "utf-8") != 0 &&
	    g_ascii_strcasecmp(charset, "utf8") != 0)
		return FALSE;
	while (p < end) {
		const char *stop = end;
		gboolean valid = g_utf8_validate(p, end - p, &stop);

		for (; p < stop; p++)
			good += ((guchar) *p & 0xc0) == 0xc0;
		if (valid)
			break;
		bad++;
		p++;
	}
	return good > bad;
}

/* TRUE when CHARSET is ISO-2022-JP, or is missing and LEN bytes of
 * TEXT switch to JIS X 0208 the way ISO-2022-JP does. */
static gboolean
is_iso2022jp(const char *charset, const char *text, gsize len)
{
	if (charset != NULL && *charset != '\0')
		return g_ascii_strcasecmp(charset, "iso-2022-jp") == 0 ||
		       g_ascii_strcasecmp(charset, "csiso2022jp") == 0;
	return text != NULL && len > 0 && !has_8bit(text, len) &&
	       (g_strstr_len(text, (gssize) len, "\x1b$B") != NULL ||
		g_strstr_len(text, (gssize) len, "\x1b$@") != NULL);
}

/*
 * LEN bytes of ISO-2022-JP TEXT rewritten as EUC-JP (owned), to be read
 * as EUC-JP-MS: Japanese mailers put the NEC and IBM extensions
 * (circled digits, Roman numerals) in ISO-2022-JP, which glibc's
 * ISO-2022-JP refuses.  Each line starts in ASCII, as the standard
 * asks, so one missing escape spoils one line at most.
 */
static GByteArray *
iso2022jp_to_eucjp(const char *text, gsize len)
{
	GByteArray *out = g_byte_array_sized_new((guint) len);
	enum { ASCII, KANJI, KANA } mode = ASCII;

	for (gsize i = 0; i < len; i++) {
		guint8 c = (guint8) text[i];
		guint8 kana = 0x8e;

		if (c == 0x1b && i + 2 < len) {
			char a = text[i + 1], b = text[i + 2];

			if (a == '$' && (b == 'B' || b == '@'))
				mode = KANJI;
			else if (a == '(' && b == 'I')
				mode = KANA;
			else if (a == '(' && (b == 'B' || b == 'J'))
				mode = ASCII;
			else
				goto copy;
			i += 2;
			continue;
		}
		if (c == '\n')
			mode = ASCII;
		if (mode == KANJI && c > 0x20 && c < 0x7f) {
			c |= 0x80;
		} else if (mode == KANA && c > 0x20 && c < 0x60) {
			g_byte_array_append(out, &kana, 1);
			c |= 0x80;
		}
copy:
		g_byte_array_append(out, &c, 1);
	}
	return out;
}

/* LEN bytes of TEXT, labelled CHARSET (or NULL), as UTF-8 with LF line
 * ends (owned).  WHAT names the part in warnings. */
static char *
text_to_utf8(MessagePrivate *m, const char *text, gsize len,
	     const char *charset, const char *what)
{
	g_autofree char *converted = NULL;
	g_autofree char *normal = NULL;
	g_autoptr(GByteArray) euc = NULL;
	gsize converted_len = 0;
	/* Plain ASCII is valid UTF-8 too, but proves nothing. */
	gboolean valid = has_8bit(text, len) &&
			 g_utf8_validate(text, (gssize) len, NULL);

	if (is_iso2022jp(charset, text, len)) {
		euc = iso2022jp_to_eucjp(text, len);
		text = (const char *) euc->data;
		len = euc->len;
		charset = "EUC-JP-MS";
	}

	/* The declared charset, when iconv knows it and the text fits. */
	if (charset != NULL && *charset != '\0') {
		iconv_t cd = g_mime_iconv_open("UTF-8",
					       effective_charset(charset));
		gsize bad = 0;

		if (cd != (iconv_t) -1) {
			converted = convert_lossy(cd, text, len, &bad,
						  &converted_len);
			g_mime_iconv_close(cd);
			if (bad > 0 && valid) {
				add_warning(m, "%s: not %s but UTF-8", what,
					    charset);
				g_clear_pointer(&converted, g_free);
			} else if (bad > 0 && is_weak_label(charset) &&
				   !is_damaged_utf8(charset, text, len)) {
				g_clear_pointer(&converted, g_free);
			} else if (bad > 0) {
				add_warning(m, "%s: %" G_GSIZE_FORMAT
					    " bytes invalid in %s", what, bad,
					    charset);
			}
		} else {
			add_warning(m, "%s: unknown charset %s", what,
				    charset);
		}
	}

	/* Else UTF-8 when it is valid, else the fallback charsets. */
	/* (A copy, not g_strndup: a NUL byte must not end the text.) */
	if (converted == NULL && (!has_8bit(text, len) || valid)) {
		converted = g_malloc(len + 1);
		if (len > 0)
			memcpy(converted, text, len);
		converted[len] = '\0';
		converted_len = len;
	} else if (converted == NULL) {
		converted = decode_8bit(fallbacks(m), text, len);
		converted_len = strlen(converted);
		add_warning(m, "%s: charset %s, decoded with the fallback "
			    "charsets", what, charset ? charset : "missing");
	}
	normal = normalise_text(converted, converted_len);
	return g_utf8_make_valid(normal, -1);
}

/* The decoded content of PART, NULL when it cannot be read. */
static GByteArray *
part_bytes(GMimePart *part)
{
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	g_autoptr(GMimeStream) mem = g_mime_stream_mem_new();
	GByteArray *bytes;

	if (content != NULL &&
	    g_mime_data_wrapper_write_to_stream(content, mem) < 0)
		return NULL;
	g_mime_stream_flush(mem);
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	return bytes;
}

/* The text of a text part, as UTF-8 with LF line ends (owned). */
static char *
part_text(MessagePrivate *m, GMimePart *part)
{
	GMimeContentType *type =
		g_mime_object_get_content_type(GMIME_OBJECT(part));
	const char *charset =
		g_mime_content_type_get_parameter(type, "charset");
	g_autoptr(GByteArray) bytes = part_bytes(part);
	g_autofree char *mime_type = g_mime_content_type_get_mime_type(type);

	if (bytes == NULL) {
		add_warning(m, "%s part: cannot be read", mime_type);
		return g_strdup("");
	}
	return text_to_utf8(m, (const char *) bytes->data, bytes->len,
			    charset, mime_type);
}

/* TRUE when LEN bytes of TEXT are only white space (or NUL). */
static gboolean
is_blank(const char *text, gsize len)
{
	for (gsize i = 0; i < len; i++)
		if (!g_ascii_isspace(text[i]) && text[i] != '\0')
			return FALSE;
	return TRUE;
}

/* TEXT without leading blank lines and trailing white space. */
static char *
trim_text(char *text)
{
	char *start = text;
	char *end;

	/* Leading empty lines go; indentation of the first line stays. */
	for (char *p = text; *p == ' ' || *p == '\t' || *p == '\n'; p++)
		if (*p == '\n')
			start = p + 1;
	memmove(text, start, strlen(start) + 1);
	end = text + strlen(text);
	while (end > text && g_ascii_isspace(end[-1]))
		end--;
	*end = '\0';
	return text;
}

/* The raw value of PARAM in the raw header value RAW, or NULL. */
static char *
raw_parameter(const char *raw, const char *param)
{
	gsize plen = strlen(param);
	const char *p = strchr(raw, ';');

	while (p != NULL) {
		const char *value;
		GString *out;

		p++;
		while (g_ascii_isspace(*p))
			p++;
		if (g_ascii_strncasecmp(p, param, plen) != 0) {
			p = strchr(p, ';');
			continue;
		}
		value = p + plen;
		while (g_ascii_isspace(*value))
			value++;
		if (*value != '=') {
			p = strchr(p, ';');
			continue;
		}
		value++;
		while (g_ascii_isspace(*value))
			value++;
		out = g_string_new(NULL);
		if (*value == '"') {
			for (value++; *value != '\0' && *value != '"';
			     value++) {
				if (*value == '\\' && value[1] != '\0')
					value++;
				if (*value != '\r' && *value != '\n')
					g_string_append_c(out, *value);
			}
		} else {
			while (*value != '\0' && *value != ';' &&
			       !g_ascii_isspace(*value))
				g_string_append_c(out, *value++);
		}
		return g_string_free(out, FALSE);
	}
	return NULL;
}

/* A file name given as raw 8-bit bytes in header NAME's parameter
 * PARAM of OBJECT, decoded with the fallback charsets, or NULL. */
static char *
raw_8bit_name(MessagePrivate *m, GMimeObject *object, const char *name,
	      const char *param)
{
	GMimeHeaderList *headers = g_mime_object_get_header_list(object);
	GMimeHeader *header = g_mime_header_list_get_header(headers, name);
	const char *raw;
	g_autofree char *value = NULL;

	if (header == NULL)
		return NULL;
	raw = g_mime_header_get_raw_value(header);
	if (raw == NULL || !has_8bit(raw, strlen(raw)))
		return NULL;
	value = raw_parameter(raw, param);
	if (value == NULL || !has_8bit(value, strlen(value)))
		return NULL;
	return utf8_of(m, value, strlen(value));
}

/* The file name extension usual for MIME_TYPE, without the dot. */
static const char *
type_extension(const char *mime_type)
{
	static const struct {
		const char *type;
		const char *extension;
	} table[] = {
		{ "image/png", "png" }, { "image/jpeg", "jpg" },
		{ "image/jpg", "jpg" }, { "image/pjpeg", "jpg" },
		{ "image/gif", "gif" }, { "image/bmp", "bmp" },
		{ "image/webp", "webp" }, { "image/tiff", "tif" },
		{ "image/svg+xml", "svg" }, { "image/heic", "heic" },
		{ "application/pdf", "pdf" },
		{ "application/zip", "zip" },
		{ "application/x-zip-compressed", "zip" },
		{ "application/gzip", "gz" }, { "application/x-gzip", "gz" },
		{ "application/x-tar", "tar" },
		{ "application/x-7z-compressed", "7z" },
		{ "application/x-rar-compressed", "rar" },
		{ "application/vnd.rar", "rar" },
		{ "application/msword", "doc" },
		{ "application/vnd.ms-excel", "xls" },
		{ "application/vnd.ms-powerpoint", "ppt" },
		{ "application/vnd.openxmlformats-officedocument."
		  "wordprocessingml.document", "docx" },
		{ "application/vnd.openxmlformats-officedocument."
		  "spreadsheetml.sheet", "xlsx" },
		{ "application/vnd.openxmlformats-officedocument."
		  "presentationml.presentation", "pptx" },
		{ "application/json", "json" }, { "application/xml", "xml" },
		{ "application/ms-tnef", "dat" },
		{ "application/vnd.ms-tnef", "dat" },
		{ "application/pkcs7-mime", "p7m" },
		{ "application/x-pkcs7-mime", "p7m" },
		{ "application/pgp-encrypted", "pgp" },
		{ "application/ics", "ics" },
		{ "text/plain", "txt" }, { "text/html", "html" },
		{ "text/csv", "csv" }, { "text/xml", "xml" },
		{ "text/calendar", "ics" }, { "text/vcard", "vcf" },
		{ "text/x-vcard", "vcf" }, { "text/rfc822-headers", "txt" },
		{ "message/rfc822", "eml" }, { "message/global", "eml" },
		{ "message/delivery-status", "txt" },
		{ "message/disposition-notification", "txt" },
		{ "audio/mpeg", "mp3" }, { "audio/wav", "wav" },
		{ "video/mp4", "mp4" }, { "video/quicktime", "mov" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(table); i++)
		if (g_ascii_strcasecmp(mime_type, table[i].type) == 0)
			return table[i].extension;
	if (g_ascii_strncasecmp(mime_type, "text/", 5) == 0)
		return "txt";
	return "bin";
}

/* A word for what a part of MIME_TYPE holds, for its made-up name. */
static const char *
type_stem(const char *mime_type)
{
	static const struct {
		const char *prefix;
		const char *stem;
	} table[] = {
		{ "image/", "image" }, { "video/", "video" },
		{ "audio/", "audio" }, { "text/html", "document" },
		{ "text/calendar", "invitation" },
		{ "message/delivery-status", "delivery-status" },
		{ "message/disposition-notification", "read-receipt" },
		{ "text/rfc822-headers", "headers" },
		{ "message/", "message" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(table); i++)
		if (g_ascii_strncasecmp(mime_type, table[i].prefix,
					strlen(table[i].prefix)) == 0)
			return table[i].stem;
	return "attachment";
}

/* The Content-Description of OBJECT when it reads as a title (one
 * line, at most 80 characters), else NULL (owned). */
static char *
description_title(const MessagePrivate *m, GMimeObject *object)
{
	const char *value = g_mime_object_get_header(object,
						     "Content-Description");
	g_autofree char *text = NULL;

	if (value == NULL)
		return NULL;
	text = g_strstrip(string_to_utf8(m, value));
	if (*text == '\0' || g_utf8_strlen(text, -1) > 80 ||
	    strpbrk(text, "\r\n\t") != NULL)
		return NULL;
	return g_steal_pointer(&text);
}

/* NAME (taken, may be NULL) with each run of control characters (the
 * tabs and line breaks a folded subject or parameter leaves), and the
 * spaces around it, made one space; other spaces are kept as the sender
 * wrote them.  NULL when nothing is left (owned). */
static char *
one_line_name(char *name)
{
	GString *out;
	gboolean folded = FALSE;

	if (name == NULL)
		return NULL;
	out = g_string_new(NULL);
	for (const char *p = name; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (g_unichar_iscntrl(c)) {
			/* Spaces just before the fold go with it. */
			while (out->len > 0 && out->str[out->len - 1] == ' ')
				g_string_truncate(out, out->len - 1);
			folded = TRUE;
			continue;
		}
		if (folded && c == ' ')
			continue;
		if (folded && out->len > 0)
			g_string_append_c(out, ' ');
		folded = FALSE;
		g_string_append_unichar(out, c);
	}
	g_free(name);
	g_strstrip(out->str);
	if (out->str[0] == '\0') {
		g_string_free(out, TRUE);
		return NULL;
	}
	return g_string_free(out, FALSE);
}

/* A name for OBJECT of MIME_TYPE that has no file name (owned): its
 * description ("Delivery report.txt"), else a word for its type
 * ("image.png"), with the usual extension. */
static char *
made_up_name(const MessagePrivate *m, GMimeObject *object,
	     const char *mime_type)
{
	g_autofree char *title =
		object ? one_line_name(description_title(m, object)) : NULL;

	return g_strdup_printf("%s.%s", title ? title : type_stem(mime_type),
			       type_extension(mime_type));
}

/* The local part of content ID ID when it is a file name, as Outlook
 * makes them ("image001.png@01DAB5C1.6A2E3F40"), else NULL (owned). */
static char *
name_from_content_id(const char *id)
{
	const char *at;
	const char *dot;
	gboolean letter = FALSE;

	if (id == NULL || (at = strchr(id, '@')) == NULL || at == id)
		return NULL;
	dot = g_strrstr_len(id, at - id, ".");
	if (dot == NULL || dot == id || at - dot < 2 || at - dot > 6)
		return NULL;
	for (const char *p = dot + 1; p < at; p++) {
		if (!g_ascii_isalnum(*p))
			return NULL;
		letter |= g_ascii_isalpha(*p);
	}
	for (const char *p = id; p < dot; p++)
		if (*p == '/' || *p == '\\' || (guchar) *p < 0x20)
			return NULL;
	return letter ? g_strndup(id, at - id) : NULL;
}

/* The decoded file name of PART, or NULL when it has none (owned). */
static char *
part_file_name(MessagePrivate *m, GMimePart *part)
{
	GMimeObject *object = GMIME_OBJECT(part);
	char *name;

	/* Raw 8-bit names: GMime would read them in the locale. */
	name = raw_8bit_name(m, object, "Content-Disposition", "filename");
	if (name == NULL)
		name = raw_8bit_name(m, object, "Content-Type", "name");
	if (name == NULL)
		name = string_to_utf8(m, g_mime_part_get_filename(part));
	if (name != NULL && *g_strstrip(name) == '\0')
		g_clear_pointer(&name, g_free);
	return name;
}

/* TRUE when the line ends of OBJECT's content belong to the transport
 * (CRLF on the wire, LF on disk), so that the file is saved with LF
 * line ends, as a mail program saves it: text and attached messages not
 * in base64, and other content in 7bit or 8bit.  Quoted-printable
 * content that is not text decodes a line break to the CRLF it stands
 * for (RFC 2045 6.7); base64, binary and uuencode are kept as they
 * decode. */
static gboolean
has_transport_line_ends(GMimeObject *object)
{
	GMimeContentType *type = g_mime_object_get_content_type(object);
	GMimeContentEncoding encoding;

	if (!GMIME_IS_PART(object))
		return FALSE;
	encoding = g_mime_part_get_content_encoding(GMIME_PART(object));
	if (g_mime_content_type_is_type(type, "text", "*") ||
	    g_mime_content_type_is_type(type, "message", "*"))
		return encoding != GMIME_CONTENT_ENCODING_BASE64;
	return encoding == GMIME_CONTENT_ENCODING_DEFAULT ||
	       encoding == GMIME_CONTENT_ENCODING_7BIT ||
	       encoding == GMIME_CONTENT_ENCODING_8BIT;
}

/* Write the file OBJECT holds to OUT: the decoded content of a part,
 * the message of an attached message.  -1 when it cannot be read. */
static ssize_t
write_object(GMimeObject *object, GMimeStream *out)
{
	g_autoptr(GMimeStream) filtered = g_mime_stream_filter_new(out);
	ssize_t n = 0;

	if (has_transport_line_ends(object)) {
		GMimeFilter *lf = g_mime_filter_dos2unix_new(FALSE);

		g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), lf);
		g_object_unref(lf);
	}
	if (GMIME_IS_MESSAGE_PART(object)) {
		GMimeMessage *inner = g_mime_message_part_get_message(
			GMIME_MESSAGE_PART(object));

		if (inner != NULL)
			n = g_mime_object_write_to_stream(GMIME_OBJECT(inner),
							  NULL, filtered);
	} else if (GMIME_IS_PART(object)) {
		GMimeDataWrapper *content =
			g_mime_part_get_content(GMIME_PART(object));

		if (content != NULL)
			n = g_mime_data_wrapper_write_to_stream(content,
								filtered);
	}
	if (n >= 0 && g_mime_stream_flush(filtered) < 0)
		n = -1;
	return n;
}

/* The number of bytes of the file OBJECT holds. */
static gsize
object_size(MessagePrivate *m, GMimeObject *object)
{
	g_autoptr(GMimeStream) null = g_mime_stream_null_new();

	if (write_object(object, null) < 0) {
		add_warning(m, "an attachment cannot be read");
		return 0;
	}
	return GMIME_STREAM_NULL(null)->written;
}

/* The content ID of OBJECT without <>, or NULL (owned). */
static char *
content_id(const MessagePrivate *m, GMimeObject *object)
{
	const char *id = g_mime_object_get_content_id(object);
	g_autofree char *copy = NULL;

	if (id == NULL)
		return NULL;
	copy = g_strstrip(g_strdup(id));
	if (*copy == '<') {
		gsize len = strlen(copy);

		memmove(copy, copy + 1, len);
		if (len > 1 && copy[len - 2] == '>')
			copy[len - 2] = '\0';
	}
	return *copy ? string_to_utf8(m, copy) : NULL;
}

/* The name of the attached message OBJECT: its subject, as mail
 * programs save it, or NULL (owned). */
static char *
message_file_name(MessagePrivate *m, GMimeObject *object)
{
	GMimeMessage *inner = g_mime_message_part_get_message(
		GMIME_MESSAGE_PART(object));
	const char *subject = inner ? g_mime_message_get_subject(inner)
				    : NULL;
	const char *filename = g_mime_object_get_content_disposition_parameter(
		object, "filename");
	g_autofree char *clean = string_to_utf8(m, filename ? filename
							    : subject);

	if (clean == NULL || *g_strstrip(clean) == '\0')
		return NULL;
	if (filename != NULL)
		return g_steal_pointer(&clean);
	return g_strconcat(clean, ".eml", NULL);
}

/* MIME_TYPE in lower case; application/octet-stream when it is not
 * printable ASCII, as a MIME type always is (owned). */
static char *
clean_mime_type(const char *mime_type)
{
	for (const char *p = mime_type; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return g_strdup("application/octet-stream");
	return g_ascii_strdown(mime_type, -1);
}

/* Record a file the parser made (uudecoded, from winmail.dat): NAME,
 * MIME_TYPE and DATA (taken). */
static void
add_made_attachment(MessagePrivate *m, const char *name,
		    const char *mime_type, GBytes *data)
{
	MessageAttachment *a = g_new0(MessageAttachment, 1);

	a->content_type = g_strdup(mime_type);
	a->is_inline = FALSE;
	a->data = data;
	a->size = g_bytes_get_size(data);
	a->name = name ? one_line_name(utf8_of(m, name, strlen(name)))
		       : NULL;
	if (a->name == NULL)
		a->name = made_up_name(m, NULL, mime_type);
	g_ptr_array_add(m->pub.attachments, a);
}

/* The content of PART in x-uuencode transfer encoding when GMime read
 * none, as mailers send it without the "begin" line; NULL otherwise. */
static GBytes *
bare_uuencode(GMimePart *part)
{
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	g_autoptr(GMimeStream) mem = g_mime_stream_mem_new();
	GByteArray *raw;
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	guint n;

	if (content == NULL || g_mime_part_get_content_encoding(part) !=
	    GMIME_CONTENT_ENCODING_UUENCODE)
		return NULL;
	g_mime_stream_write_to_stream(g_mime_data_wrapper_get_stream(content),
				      mem);
	g_mime_stream_reset(g_mime_data_wrapper_get_stream(content));
	raw = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	text = g_strndup((const char *) raw->data, raw->len);
	lines = g_strsplit(text, "\n", -1);
	for (n = 0; lines[n] != NULL; n++)
		if (strcmp(g_strchomp(lines[n]), "end") == 0 ||
		    g_str_has_prefix(lines[n], "begin "))
			return NULL;	/* GMime's own decoder had it */
	return uudecode(lines);
}

/* Record OBJECT (a leaf part or an attached message) as attachment. */
static void
add_attachment(MessagePrivate *m, GMimeObject *object)
{
	MessageAttachment *a = g_new0(MessageAttachment, 1);
	GMimeContentType *type = g_mime_object_get_content_type(object);
	g_autofree char *mime_type = g_mime_content_type_get_mime_type(type);
	const char *disposition = g_mime_object_get_disposition(object);

	a->content_type = clean_mime_type(mime_type);
	a->content_id = content_id(m, object);
	a->is_inline = disposition == NULL ||
		       g_ascii_strcasecmp(disposition, "inline") == 0;
	a->part = g_object_ref(object);
	a->size = object_size(m, object);
	if (a->size == 0 && GMIME_IS_PART(object)) {
		a->data = bare_uuencode(GMIME_PART(object));
		a->size = a->data ? g_bytes_get_size(a->data) : 0;
	}

	if (GMIME_IS_MESSAGE_PART(object))
		a->name = one_line_name(message_file_name(m, object));
	else
		a->name = one_line_name(part_file_name(m, GMIME_PART(object)));
	if (a->name == NULL)
		a->name = name_from_content_id(a->content_id);
	if (a->name == NULL)
		a->name = made_up_name(m, object, a->content_type);
	g_ptr_array_add(m->pub.attachments, a);
}

/* TRUE when the attached message OBJECT holds nothing at all: no
 * header, and nothing but line breaks after them. */
static gboolean
is_empty_message(GMimeObject *object)
{
	GMimeMessage *inner = g_mime_message_part_get_message(
		GMIME_MESSAGE_PART(object));
	g_autoptr(GMimeStream) copy = NULL;
	GByteArray *bytes;

	if (inner == NULL)
		return TRUE;
	if (g_mime_header_list_get_count(g_mime_object_get_header_list(
		    GMIME_OBJECT(inner))) > 0)
		return FALSE;
	copy = g_mime_stream_mem_new();
	g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, copy);
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(copy));
	for (guint i = 0; i < bytes->len; i++)
		if (bytes->data[i] != '\r' && bytes->data[i] != '\n')
			return FALSE;
	return TRUE;
}

/* Where the attached message OBJECT starts in the raw mail: the offset
 * of its first header, or -1 when unknown. */
static gint64
message_start(GMimeObject *object)
{
	GMimeMessage *inner = g_mime_message_part_get_message(
		GMIME_MESSAGE_PART(object));
	GMimeHeaderList *headers;

	if (inner == NULL)
		return -1;
	headers = g_mime_object_get_header_list(GMIME_OBJECT(inner));
	if (g_mime_header_list_get_count(headers) == 0)
		return -1;
	return g_mime_header_get_offset(
		g_mime_header_list_get_header_at(headers, 0));
}

/* The first "\n--BOUNDARY" in the LEN bytes of DATA, or LEN. */
static gsize
boundary_at(const guint8 *data, gsize len, const char *boundary)
{
	g_autofree char *delimiter = g_strconcat("\n--", boundary, NULL);
	const guint8 *found = memmem(data, len, delimiter, strlen(delimiter));

	return found ? (gsize) (found - data) : len;
}

/* LEN bytes of DATA with every CRLF made LF, and no CR left at the end
 * (it belongs to the line break before a boundary). */
static GBytes *
lf_bytes(const guint8 *data, gsize len)
{
	guint8 *out = g_malloc(len + 1);
	gsize n = 0;

	for (gsize i = 0; i < len; i++)
		if (data[i] != '\r' || (i + 1 < len && data[i + 1] != '\n'))
			out[n++] = data[i];
	return g_bytes_new_take(out, n);
}

/*
 * The attached message OBJECT as it stands in the mail, with LF line
 * ends as the mail server hands mail over, so that its headers and
 * signatures survive unchanged; NULL when it cannot be found (GMime
 * then writes it out again).  It ends where the BOUNDARY of its
 * multipart begins (NULL: at the end of the mail); the line break
 * before a boundary belongs to the boundary (RFC 2046).
 */
static GBytes *
raw_message(MessagePrivate *m, GMimeObject *object, const char *boundary)
{
	const char *encoding = g_mime_object_get_header(object,
		"Content-Transfer-Encoding");
	gint64 start = message_start(object);
	g_autoptr(GMimeStream) rest = NULL;
	g_autoptr(GMimeStream) copy = NULL;
	GByteArray *bytes;
	gsize len;

	if (is_empty_message(object))
		return g_bytes_new(NULL, 0);
	/* Encoded messages (not allowed, but sent) are left to GMime. */
	if (start < 0 || m->raw == NULL ||
	    (encoding != NULL && (strstr(encoding, "base64") ||
				  strstr(encoding, "quoted"))))
		return NULL;

	rest = g_mime_stream_substream(m->raw, start, -1);
	copy = g_mime_stream_mem_new();
	if (g_mime_stream_write_to_stream(rest, copy) < 0)
		return NULL;
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(copy));
	len = bytes->len;
	if (boundary != NULL)
		len = boundary_at(bytes->data, len, boundary);
	return lf_bytes(bytes->data, len);
}

/* Add the attached message OBJECT, found inside BOUNDARY (or NULL), as
 * a file. */
static void
add_message_file(MessagePrivate *m, GMimeObject *object,
		 const char *boundary)
{
	GBytes *raw = raw_message(m, object, boundary);
	MessageAttachment *a;

	add_attachment(m, object);
	if (raw == NULL)
		return;
	a = g_ptr_array_index(m->pub.attachments,
			      m->pub.attachments->len - 1);
	g_clear_pointer(&a->data, g_bytes_unref);
	a->data = raw;
	a->size = g_bytes_get_size(raw);
}

/* TRUE for the signature part of multipart/signed. */
static gboolean
is_signature(GMimeContentType *type)
{
	static const char *types[] = {
		"application/pkcs7-signature",
		"application/x-pkcs7-signature",
		"application/pgp-signature",
		NULL
	};
	g_autofree char *mime_type = g_mime_content_type_get_mime_type(type);

	for (const char **t = types; *t != NULL; t++)
		if (g_ascii_strcasecmp(mime_type, *t) == 0)
			return TRUE;
	return FALSE;
}

/* TRUE when OBJECT carries a file name or an attachment disposition. */
static gboolean
is_file(GMimeObject *object)
{
	const char *disposition = g_mime_object_get_disposition(object);

	if (disposition != NULL &&
	    g_ascii_strcasecmp(disposition, "attachment") == 0)
		return TRUE;
	return GMIME_IS_PART(object) &&
	       g_mime_part_get_filename(GMIME_PART(object)) != NULL;
}

/* TRUE when OBJECT is a text/plain or text/html part meant as body. */
static gboolean
is_body_text(GMimeObject *object, const char *subtype)
{
	GMimeContentType *type = g_mime_object_get_content_type(object);

	return GMIME_IS_PART(object) && !is_file(object) &&
	       g_mime_content_type_is_type(type, "text", subtype);
}

/* Append to OUT the bytes of one uuencoded LINE; FALSE when it is not
 * uuencode.  A line starts with its byte count, then four characters
 * for every three bytes. */
static gboolean
uudecode_line(const char *line, gsize len, GByteArray *out)
{
	guint count;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return TRUE;
	count = (guint) (line[0] - 0x20) & 0x3f;
	if (count > 0 && len < 2)
		return FALSE;
	for (gsize i = 1; i < len; i++)
		if (line[i] < 0x20 || line[i] > 0x60)
			return FALSE;
	for (guint done = 0, i = 1; done < count; i += 4) {
		guint8 c[4];
		guint8 bytes[3];

		for (int k = 0; k < 4; k++)
			c[k] = i + k < len ? (line[i + k] - 0x20) & 0x3f : 0;
		bytes[0] = (guint8) (c[0] << 2 | c[1] >> 4);
		bytes[1] = (guint8) (c[1] << 4 | c[2] >> 2);
		bytes[2] = (guint8) (c[2] << 6 | c[3]);
		g_byte_array_append(out, bytes, MIN(3, count - done));
		done += MIN(3, count - done);
	}
	return TRUE;
}

/* The bytes of the uuencoded LINES (from the line after "begin" to the
 * one before "end"), or NULL when one is not uuencode. */
static GBytes *
uudecode(char **lines)
{
	GByteArray *out = g_byte_array_new();

	for (char **l = lines; *l != NULL; l++) {
		if (!uudecode_line(*l, strlen(*l), out)) {
			g_byte_array_unref(out);
			return NULL;
		}
	}
	return g_byte_array_free_to_bytes(out);
}

/* The MIME type usual for file NAME, by its extension. */
static const char *
type_of_name(const char *name)
{
	static const char *types[] = {
		"image/png", "image/jpeg", "image/gif", "application/pdf",
		"application/zip", "text/csv", "text/plain", "text/html",
		"application/msword", "application/vnd.ms-excel",
		"application/json", "application/xml",
	};
	const char *dot = strrchr(name, '.');

	for (gsize i = 0; dot != NULL && i < G_N_ELEMENTS(types); i++)
		if (g_ascii_strcasecmp(dot + 1, type_extension(types[i])) == 0)
			return types[i];
	return "application/octet-stream";
}

/* TEXT with every "begin MODE NAME" ... "end" block of uuencode taken
 * out and made an attachment (owned).  Old mailers and scripts still
 * send files this way inside a plain text part. */
static char *
extract_uuencoded(MessagePrivate *m, const char *text)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	GString *out = g_string_new(NULL);

	for (guint i = 0; lines[i] != NULL; i++) {
		guint end = i + 1;
		char mode[8];
		int name_at = 0;

		if (sscanf(lines[i], "begin %7[0-7] %n", mode, &name_at) != 1 ||
		    name_at == 0 || lines[i][name_at] == '\0') {
			g_string_append_printf(out, "%s%s", lines[i],
					       lines[i + 1] ? "\n" : "");
			continue;
		}
		while (lines[end] != NULL &&
		       strcmp(g_strchomp(lines[end]), "end") != 0)
			end++;
		if (lines[end] != NULL) {
			char *saved = lines[end];
			GBytes *data;

			lines[end] = NULL;
			data = uudecode(lines + i + 1);
			lines[end] = saved;
			if (data != NULL) {
				const char *name = g_strstrip(lines[i] +
							      name_at);

				add_made_attachment(m, name, type_of_name(name),
						    data);
				i = end;
				continue;
			}
		}
		g_string_append_printf(out, "%s%s", lines[i],
				       lines[i + 1] ? "\n" : "");
	}
	return g_string_free(out, FALSE);
}

/* Body text from the leaf PART: the text itself, or HTML as text. */
static void
add_text(Walk *walk, GMimePart *part)
{
	MessagePrivate *m = walk->message;
	GMimeContentType *type =
		g_mime_object_get_content_type(GMIME_OBJECT(part));
	g_autofree char *text = part_text(m, part);

	if (g_mime_content_type_is_type(type, "text", "html")) {
		char *plain = html_to_text(text, strlen(text));

		g_free(text);
		text = plain;
		m->pub.body_from_html = TRUE;
	} else if (strstr(text, "begin ") != NULL) {
		char *rest = extract_uuencoded(m, text);

		g_free(text);
		text = rest;
	}
	trim_text(text);
	if (*text != '\0')
		g_ptr_array_add(walk->texts, g_steal_pointer(&text));
}

/* The number of characters other than white space that LEN bytes of
 * TEXT show, as HTML when IS_HTML. */
static glong
visible_chars(const char *text, gsize len, gboolean is_html)
{
	g_autofree char *valid = NULL;
	g_autofree char *plain = NULL;
	glong n = 0;

	if (text == NULL || len == 0)	/* an empty part has no data */
		return 0;
	valid = g_utf8_make_valid(text, (gssize) len);
	plain = is_html ? html_to_text(valid, strlen(valid)) : NULL;

	for (const char *p = plain ? plain : valid; *p != '\0';
	     p = g_utf8_next_char(p))
		n += !g_unichar_isspace(g_utf8_get_char(p));
	return n;
}

/* TRUE when the text alternative PLAIN stands in for the HTML one RICH
 * rather than saying the same: blank, or a short line ("view this
 * mail in a browser") under a fifth of what the HTML shows. */
static gboolean
is_stub(GMimeObject *plain, GMimeObject *rich)
{
	g_autoptr(GByteArray) text = part_bytes(GMIME_PART(plain));
	g_autoptr(GByteArray) html = NULL;
	glong shown;

	if (text == NULL || is_blank((const char *) text->data, text->len))
		return TRUE;
	if (!GMIME_IS_PART(rich))
		return FALSE;
	shown = visible_chars((const char *) text->data, text->len, FALSE);
	if (shown >= 500)
		return FALSE;
	html = part_bytes(GMIME_PART(rich));
	return html != NULL &&
	       shown * 5 < visible_chars((const char *) html->data,
					 html->len, TRUE);
}

/* The alternative of MULTIPART that gives the body: text/plain unless
 * it is a stub (see is_stub), else the HTML one (or the richest
 * container). */
static GMimeObject *
choose_alternative(GMimeMultipart *multipart)
{
	int count = g_mime_multipart_get_count(multipart);
	GMimeObject *plain = NULL;
	GMimeObject *rich = NULL;

	for (int i = 0; i < count; i++) {
		GMimeObject *child = g_mime_multipart_get_part(multipart, i);

		if (plain == NULL && is_body_text(child, "plain"))
			plain = child;
		else if (is_body_text(child, "html") ||
			 GMIME_IS_MULTIPART(child))
			rich = child;
	}
	if (plain != NULL && rich != NULL && is_stub(plain, rich))
		return rich;
	if (plain != NULL)
		return plain;
	if (rich != NULL)
		return rich;
	return count > 0 ? g_mime_multipart_get_part(multipart, 0) : NULL;
}

/* The root of multipart/related MULTIPART: the part its "start"
 * parameter names, else the first. */
static GMimeObject *
related_root(GMimeMultipart *multipart)
{
	GMimeContentType *type =
		g_mime_object_get_content_type(GMIME_OBJECT(multipart));
	const char *start = g_mime_content_type_get_parameter(type, "start");
	int count = g_mime_multipart_get_count(multipart);
	g_autofree char *id = start ? g_strndup(start + (*start == '<'),
		strcspn(start + (*start == '<'), ">")) : NULL;

	for (int i = 0; id != NULL && i < count; i++) {
		GMimeObject *child = g_mime_multipart_get_part(multipart, i);
		const char *cid = g_mime_object_get_content_id(child);

		if (cid != NULL && strcmp(cid, id) == 0)
			return child;
	}
	return count > 0 ? g_mime_multipart_get_part(multipart, 0) : NULL;
}

/* Walk the children of MULTIPART. */
static void
walk_children(Walk *walk, GMimeMultipart *multipart, WalkMode mode,
	      guint depth)
{
	GMimeObject *object = GMIME_OBJECT(multipart);
	GMimeContentType *type = g_mime_object_get_content_type(object);
	int count = g_mime_multipart_get_count(multipart);
	GMimeObject *body = NULL;
	gboolean signed_part;
	gboolean report;

	/* Alternatives: one gives the body; the images of the others
	 * (an HTML part's related pictures) are still attachments.  In
	 * related parts the root is the body, the others are what it
	 * shows: pictures, and sometimes more HTML, which is a file. */
	if (g_mime_content_type_is_type(type, "multipart", "alternative"))
		body = mode == WALK_ALL ? choose_alternative(multipart) : NULL;
	else if (g_mime_content_type_is_type(type, "multipart", "related"))
		body = related_root(multipart);
	if (body != NULL || g_mime_content_type_is_type(type, "multipart",
							"alternative")) {
		for (int i = 0; i < count; i++) {
			GMimeObject *child =
				g_mime_multipart_get_part(multipart, i);

			if (child == body)
				walk_object(walk, child, mode, depth + 1);
			else if (GMIME_IS_PART(child) &&
				 g_mime_content_type_is_type(type,
					"multipart", "related"))
				add_attachment(walk->message, child);
			else
				walk_object(walk, child, WALK_ATTACHMENTS,
					    depth + 1);
		}
		return;
	}

	/* Signed, mixed, report, anything else: every child in order,
	 * except the signature of a signed part; the message a report
	 * returns is a file, not a forwarded text. */
	signed_part = g_mime_content_type_is_type(type, "multipart",
						  "signed");
	report = g_mime_content_type_is_type(type, "multipart", "report");
	for (int i = 0; i < count; i++) {
		GMimeObject *child = g_mime_multipart_get_part(multipart, i);

		if (signed_part && is_signature(
			    g_mime_object_get_content_type(child)))
			continue;
		if (report && GMIME_IS_MESSAGE_PART(child))
			add_message_file(walk->message, child,
					 walk->boundary);
		else
			walk_object(walk, child, mode, depth + 1);
	}
}

/* Walk the children of MULTIPART, knowing its boundary. */
static void
walk_multipart(Walk *walk, GMimeMultipart *multipart, WalkMode mode,
	       guint depth)
{
	const char *outer = walk->boundary;

	walk->boundary = g_mime_multipart_get_boundary(multipart);
	walk_children(walk, multipart, mode, depth);
	walk->boundary = outer;
}

/* TRUE when the attached message OBJECT is meant as a file: it has an
 * attachment disposition ("forward as attachment" writes one). */
static gboolean
is_message_file(GMimeObject *object)
{
	const char *disposition = g_mime_object_get_disposition(object);

	return disposition != NULL &&
	       g_ascii_strcasecmp(disposition, "attachment") == 0;
}

/* The header block put before a forwarded message's text (owned). */
static char *
forward_header(MessagePrivate *m, GMimeMessage *inner)
{
	InternetAddressList *from = g_mime_message_get_from(inner);
	g_autofree char *who = from ? internet_address_list_to_string(from,
		NULL, FALSE) : NULL;
	const char *date = g_mime_object_get_header(GMIME_OBJECT(inner),
						    "Date");
	const char *subject = g_mime_message_get_subject(inner);
	g_autofree char *who8 = string_to_utf8(m, who);
	g_autofree char *date8 = string_to_utf8(m, date);
	g_autofree char *subject8 = string_to_utf8(m, subject);

	return g_strdup_printf("---------- Forwarded message ----------\n"
			       "From: %s\nDate: %s\nSubject: %s",
			       who8 ? g_strstrip(who8) : "",
			       date8 ? g_strstrip(date8) : "",
			       subject8 ? g_strstrip(subject8) : "");
}

/* Unwrap the forwarded message OBJECT: its text joins the body under a
 * header block, its files are attachments. */
static void
walk_forwarded(Walk *walk, GMimeObject *object, WalkMode mode,
	       guint depth)
{
	GMimeMessage *inner = g_mime_message_part_get_message(
		GMIME_MESSAGE_PART(object));
	GMimeObject *top = inner ? g_mime_message_get_mime_part(inner) : NULL;

	if (inner == NULL)
		return;
	if (mode == WALK_ALL)
		g_ptr_array_add(walk->texts,
				forward_header(walk->message, inner));
	if (top != NULL)
		walk_object(walk, top, mode, depth + 1);
}

#ifdef HAVE_YTNEF
/* The string of MAPI property ID in PROPS, as UTF-8, or NULL (owned):
 * Unicode (UTF-16LE) when stored so, else in the fallback charsets. */
static char *
tnef_string(MessagePrivate *m, MAPIProps *props, unsigned int id)
{
	variableLength *v = MAPIFindProperty(props, PROP_TAG(PT_UNICODE, id));

	if (v != MAPI_UNDEFINED && v->size > 1) {
		char *s = g_convert((const char *) v->data, v->size & ~1,
				    "UTF-8", "UTF-16LE", NULL, NULL, NULL);

		if (s != NULL)
			return s;
	}
	v = MAPIFindProperty(props, PROP_TAG(PT_STRING8, id));
	if (v != MAPI_UNDEFINED && v->size > 0)
		return utf8_of(m, (const char *) v->data,
			       strnlen((const char *) v->data, v->size));
	return NULL;
}

/* The files of the TNEF message TNEF as attachments. */
static void
add_tnef_files(MessagePrivate *m, TNEFStruct *tnef)
{
	for (Attachment *a = tnef->starting_attach.next; a != NULL;
	     a = a->next) {
		g_autofree char *name = tnef_string(m, &a->MAPI,
						    PR_ATTACH_LONG_FILENAME);

		if (a->FileData.data == NULL || a->FileData.size <= 0)
			continue;
		if (name == NULL && a->Title.data != NULL)
			name = utf8_of(m, (const char *) a->Title.data,
				       strnlen((const char *) a->Title.data,
					       a->Title.size));
		add_made_attachment(m, name, type_of_name(name ? name : ""),
			g_bytes_new(a->FileData.data, a->FileData.size));
	}
}

/* Open Outlook's winmail.dat PART: its plain text body joins the body
 * and its files are attachments.  FALSE when it cannot be read, and
 * is then kept as a file. */
static gboolean
open_tnef(Walk *walk, GMimePart *part, WalkMode mode)
{
	MessagePrivate *m = walk->message;
	g_autoptr(GByteArray) bytes = part_bytes(part);
	TNEFStruct tnef;
	char *body = NULL;

	if (bytes == NULL || bytes->len == 0)
		return FALSE;
	TNEFInitialize(&tnef);
	tnef.Debug = 0;		/* left unset by TNEFInitialize */
	if (TNEFParseMemory(bytes->data, bytes->len, &tnef) < 0) {
		TNEFFree(&tnef);
		add_warning(m, "winmail.dat cannot be read: kept as a file");
		return FALSE;
	}
	if (mode == WALK_ALL) {
		body = tnef_string(m, &tnef.MapiProperties, PR_BODY);
		if (body == NULL && tnef.body.data != NULL)
			body = utf8_of(m, (const char *) tnef.body.data,
				       strnlen((const char *) tnef.body.data,
					       tnef.body.size));
		if (body != NULL) {
			char *normal = normalise_text(body, strlen(body));

			g_free(body);
			trim_text(normal);
			if (*normal != '\0')
				g_ptr_array_add(walk->texts, normal);
			else
				g_free(normal);
		}
	}
	add_tnef_files(m, &tnef);
	TNEFFree(&tnef);
	return TRUE;
}
#else
/* Built without libytnef: winmail.dat stays a file. */
static gboolean
open_tnef(Walk *walk, GMimePart *part, WalkMode mode)
{
	(void) walk;
	(void) part;
	(void) mode;
	return FALSE;
}
#endif

/* TRUE for Outlook's winmail.dat (TNEF). */
static gboolean
is_tnef(GMimeObject *object)
{
	GMimeContentType *type = g_mime_object_get_content_type(object);
	const char *name = g_mime_part_get_filename(GMIME_PART(object));

	return g_mime_content_type_is_type(type, "application", "ms-tnef") ||
	       g_mime_content_type_is_type(type, "application",
					   "vnd.ms-tnef") ||
	       (name != NULL && g_ascii_strcasecmp(name, "winmail.dat") == 0);
}

/* Walk OBJECT: body text into walk->texts, files into attachments. */
static void
walk_object(Walk *walk, GMimeObject *object, WalkMode mode, guint depth)
{
	if (depth > MAX_DEPTH) {
		add_warning(walk->message, "MIME nesting deeper than %d: "
			    "parts ignored", MAX_DEPTH);
		walk->message->pub.ignored_parts++;
		return;
	}
	if (GMIME_IS_MULTIPART(object)) {
		walk_multipart(walk, GMIME_MULTIPART(object), mode, depth);
		return;
	}
	if (GMIME_IS_MESSAGE_PART(object)) {
		if (is_message_file(object))
			add_message_file(walk->message, object,
					 walk->boundary);
		else
			walk_forwarded(walk, object, mode, depth);
		return;
	}
	if (!GMIME_IS_PART(object))
		return;
	if (is_body_text(object, "plain") || is_body_text(object, "html")) {
		if (mode == WALK_ALL)
			add_text(walk, GMIME_PART(object));
		return;
	}
	if (is_tnef(object) && open_tnef(walk, GMIME_PART(object), mode))
		return;
	add_attachment(walk->message, object);
}

/* The first mailbox in LIST, looking into groups, or NULL. */
static InternetAddressMailbox *
first_mailbox(InternetAddressList *list)
{
	int count = list ? internet_address_list_length(list) : 0;

	for (int i = 0; i < count; i++) {
		InternetAddress *address =
			internet_address_list_get_address(list, i);

		if (INTERNET_ADDRESS_IS_MAILBOX(address))
			return INTERNET_ADDRESS_MAILBOX(address);
		if (INTERNET_ADDRESS_IS_GROUP(address)) {
			InternetAddressMailbox *member = first_mailbox(
				internet_address_group_get_members(
					INTERNET_ADDRESS_GROUP(address)));

			if (member != NULL)
				return member;
		}
	}
	return NULL;
}

/* Add every mailbox address of LIST to ADDRESSES, once each. */
static void
add_addresses(const MessagePrivate *m, GPtrArray *addresses,
	      GHashTable *seen, InternetAddressList *list)
{
	int count = internet_address_list_length(list);

	for (int i = 0; i < count; i++) {
		InternetAddress *address =
			internet_address_list_get_address(list, i);
		const char *addr;
		char *folded;

		if (INTERNET_ADDRESS_IS_GROUP(address)) {
			add_addresses(m, addresses, seen,
				      internet_address_group_get_members(
					      INTERNET_ADDRESS_GROUP(address)));
			continue;
		}
		addr = internet_address_mailbox_get_addr(
			INTERNET_ADDRESS_MAILBOX(address));
		if (addr == NULL || *addr == '\0')
			continue;
		/* A set, not a search: a To of 100,000 addresses is read
		 * in linear time. */
		folded = g_ascii_strdown(addr, -1);
		if (!g_hash_table_add(seen, folded))
			continue;
		g_ptr_array_add(addresses, string_to_utf8(m, addr));
	}
}

/* The recipients named in Delivered-To, X-Original-To, To and Cc, in
 * that order and in header order within each, without repeats. */
static GPtrArray *
header_recipients(MessagePrivate *m)
{
	static const char *names[] = {
		"Delivered-To", "X-Original-To", "To", "Cc", NULL
	};
	GPtrArray *addresses = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash,
							   g_str_equal,
							   g_free, NULL);
	GMimeHeaderList *headers =
		g_mime_object_get_header_list(GMIME_OBJECT(m->pub.mime));
	int count = g_mime_header_list_get_count(headers);

	for (const char **name = names; *name != NULL; name++) {
		for (int i = 0; i < count; i++) {
			GMimeHeader *header =
				g_mime_header_list_get_header_at(headers, i);
			const char *value;
			InternetAddressList *list;

			if (g_ascii_strcasecmp(g_mime_header_get_name(header),
					       *name) != 0)
				continue;
			value = g_mime_header_get_value(header);
			if (value == NULL)
				continue;
			list = internet_address_list_parse(m->options, value);
			if (list == NULL)
				continue;
			add_addresses(m, addresses, seen, list);
			g_object_unref(list);
		}
	}
	return addresses;
}

/* VALUE with surrounding white space and one pair of <> removed, or
 * NULL when VALUE is NULL (owned). */
static char *
strip_angle_brackets(const char *value)
{
	char *copy;
	char *start;
	char *end;

	if (value == NULL)
		return NULL;
	copy = g_strstrip(g_strdup(value));
	start = strchr(copy, '<');
	end = start ? strchr(start, '>') : NULL;
	if (start != NULL && end != NULL) {
		*end = '\0';
		memmove(copy, start + 1, strlen(start + 1) + 1);
		g_strstrip(copy);
	}
	return copy;
}

/* The first top-level header NAME, or NULL.  GMime keeps the
 * Content-* headers with the top MIME part, not with the message. */
static GMimeHeader *
find_header(const Message *message, const char *name)
{
	GMimeObject *object = GMIME_OBJECT(message->mime);
	GMimeHeader *header = g_mime_header_list_get_header(
		g_mime_object_get_header_list(object), name);
	GMimeObject *top;

	if (header != NULL)
		return header;
	top = g_mime_message_get_mime_part(message->mime);
	if (top == NULL)
		return NULL;
	return g_mime_header_list_get_header(
		g_mime_object_get_header_list(top), name);
}

/* The first value of header NAME, NULL when absent (borrowed). */
static const char *
first_value(const Message *message, const char *name)
{
	GMimeHeader *header = find_header(message, name);

	return header ? g_mime_header_get_value(header) : NULL;
}

/* The first raw value of header NAME, NULL when absent (borrowed). */
static const char *
first_raw_value(const Message *message, const char *name)
{
	GMimeHeader *header = find_header(message, name);

	return header ? g_mime_header_get_raw_value(header) : NULL;
}

/* The first Message-ID, without <>, or NULL when missing or empty. */
static char *
message_id(MessagePrivate *m)
{
	const char *value = first_value(&m->pub, "Message-ID");
	g_autofree char *id = NULL;

	if (value == NULL)
		return NULL;
	id = g_mime_utils_decode_message_id(value);
	if (id == NULL)
		id = strip_angle_brackets(value);
	if (id == NULL || *g_strstrip(id) == '\0')
		return NULL;
	return string_to_utf8(m, id);
}

/* TRUE when P starts a "B" encoded word "=?charset?B?payload?=": its
 * charset and payload are given, and where it ends. */
static gboolean
b_word_at(const char *p, const char **charset, gsize *charset_len,
	  const char **payload, gsize *payload_len, const char **after)
{
	const char *q = p + 2;
	const char *end;

	if (p[0] != '=' || p[1] != '?')
		return FALSE;
	*charset = q;
	while (*q != '\0' && *q != '?' && !g_ascii_isspace(*q))
		q++;
	if (*q != '?' || q == *charset || (q[1] != 'B' && q[1] != 'b') ||
	    q[2] != '?')
		return FALSE;
	*charset_len = q - *charset;
	*payload = q + 3;
	end = strstr(*payload, "?=");
	if (end == NULL)
		return FALSE;
	for (const char *t = *payload; t < end; t++)
		if (!g_ascii_isalnum(*t) && *t != '+' && *t != '/' &&
		    *t != '=')
			return FALSE;
	*payload_len = end - *payload;
	*after = end + 2;
	return TRUE;
}

/* Append the base64 PAYLOAD of LEN characters, decoded, to BYTES. */
static void
append_base64(GByteArray *bytes, const char *payload, gsize len)
{
	g_autofree char *copy = g_strndup(payload, len);
	g_autofree guchar *data = NULL;
	gsize n = 0;

	data = g_base64_decode(copy, &n);
	g_byte_array_append(bytes, data, (guint) n);
}

/*
 * VALUE with each run of adjacent base64 encoded words in the same
 * charset made one word, or NULL when there is no such run (owned).
 * GMime joins such runs itself, but loses the text after a word that
 * ends in "=" padding; some mailers pad every word.
 */
static char *
join_base64_words(const char *value)
{
	GString *out = g_string_new(NULL);
	const char *p = value;
	gboolean joined = FALSE;

	while (*p != '\0') {
		const char *word = strstr(p, "=?");
		const char *charset, *payload, *after, *next;
		gsize charset_len, payload_len;
		g_autoptr(GByteArray) bytes = NULL;
		guint words = 1;

		if (word == NULL) {
			g_string_append(out, p);
			break;
		}
		g_string_append_len(out, p, word - p);
		if (!b_word_at(word, &charset, &charset_len, &payload,
			       &payload_len, &after)) {
			g_string_append(out, "=?");
			p = word + 2;
			continue;
		}
		bytes = g_byte_array_new();
		append_base64(bytes, payload, payload_len);
		for (;;) {
			const char *cs2, *pl2, *after2;
			gsize cs2_len, pl2_len;

			next = after;
			while (g_ascii_isspace(*next))
				next++;
			if (!b_word_at(next, &cs2, &cs2_len, &pl2, &pl2_len,
				       &after2) || cs2_len != charset_len ||
			    g_ascii_strncasecmp(cs2, charset, charset_len))
				break;
			append_base64(bytes, pl2, pl2_len);
			after = after2;
			words++;
		}
		if (words == 1) {
			g_string_append_len(out, word, after - word);
		} else {
			g_autofree char *encoded =
				g_base64_encode(bytes->data, bytes->len);

			g_string_append_printf(out, "=?%.*s?B?%s?=",
					       (int) charset_len, charset,
					       encoded);
			joined = TRUE;
		}
		p = after;
	}
	if (!joined) {
		g_string_free(out, TRUE);
		return NULL;
	}
	return g_string_free(out, FALSE);
}

/*
 * VALUE with the charset of each encoded word renamed to the superset
 * mailers mean by it (see effective_charset): GMime reads a word
 * marked gb2312 without the four-byte characters of GB18030.  NULL
 * when no word needs it (owned).
 */
static char *
widen_word_charsets(const char *value)
{
	GString *out = g_string_new(NULL);
	const char *p = value;
	const char *word;
	gboolean changed = FALSE;

	while ((word = strstr(p, "=?")) != NULL) {
		const char *charset = word + 2;
		gsize len = strcspn(charset, "?* \t");
		g_autofree char *name = g_strndup(charset, len);
		/* NAME itself when it has no superset. */
		const char *wide = effective_charset(name);

		g_string_append_len(out, p, charset - p);
		if ((charset[len] == '?' || charset[len] == '*') &&
		    wide != name) {
			g_string_append(out, wide);
			changed = TRUE;
		} else {
			g_string_append(out, name);
		}
		p = charset + len;
	}
	g_string_append(out, p);
	if (!changed) {
		g_string_free(out, TRUE);
		return NULL;
	}
	return g_string_free(out, FALSE);
}

/* The subject, decoded, "" when missing (owned). */
static char *
subject(MessagePrivate *m)
{
	const char *value = g_mime_message_get_subject(m->pub.mime);
	const char *raw = first_raw_value(&m->pub, "Subject");
	g_autofree char *unfolded = raw ? g_mime_utils_header_unfold(raw)
					: NULL;
	g_autofree char *joined = unfolded ? join_base64_words(unfolded)
					   : NULL;
	g_autofree char *widened = unfolded ? widen_word_charsets(
		joined ? joined : unfolded) : NULL;
	const char *text = widened ? widened : joined ? joined : unfolded;
	g_autofree char *decoded = NULL;

	/* Encoded words GMime would cut short are joined first, their
	 * charsets widened; raw 8-bit bytes are decoded with our
	 * fallbacks first, as GMime would take the first charset that
	 * accepts them. */
	if (unfolded != NULL && has_8bit(unfolded, strlen(unfolded))) {
		g_autofree char *utf8 = utf8_of(m, text, strlen(text));

		decoded = g_mime_utils_header_decode_text(m->options, utf8);
	} else if (text != unfolded)
		decoded = g_mime_utils_header_decode_text(m->options, text);
	else
		decoded = g_strdup(value ? value : "");
	return g_strstrip(utf8_of(m, decoded, strlen(decoded)));
}

/* The address in a From value GMime could not parse (owned, or NULL):
 * what stands between the last <> when there are some
 * ("x <power quadrant system@example.com>"), else the last word with
 * an "@" ("Test test@example.com"). */
static char *
lenient_address(const char *value)
{
	const char *open = value ? strrchr(value, '<') : NULL;
	const char *close = open ? strchr(open, '>') : NULL;
	g_auto(GStrv) words = NULL;
	char *found = NULL;

	if (value == NULL)
		return NULL;
	if (open != NULL && close != NULL && memchr(open, '@', close - open))
		return g_strstrip(g_strndup(open + 1, close - open - 1));
	words = g_strsplit_set(value, " \t\r\n<>\",;", -1);
	for (char **w = words; *w != NULL; w++)
		if (strchr(*w, '@') != NULL && **w != '@')
			found = *w;
	return found ? g_strdup(found) : NULL;
}

/* From, Reply-To and Return-Path into M. */
static void
read_addresses(MessagePrivate *m)
{
	InternetAddressMailbox *from = first_mailbox(
		g_mime_message_get_from(m->pub.mime));
	InternetAddressMailbox *reply_to = first_mailbox(
		g_mime_message_get_reply_to(m->pub.mime));

	if (from != NULL) {
		const char *name = internet_address_get_name(
			INTERNET_ADDRESS(from));

		m->pub.from_addr = string_to_utf8(m,
			internet_address_mailbox_get_addr(from));
		if (name != NULL && *name != '\0')
			m->pub.from_name = string_to_utf8(m, name);
	} else {
		g_autofree char *addr = lenient_address(
			first_value(&m->pub, "From"));

		m->pub.from_addr = string_to_utf8(m, addr);
	}
	if (reply_to != NULL)
		m->pub.reply_to_addr = string_to_utf8(m,
			internet_address_mailbox_get_addr(reply_to));
	m->pub.return_path = strip_angle_brackets(
		first_value(&m->pub, "Return-Path"));
	if (m->pub.return_path != NULL) {
		char *clean = string_to_utf8(m, m->pub.return_path);

		g_free(m->pub.return_path);
		m->pub.return_path = clean;
	}
}

/* TRUE when the header line LINE is one a delivery adds. */
static gboolean
is_delivery_header(const char *line, gsize len)
{
	for (const char **h = delivery_headers; *h != NULL; h++) {
		gsize n = strlen(*h);
		gsize i = n;

		if (len <= n || g_ascii_strncasecmp(line, *h, n) != 0)
			continue;
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i < len && line[i] == ':')
			return TRUE;
	}
	return FALSE;
}

/* Hex SHA-256 of STREAM from FROM: the header lines except the
 * delivery headers (with their continuation lines), then the body
 * bytes as they are.  NULL when the stream cannot be read. */
static char *
digest(GMimeStream *stream, gint64 from)
{
	g_autoptr(GMimeStream) sub = g_mime_stream_substream(stream, from,
							     -1);
	g_autoptr(GMimeStream) lines = g_mime_stream_buffer_new(sub,
		GMIME_STREAM_BUFFER_BLOCK_READ);
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
	g_autoptr(GByteArray) line = g_byte_array_new();
	gboolean skipping = FALSE;
	char buf[8192];
	ssize_t n;

	/* The header block, line by line, up to the empty line. */
	for (;;) {
		const char *text;

		g_byte_array_set_size(line, 0);
		g_mime_stream_buffer_readln(lines, line);
		if (line->len == 0)
			break;
		text = (const char *) line->data;
		if ((line->len == 1 && text[0] == '\n') ||
		    (line->len == 2 && text[0] == '\r' && text[1] == '\n')) {
			g_checksum_update(sum, line->data, line->len);
			break;
		}
		if (text[0] != ' ' && text[0] != '\t')
			skipping = is_delivery_header(text, line->len);
		if (!skipping)
			g_checksum_update(sum, line->data, line->len);
	}

	/* The body, unchanged. */
	while ((n = g_mime_stream_read(lines, buf, sizeof(buf))) > 0)
		g_checksum_update(sum, (const guchar *) buf, (gsize) n);
	if (n < 0 && !g_mime_stream_eos(lines))
		return NULL;
	return g_strdup(g_checksum_get_string(sum));
}

/* The offset after the first line of STREAM from START, or START
 * when PREFIX is given and the line does not begin with it. */
static gint64
skip_line(GMimeStream *stream, gint64 start, const char *prefix)
{
	char buf[512];
	gint64 offset = start;
	gsize plen = prefix ? strlen(prefix) : 0;
	ssize_t n;

	g_mime_stream_seek(stream, start, GMIME_STREAM_SEEK_SET);
	n = g_mime_stream_read(stream, buf, sizeof(buf));
	if (n <= 0 || (prefix != NULL &&
		       ((gsize) n < plen || memcmp(buf, prefix, plen) != 0)))
		goto out;
	/* Find the end of the line, however long. */
	for (;;) {
		char *eol = memchr(buf, '\n', (gsize) n);

		if (eol != NULL) {
			offset += eol - buf + 1;
			break;
		}
		offset += n;
		n = g_mime_stream_read(stream, buf, sizeof(buf));
		if (n <= 0)
			break;
	}
out:
	g_mime_stream_seek(stream, start, GMIME_STREAM_SEEK_SET);
	return offset;
}

/* The message in STREAM from START, or NULL when no header is there. */
static GMimeMessage *
parse_at(MessagePrivate *m, GMimeStream *stream, gint64 start)
{
	g_autoptr(GMimeStream) mail = g_mime_stream_substream(stream, start,
							      -1);
	g_autoptr(GMimeParser) parser = g_mime_parser_new_with_stream(mail);
	GMimeMessage *message;

	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	g_mime_parser_set_persist_stream(parser, TRUE);
	message = g_mime_parser_construct_message(parser, m->options);
	if (message != NULL &&
	    g_mime_header_list_get_count(g_mime_object_get_header_list(
		    GMIME_OBJECT(message))) == 0)
		g_clear_object(&message);
	if (message != NULL)
		g_set_object(&m->raw, mail);
	return message;
}

/* Add CHARSET to LIST (a GPtrArray of owned char*) unless it is
 * there already. */
static void
add_charset(GPtrArray *list, const char *charset)
{
	for (guint i = 0; i < list->len; i++)
		if (g_ascii_strcasecmp(list->pdata[i], charset) == 0)
			return;
	g_ptr_array_add(list, g_strdup(charset));
}

/* TRUE for the multibyte charsets of East Asia: they refuse most text
 * that is not theirs, where a single-byte charset accepts anything. */
static gboolean
is_multibyte(const char *charset)
{
	static const char *prefixes[] = {
		"cp932", "cp949", "cp950", "gb", "big5", "euc-", "shift",
		"sjis", "ks_c", "uhc", "johab", NULL
	};

	for (const char **p = prefixes; *p != NULL; p++)
		if (g_ascii_strncasecmp(charset, *p, strlen(*p)) == 0)
			return TRUE;
	return FALSE;
}

/* Options whose fallback charsets are utf-8, then HINT (or NULL) when
 * it is multibyte, then CONFIGURED (NULL-ended; by default utf-8,
 * gb18030, windows-1252) in its order, with a single-byte HINT right
 * after gb18030, so that it comes before the generic ones. */
static GMimeParserOptions *
options_with(MessagePrivate *m, const char *hint, const char **configured)
{
	GMimeParserOptions *popts = g_mime_parser_options_new();
	g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(g_free);

	add_charset(list, "utf-8");
	if (hint != NULL && is_multibyte(hint))
		add_charset(list, hint);
	for (const char **c = configured ? configured : default_charsets;
	     *c != NULL; c++) {
		add_charset(list, *c);
		if (hint != NULL && is_chinese_charset(*c))
			add_charset(list, hint);
	}
	if (hint != NULL)
		add_charset(list, hint);
	g_ptr_array_add(list, NULL);
	g_mime_parser_options_set_fallback_charsets(popts,
		(const char **) list->pdata);
	g_mime_parser_options_set_rfc2047_compliance_mode(popts,
		GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_address_compliance_mode(popts,
		GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_parameter_compliance_mode(popts,
		GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_warning_callback(popts, parser_warning, m);
	return popts;
}

/* The charset to try for raw 8-bit bytes in a mail whose text declares
 * CHARSET: the 8-bit charset of the same language for the 7-bit
 * ISO-2022 ones (Japanese mailers write raw Shift_JIS in headers), the
 * superset mailers mean for the others; NULL when it says nothing. */
static const char *
hint_for(const char *charset)
{
	if (is_weak_label(charset) ||
	    g_ascii_strncasecmp(charset, "utf-7", 5) == 0)
		return NULL;
	if (g_ascii_strncasecmp(charset, "iso-2022-jp", 11) == 0 ||
	    g_ascii_strcasecmp(charset, "shift_jis") == 0 ||
	    g_ascii_strcasecmp(charset, "sjis") == 0)
		return "CP932";
	if (g_ascii_strncasecmp(charset, "iso-2022-kr", 11) == 0 ||
	    g_ascii_strcasecmp(charset, "euc-kr") == 0 ||
	    g_ascii_strcasecmp(charset, "ks_c_5601-1987") == 0)
		return "CP949";
	return effective_charset(charset);
}

/* Record in DATA (a char**) the first charset of a text part that
 * says more than utf-8 or us-ascii. */
static void
find_text_charset(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	char **found = data;
	GMimeContentType *type = g_mime_object_get_content_type(part);
	const char *charset;
	const char *hint;

	(void) parent;
	if (*found != NULL || !GMIME_IS_TEXT_PART(part))
		return;
	charset = g_mime_content_type_get_parameter(type, "charset");
	if (charset == NULL || *charset == '\0')
		return;
	hint = hint_for(charset);
	if (hint != NULL)
		*found = g_strdup(hint);
}

/*
 * Put the charset of the mail's own text right after utf-8 among the
 * fallbacks: the mailer that writes a raw 8-bit subject or file name,
 * or text without a charset, uses the charset it declares for its
 * text, so a Latin-1 name is not read as GB18030 nor a Shift_JIS
 * subject as anything else.
 */
static void
add_charset_hint(MessagePrivate *m, const MessageOptions *options)
{
	g_autofree char *hint = NULL;

	g_mime_message_foreach(m->pub.mime, find_text_charset, &hint);
	if (hint == NULL)
		return;
	{
		GIConv cd = g_iconv_open("UTF-8", hint);

		if (cd == (GIConv) -1)
			return;
		g_iconv_close(cd);
	}
	m->part_options = options_with(m, hint, options
				       ? options->fallback_charsets : NULL);
}

/* The body: its pieces joined by a blank line (owned). */
static char *
join_texts(GPtrArray *texts)
{
	g_ptr_array_add(texts, NULL);
	return g_strjoinv("\n\n", (char **) texts->pdata);
}

/* Parse the message in STREAM. */
Message *
message_parse(GMimeStream *stream, const MessageOptions *options,
	      GError **error)
{
	MessagePrivate *m;
	g_autoptr(GPtrArray) texts = NULL;
	GMimeObject *top;
	Walk walk;
	gint64 start;

	g_return_val_if_fail(GMIME_IS_STREAM(stream), NULL);

	m = g_new0(MessagePrivate, 1);
	m->pub.warnings = g_ptr_array_new_with_free_func(g_free);
	m->pub.attachments = g_ptr_array_new_with_free_func(attachment_free);
	m->options = options_with(m, NULL, options
				 ? options->fallback_charsets : NULL);

	/* The mail proper starts after any mbox From line; parsing it as
	 * a plain message keeps body lines starting "From " intact.  A
	 * first line of other junk ("---- Original message ----") is
	 * skipped too, when the mail does not parse with it. */
	start = g_mime_stream_tell(stream);
	if (start < 0)
		start = 0;
	start = skip_line(stream, start, "From ");
	m->pub.mime = parse_at(m, stream, start);
	if (m->pub.mime == NULL) {
		gint64 next = skip_line(stream, start, NULL);

		if (next > start) {
			g_ptr_array_set_size(m->pub.warnings, 0);
			m->dropped_warnings = 0;
			add_warning(m, "first line is not a header: skipped");
			start = next;
			m->pub.mime = parse_at(m, stream, start);
		}
	}
	if (m->pub.mime == NULL) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_DATAERR,
			    "not a mail message");
		message_free(&m->pub);
		return NULL;
	}

	/* Identifiers, subject and addresses. */
	add_charset_hint(m, options);
	m->pub.message_id = message_id(m);
	m->pub.in_reply_to = string_to_utf8(m,
		first_value(&m->pub, "In-Reply-To"));
	m->pub.references = string_to_utf8(m,
		first_value(&m->pub, "References"));
	m->pub.subject = subject(m);
	read_addresses(m);
	m->pub.header_recipients = header_recipients(m);

	/* Body and attachments, from our own walk of the tree. */
	texts = g_ptr_array_new_with_free_func(g_free);
	walk = (Walk) { .message = m, .texts = texts };
	top = g_mime_message_get_mime_part(m->pub.mime);
	if (top != NULL)
		walk_object(&walk, top, WALK_ALL, 0);
	m->pub.body = join_texts(texts);

	/* The digest over what every delivery of this mail shares. */
	m->pub.digest = digest(stream, start);
	if (m->pub.digest == NULL) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
			    "cannot read the spooled message");
		message_free(&m->pub);
		return NULL;
	}
	if (m->dropped_warnings > 0)
		add_warning(m, "%u more parser warnings", m->dropped_warnings);
	return &m->pub;
}

/* TRUE when MESSAGE has nothing a ticket could be made of; see
 * message.h. */
gboolean
message_is_empty(const Message *message)
{
	g_autofree char *subject = g_strstrip(g_strdup(message->subject));
	g_autofree char *body = g_strstrip(g_strdup(message->body));

	return *subject == '\0' && *body == '\0' &&
	       message->attachments->len == 0;
}

/* The first value of header NAME, decoded to UTF-8, or NULL (owned). */
char *
message_header(const Message *message, const char *name)
{
	const MessagePrivate *m = (const MessagePrivate *) message;
	const char *value;
	const char *raw;

	g_return_val_if_fail(message != NULL && name != NULL, NULL);

	value = first_value(message, name);
	if (value == NULL)
		return NULL;
	if (g_utf8_validate(value, -1, NULL))
		return g_strdup(value);
	raw = first_raw_value(message, name);
	return utf8_of(m, raw ? raw : value, strlen(raw ? raw : value));
}

/* TRUE when header NAME is present. */
gboolean
message_has_header(const Message *message, const char *name)
{
	g_return_val_if_fail(message != NULL && name != NULL, FALSE);

	return find_header(message, name) != NULL;
}

/* The decoded content of ATTACHMENT (owned). */
GBytes *
message_attachment_data(const MessageAttachment *attachment,
			GError **error)
{
	g_autoptr(GMimeStream) mem = NULL;
	GByteArray *bytes;

	g_return_val_if_fail(attachment != NULL, NULL);

	if (attachment->data != NULL)
		return g_bytes_ref(attachment->data);
	mem = g_mime_stream_mem_new();
	if (write_object(attachment->part, mem) < 0) {
		/* The spool file could not be read: may pass. */
		g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
			    "cannot read attachment %s", attachment->name);
		return NULL;
	}
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	return g_byte_array_free_to_bytes(bytes);
}

/* Free one attachment record (a MessageAttachment). */
static void
attachment_free(gpointer data)
{
	MessageAttachment *a = data;

	g_free(a->name);
	g_free(a->content_type);
	g_free(a->content_id);
	g_clear_object(&a->part);
	g_clear_pointer(&a->data, g_bytes_unref);
	g_free(a);
}

/* Free MESSAGE and everything it holds. */
void
message_free(Message *message)
{
	MessagePrivate *m = (MessagePrivate *) message;

	if (message == NULL)
		return;
	g_clear_object(&message->mime);
	g_free(message->message_id);
	g_free(message->in_reply_to);
	g_free(message->references);
	g_free(message->subject);
	g_free(message->from_addr);
	g_free(message->from_name);
	g_free(message->reply_to_addr);
	g_free(message->return_path);
	g_clear_pointer(&message->header_recipients, g_ptr_array_unref);
	g_free(message->body);
	g_clear_pointer(&message->attachments, g_ptr_array_unref);
	g_free(message->digest);
	g_clear_pointer(&message->warnings, g_ptr_array_unref);
	g_clear_pointer(&m->options, g_mime_parser_options_free);
	g_clear_pointer(&m->part_options, g_mime_parser_options_free);
	g_clear_object(&m->raw);
	g_free(m);
}
