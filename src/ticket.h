/*
 * ticket.h - the ticket made from a mail: its fields and its files.
 *
 * ticket_build() fills the Add parameters from the message, the rule and
 * the configuration, and decides for every attachment whether it is
 * uploaded: at most TICKET_MAX_FILES, none over TICKET_MAX_FILE_SIZE, no
 * empty ones.  Each attachment left out is named in the content with
 * its size and the reason, so nothing is dropped silently.
 */
#ifndef M2T_TICKET_H
#define M2T_TICKET_H

#include "config.h"
#include "message.h"

#define TICKET_MAX_FILES 3
#define TICKET_MAX_FILE_SIZE (2 * 1024 * 1024)

typedef struct {
	const MessageAttachment *attachment;	/* borrowed */
	char *name;		/* safe file name for the OSS key */
	gboolean upload;
	char *reason;		/* why it is not uploaded; NULL if it is */
} TicketFile;

typedef struct {
	char *rule;		/* the rule's name */
	gint64 product_id;	/* 0 when unset */
	gint64 question_id;	/* customerCommonQuestionId, 0 when unset */
	char *title;
	char *content;
	char *sec_content;	/* NULL when none */
	char *ali_uid;
	char *email;		/* the customer's address, or NULL */
	char *phone;		/* NULL when none */
	char *sms_alert_time;	/* NULL when none */
	GPtrArray *files;	/* TicketFile*, every attachment, mail order */
} Ticket;

/* The ticket for MESSAGE under RULE (borrowed); never fails. */
Ticket *ticket_build(const Message *message, const Rule *rule,
		     const Config *config);

/* The product as a log value: "product:12" or "question:34". */
char *ticket_product_label(const Ticket *ticket);

/* How many files are uploaded. */
guint ticket_upload_count(const Ticket *ticket);

void ticket_free(Ticket *ticket);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Ticket, ticket_free)

#endif
