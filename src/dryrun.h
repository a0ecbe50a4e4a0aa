/*
 * dryrun.h - what --dry-run prints: one JSON object per mail.
 *
 * The shape is an interface other tools read (issue #2):
 *   {"action": "create" | "discard", "reason": ..., "rule": NAME,
 *    "recipient": ..., "sender": ..., "message_id": ...,
 *    "ticket": {"productId", "customerCommonQuestionId", "title",
 *               "content", "secContent", "aliUid", "email", "phone",
 *               "smsAlertTime"},
 *    "attachments": [{"name", "content_type", "size", "upload",
 *                     "reason"}],
 *    "reply": {"to", "subject"} | null}
 * Absent values are null.  No credential appears in it.
 */
#ifndef M2T_DRYRUN_H
#define M2T_DRYRUN_H

#include "message.h"
#include "ticket.h"

typedef struct {
	gboolean discard;
	const char *reason;		/* why discarded, or NULL */
	const char *recipient;
	const char *sender;		/* envelope sender, "" for null */
	const Message *message;
	const Ticket *ticket;		/* NULL when discarded */
	const char *reply_to;		/* NULL when no reply */
	const char *reply_subject;
} DryRun;

/* The JSON text for RUN, on one line, without a newline (owned). */
char *dryrun_json(const DryRun *run);

#endif
