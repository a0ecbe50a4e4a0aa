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
 * How long sendmail may take to read the reply and exit, in seconds.
 * Postfix kills a pipe command at its command_time_limit (1000 s by
 * default) and then bounces the mail although the ticket exists; this
 * stops a hanging sendmail long before that, so the delivery exits 75.
 */
#define REPLY_SENDMAIL_TIMEOUT 60

/*
 * Hand REPLY to [reply] sendmail for TO.
 *
 * sendmail runs in a process group of its own.  When it has not
 * finished after REPLY_SENDMAIL_TIMEOUT, the group is killed and the
 * result is M2T_ERROR_UNCERTAIN ("... did not finish within 60 s"):
 * it may have queued the reply before it hung, so the caller must not
 * send the reply again.
 *
 * Its exit status decides the rest, "when in doubt, 75":
 *   0 (having read the whole reply)       the reply went: TRUE;
 *   65 EX_DATAERR, 67 EX_NOUSER,
 *   68 EX_NOHOST, 69 EX_UNAVAILABLE       this reply can never go (69 is
 *                                         what sendmail-like programs
 *                                         give for a 5xx): DATAERR;
 *   anything else, 1, 64, 70-78 included,
 *   a signal, or 0 before reading it all  M2T_ERROR_TEMPFAIL: nothing
 *                                         went, the next delivery tries
 *                                         again.
 * A command that cannot run is M2T_ERROR_OPERATOR (nothing went either).
 */
gboolean reply_send(const Config *config, GMimeMessage *reply,
		    const char *to, GError **error);

/*
 * For the tests only: let sendmail take at most MILLISECONDS instead of
 * REPLY_SENDMAIL_TIMEOUT, so that a test of a hanging sendmail is fast.
 * The program never calls it.
 */
void reply_set_sendmail_timeout_for_tests(guint milliseconds);

#endif
