/*
 * fuzz-message.c - libFuzzer harness over the read-and-extract path.
 *
 * Each input is one mail.  It goes through what `mail2ticket --dry-run
 * support@example.com` does with it: parse (message.c, html.c),
 * routing (rules.c), screening (screen.c), ticket_build() (ticket.c),
 * the reply subject (reply.c) and the dry-run JSON (dryrun.c); then
 * each attachment is decoded as an upload would.  The promises of
 * issue 3 are checked here, and a broken one aborts so that libFuzzer
 * keeps the input: every string that leaves the parser is valid UTF-8,
 * the title is never empty, the JSON reads back with the same title and
 * content, and an attachment's decoded data has the size announced.
 *
 * The configuration is built in memory with the documented defaults
 * and one rule; no file is read or written per input, and nothing on
 * this path logs (syslog would open a socket) or touches the network.
 * The mail is held in a GMime memory stream instead of spool_read()'s
 * unlinked temporary file: the parser sees the same seekable stream.
 *
 * Build and run it with tests/fuzz.sh.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <gmime/gmime.h>

#include "config.h"
#include "dryrun.h"
#include "message.h"
#include "reply.h"
#include "rules.h"
#include "screen.h"
#include "ticket.h"

#define RECIPIENT "support@example.com"
#define DRY_RUN_TICKET "TICKET-ID"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

/* Built once; reachable until exit, so never a leak. */
static Config *config;

/* Report a broken promise and abort, so that libFuzzer saves the input. */
static void G_GNUC_NORETURN
broken(const char *what, const char *value)
{
	fprintf(stderr, "fuzz-message: INVARIANT: %s", what);
	if (value != NULL) {
		g_autofree char *shown = g_strescape(value, NULL);

		fprintf(stderr, ": \"%.400s\"", shown);
	}
	fputc('\n', stderr);
	abort();
}

/* VALUE (may be NULL) must be valid UTF-8. */
static void
check_utf8(const char *what, const char *value)
{
	if (value != NULL && !g_utf8_validate(value, -1, NULL))
		broken(what, value);
}

static void
rule_free(Rule *rule)
{
	g_free(rule->name);
	g_strfreev(rule->recipients);
	g_free(rule);
}

/* The documented defaults of every key, and one rule, as config.c
 * would read them from a file with [ticket] ali_uid and [rule:support]. */
static Config *
fuzz_config(void)
{
	static const char *const charsets[] = {
		"utf-8", "gb18030", "windows-1252", NULL
	};
	static const char *const recipients[] = {
		RECIPIENT, "support+*@example.com", NULL
	};
	Config *c = g_new0(Config, 1);
	Rule *rule = g_new0(Rule, 1);

	c->endpoint = g_strdup("http://127.0.0.1:9/");
	c->version = g_strdup("2016-08-30");
	c->timeout = 20;
	c->retry_budget = 60;
	c->credentials_source = g_strdup("fuzz");
	c->ali_uid = g_strdup("1234567890123456");
	c->title_max_length = 128;
	c->max_size = 25 * 1024 * 1024;
	c->fallback_charsets = g_strdupv((char **) charsets);
	c->reply_enabled = TRUE;
	c->reply_subject = g_strdup("Auto: [ticket %{ticket}] %{subject}");
	c->sendmail = g_strdup("/bin/false");
	c->journal_dir = g_strdup("/nonexistent/journal");
	c->journal_max_age = 30;
	c->quarantine_dir = g_strdup("/nonexistent/quarantine");

	rule->name = g_strdup("support");
	rule->recipients = g_strdupv((char **) recipients);
	rule->product_id = 12;
	c->rules = g_ptr_array_new_with_free_func((GDestroyNotify) rule_free);
	g_ptr_array_add(c->rules, rule);
	return c;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	/* Plain malloc for GLib's small blocks, so that ASan sees them
	 * (tests/fuzz.sh sets it too, before GLib starts). */
	setenv("G_SLICE", "always-malloc", 0);
	g_mime_init();
	config = fuzz_config();
	return 0;
}

/* Everything the parser hands on must be UTF-8. */
static void
check_message(const Message *m)
{
	if (m->subject == NULL || m->body == NULL)
		broken("message subject or body is NULL", NULL);
	check_utf8("subject", m->subject);
	check_utf8("body", m->body);
	check_utf8("message_id", m->message_id);
	check_utf8("from_addr", m->from_addr);
	check_utf8("from_name", m->from_name);
	check_utf8("reply_to_addr", m->reply_to_addr);
	check_utf8("return_path", m->return_path);
	for (guint i = 0; i < m->header_recipients->len; i++)
		check_utf8("header recipient",
			   m->header_recipients->pdata[i]);
	for (guint i = 0; i < m->attachments->len; i++) {
		const MessageAttachment *a = m->attachments->pdata[i];

		if (a->name == NULL || *a->name == '\0')
			broken("attachment without a name", a->content_type);
		check_utf8("attachment name", a->name);
		check_utf8("attachment content_type", a->content_type);
		check_utf8("attachment content_id", a->content_id);
	}
}

/* The ticket's promises: a title, UTF-8 everywhere, one file each. */
static void
check_ticket(const Message *m, const Ticket *t)
{
	if (t->title == NULL || *t->title == '\0')
		broken("empty title", m->subject);
	if (g_utf8_strlen(t->title, -1) > config->title_max_length)
		broken("title longer than title_max_length", t->title);
	if (t->content == NULL || *t->content == '\0')
		broken("empty content", m->body);
	check_utf8("title", t->title);
	check_utf8("content", t->content);
	check_utf8("email", t->email);
	if (t->files->len != m->attachments->len)
		broken("not one ticket file per attachment", NULL);
	for (guint i = 0; i < t->files->len; i++) {
		const TicketFile *f = t->files->pdata[i];

		if (f->name == NULL || *f->name == '\0')
			broken("ticket file without a name", NULL);
		check_utf8("ticket file name", f->name);
	}
}

/* The JSON must be UTF-8 and read back with the same title and content. */
static void
check_json(const char *json, const Ticket *ticket)
{
	cJSON *root;
	const cJSON *t;

	if (json == NULL)
		broken("no dry-run JSON", NULL);
	check_utf8("dry-run JSON", json);
	root = cJSON_Parse(json);
	if (root == NULL)
		broken("dry-run JSON does not parse", json);
	t = cJSON_GetObjectItemCaseSensitive(root, "ticket");
	if (ticket != NULL) {
		const cJSON *title = cJSON_GetObjectItemCaseSensitive(t,
								      "title");
		const cJSON *content =
			cJSON_GetObjectItemCaseSensitive(t, "content");

		if (!cJSON_IsString(title) ||
		    strcmp(title->valuestring, ticket->title) != 0)
			broken("JSON title differs from the ticket's",
			       ticket->title);
		if (!cJSON_IsString(content) ||
		    strcmp(content->valuestring, ticket->content) != 0)
			broken("JSON content differs from the ticket's",
			       ticket->content);
	}
	cJSON_Delete(root);
}

/* What an upload would send: the decoded data, of the announced size. */
static void
check_attachment_data(const Message *m)
{
	for (guint i = 0; i < m->attachments->len; i++) {
		const MessageAttachment *a = m->attachments->pdata[i];
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) bytes = message_attachment_data(a, &error);

		if (bytes == NULL)
			broken("attachment data cannot be read", a->name);
		if (g_bytes_get_size(bytes) != a->size)
			broken("attachment data size differs from its size",
			       a->name);
	}
}

/* main.c's deliver_to() for one recipient, in --dry-run mode. */
static void
dry_run(const Message *message, const Rule *rule)
{
	const char *sender = message->return_path;
	const char *reply_from = config->reply_from ? config->reply_from
						     : RECIPIENT;
	g_auto(Screening) screening = { 0 };
	g_autoptr(Ticket) ticket = NULL;
	g_autofree char *product = NULL;
	g_autofree char *subject = NULL;
	g_autofree char *json = NULL;
	DryRun run = { .recipient = RECIPIENT, .sender = sender,
		       .message = message };

	screen_message(message, sender, reply_from, config, &screening);
	run.discard = screening.discard;
	run.reason = screening.discard_reason;
	check_utf8("discard reason", screening.discard_reason);
	check_utf8("reply to", screening.reply_to);
	if (!screening.discard) {
		if (message_is_empty(message))
			return;
		ticket = ticket_build(message, rule, config);
		product = ticket_product_label(ticket);
		(void) ticket_upload_count(ticket);
		check_ticket(message, ticket);
		run.ticket = ticket;
		run.reply_to = screening.reply_to;
	}
	if (run.reply_to != NULL) {
		ReplyFields fields = {
			.ticket = DRY_RUN_TICKET,
			.subject = message->subject,
			.rule = rule->name,
			.product = product,
		};

		subject = reply_subject(config, &fields);
		check_utf8("reply subject", subject);
		run.reply_subject = subject;
	}
	json = dryrun_json(&run);
	check_json(json, ticket);
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	g_autoptr(GMimeStream) stream = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) message = NULL;
	MessageOptions options = {
		.fallback_charsets = (const char **) config->fallback_charsets,
		.title_max_length = config->title_max_length,
	};
	const Rule *rule;

	stream = g_mime_stream_mem_new_with_buffer((const char *) data, size);
	message = message_parse(stream, &options, &error);
	if (message == NULL) {
		if (error == NULL)
			broken("message_parse failed without an error", NULL);
		return 0;
	}
	check_message(message);

	/* Routing as without a RECIPIENT argument; the ticket is then made
	 * for the fixed recipient, so that every mail gets that far. */
	for (guint i = 0; i < message->header_recipients->len; i++)
		(void) rules_match(config->rules,
				   message->header_recipients->pdata[i]);
	rule = rules_match(config->rules, RECIPIENT);
	if (rule == NULL)
		broken("the fixed recipient matches no rule", RECIPIENT);

	dry_run(message, rule);
	check_attachment_data(message);
	return 0;
}
