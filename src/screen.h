/*
 * screen.h - loop and auto-reply protection.
 *
 * Decides two things about a mail before it is routed: whether it is
 * discarded (it is our own reply coming back, with our X-Loop header:
 * answering it would loop), and whether its sender gets a reply (never
 * to the bridge's own address: a web form may send From it, with the
 * customer in Reply-To).  Automatic mail (RFC 3834 Auto-Submitted, bulk
 * or list Precedence, List-* headers, bounces, a null envelope sender,
 * MAILER-DAEMON, other helpdesks' loop headers, X-Auto-Response-Suppress)
 * still becomes a ticket; it only gets no reply.
 */
#ifndef M2T_SCREEN_H
#define M2T_SCREEN_H

#include "config.h"
#include "message.h"

typedef struct {
	gboolean discard;
	char *discard_reason;	/* why it is discarded, or NULL */
	char *reply_to;		/* who gets the reply, or NULL for nobody */
	char *no_reply_reason;	/* why there is no reply, or NULL */
} Screening;

/*
 * Screen MESSAGE sent by ENVELOPE_SENDER ("" for the null sender, NULL
 * when unknown) to RECIPIENT, whose reply would come from REPLY_FROM.
 */
void screen_message(const Message *message, const char *envelope_sender,
		    const char *reply_from, const Config *config,
		    Screening *out);

void screen_clear(Screening *screening);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Screening, screen_clear)

#endif
