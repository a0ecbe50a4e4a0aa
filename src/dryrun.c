/*
 * dryrun.c - the JSON object printed by --dry-run (see dryrun.h).
 *
 * Entry point: dryrun_json().  Built with cJSON; aliUid is written as
 * a string because it can exceed the 2^53 that JSON readers keep exact.
 */
#include "autoconfig.h"

#include <cJSON.h>

#include "dryrun.h"

/* Add NAME = VALUE, or null when VALUE is NULL. */
static void
add_string(cJSON *object, const char *name, const char *value)
{
	if (value != NULL)
		cJSON_AddStringToObject(object, name, value);
	else
		cJSON_AddNullToObject(object, name);
}

/* Add NAME = ID, or null when ID is 0 (unset). */
static void
add_id(cJSON *object, const char *name, gint64 id)
{
	if (id > 0)
		cJSON_AddNumberToObject(object, name, (double) id);
	else
		cJSON_AddNullToObject(object, name);
}

/* The "ticket" member. */
static cJSON *
ticket_json(const Ticket *ticket)
{
	cJSON *t = cJSON_CreateObject();

	add_id(t, "productId", ticket->product_id);
	add_id(t, "customerCommonQuestionId", ticket->question_id);
	add_string(t, "title", ticket->title);
	add_string(t, "content", ticket->content);
	add_string(t, "secContent", ticket->sec_content);
	add_string(t, "aliUid", ticket->ali_uid);
	add_string(t, "email", ticket->email);
	add_string(t, "phone", ticket->phone);
	add_string(t, "smsAlertTime", ticket->sms_alert_time);
	return t;
}

/* The "attachments" member: every attachment, uploaded or not. */
static cJSON *
attachments_json(const DryRun *run)
{
	cJSON *list = cJSON_CreateArray();
	const GPtrArray *attachments = run->message->attachments;

	for (guint i = 0; i < attachments->len; i++) {
		const MessageAttachment *a = attachments->pdata[i];
		const TicketFile *file = run->ticket ? run->ticket->files->pdata[i]
						     : NULL;
		cJSON *item = cJSON_CreateObject();

		add_string(item, "name", a->name);
		add_string(item, "content_type", a->content_type);
		cJSON_AddNumberToObject(item, "size", (double) a->size);
		cJSON_AddBoolToObject(item, "upload",
				      file != NULL && file->upload);
		add_string(item, "reason", file ? file->reason
						: "the mail is discarded");
		cJSON_AddItemToArray(list, item);
	}
	return list;
}

/* The JSON text for RUN, on one line, without a newline (owned). */
char *
dryrun_json(const DryRun *run)
{
	cJSON *root = cJSON_CreateObject();
	char *text;
	char *copy;

	add_string(root, "action", run->discard ? "discard" : "create");
	add_string(root, "reason", run->reason);
	add_string(root, "rule", run->ticket ? run->ticket->rule : NULL);
	add_string(root, "recipient", run->recipient);
	add_string(root, "sender", run->sender);
	add_string(root, "message_id", run->message->message_id);
	if (run->ticket != NULL)
		cJSON_AddItemToObject(root, "ticket", ticket_json(run->ticket));
	else
		cJSON_AddNullToObject(root, "ticket");
	cJSON_AddItemToObject(root, "attachments", attachments_json(run));
	if (run->reply_to != NULL) {
		cJSON *reply = cJSON_CreateObject();

		add_string(reply, "to", run->reply_to);
		add_string(reply, "subject", run->reply_subject);
		cJSON_AddItemToObject(root, "reply", reply);
	} else {
		cJSON_AddNullToObject(root, "reply");
	}

	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	copy = g_strdup(text);
	cJSON_free(text);
	return copy;
}
