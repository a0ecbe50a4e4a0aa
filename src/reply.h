/*
 * reply.h - the automatic reply that tells the sender the ticket ID.
 *
 * An RFC 3834 auto-reply: the ticket ID in the subject and the body,
 * In-Reply-To and References pointing at the customer's mail,
 * Auto-Submitted: auto-replied, X-Auto-Response-Suppress: All and an
 * X-Loop header with the bridge's address (screen.c discards a mail that
 * comes back with it).  It is handed to the configured sendmail with a
 * null envelope sender, so that nothing can bounce back into a loop.
 */
#ifndef M2T_REPLY_H
#define M2T_REPLY_H

#include "config.h"
#include "message.h"
#include "ticket.h"

/* The fields of the reply's subject and body templates. */
typedef struct {
	const char *ticket;	/* the ticket ID */
	const char *subject;	/* the customer's subject */
	const char *rule;
	const char *product;
} ReplyFields;

/* TEMPLATE with every %{name} replaced from FIELDS (owned). */
char *reply_expand(const char *template, const ReplyFields *fields);

/* The reply's subject (owned). */
char *reply_subject(const Config *config, const ReplyFields *fields);

/*
 * The reply to MESSAGE, from FROM to TO, for FIELDS, with the body from
 * TEMPLATE_PATH (NULL: built in).  Fails when the template cannot be
 * read (M2T_ERROR_OPERATOR).
 */
GMimeMessage *reply_build(const Config *config, const Message *message,
			  const char *from, const char *to,
			  const char *template_path,
			  const ReplyFields *fields, GError **error);

/*
 * Hand REPLY to [reply] sendmail for TO.  A temporary refusal (exit 75,
 * 71, 73, 74, a signal) is M2T_ERROR_TEMPFAIL; a command that cannot
 * run is M2T_ERROR_OPERATOR; a permanent refusal M2T_ERROR_DATAERR.
 */
gboolean reply_send(const Config *config, GMimeMessage *reply,
		    const char *to, GError **error);

#endif
