/*
 * test-screen.c - screening (loops, automatic mail), the reply and the
 * dry-run object, on small mails built in memory.
 */
#include "autoconfig.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "config.h"
#include "dryrun.h"
#include "error.h"
#include "message.h"
#include "reply.h"
#include "rules.h"
#include "screen.h"
#include "ticket.h"

#define BRIDGE "support@support.test"

static char *workdir;

/* A configuration with one rule, replies from BRIDGE through SENDMAIL
 * (NULL: the default); EXTRA is appended to [reply]. */
static Config *
config_with(const char *sendmail, const char *extra)
{
	g_autofree char *path = g_build_filename(workdir, "m2t.conf", NULL);
	g_autofree char *text = g_strdup_printf(
		"[api]\naccess_key_id = LTAIunit\naccess_key_secret = unit\n"
		"[ticket]\nali_uid = 1234567890123456\n"
		"[reply]\nfrom = " BRIDGE "\n%s%s%s\n"
		"[rule:support]\nrecipients = " BRIDGE "\nproduct_id = 12\n",
		sendmail ? "sendmail = " : "", sendmail ? sendmail : "",
		extra ? extra : "");
	g_autoptr(GError) error = NULL;
	Config *config;

	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	g_assert_cmpint(g_chmod(path, 0600), ==, 0);
	config = config_load(path, &error);
	g_assert_no_error(error);
	return config;
}

/* The mail HEADERS (lines ending in \n) with a plain body. */
static Message *
mail_with(const char *headers)
{
	g_autofree char *text = g_strdup_printf(
		"%sTo: " BRIDGE "\nSubject: Printer on fire\n"
		"Message-ID: <m1@customer.test>\n"
		"Content-Type: text/plain; charset=utf-8\n\n"
		"It really is.\n", headers);
	g_autoptr(GMimeStream) stream =
		g_mime_stream_mem_new_with_buffer(text, strlen(text));
	g_autoptr(GError) error = NULL;
	Message *message = message_parse(stream, NULL, &error);

	g_assert_no_error(error);
	return message;
}

typedef struct {
	const char *label;
	const char *headers;
	const char *envelope_sender;	/* NULL: unknown */
	gboolean discard;
	const char *reply_to;		/* NULL: no reply */
	const char *reason;		/* part of the reason, or NULL */
} ScreenCase;

static const ScreenCase screen_cases[] = {
	{ "a customer", "From: Li Na <li.na@customer.test>\n",
	  "li.na@customer.test", FALSE, "li.na@customer.test", NULL },
	{ "Reply-To wins over From",
	  "From: li.na@customer.test\nReply-To: desk@customer.test\n",
	  "li.na@customer.test", FALSE, "desk@customer.test", NULL },
	{ "Auto-Submitted: no is a person",
	  "From: li.na@customer.test\nAuto-Submitted: no\n",
	  NULL, FALSE, "li.na@customer.test", NULL },
	{ "an auto-reply", "From: li.na@customer.test\n"
	  "Auto-Submitted: auto-replied\n", NULL, FALSE, NULL,
	  "Auto-Submitted" },
	{ "a null envelope sender", "From: li.na@customer.test\n",
	  "", FALSE, NULL, "null envelope sender" },
	{ "Return-Path <>", "Return-Path: <>\nFrom: li.na@customer.test\n",
	  NULL, FALSE, NULL, "null envelope sender" },
	{ "Precedence: junk", "From: li.na@customer.test\n"
	  "Precedence: junk\n", NULL, FALSE, NULL, "Precedence" },
	{ "a mailing list", "From: li.na@customer.test\n"
	  "List-Id: <ops.customer.test>\n", NULL, FALSE, NULL,
	  "mailing list" },
	{ "another helpdesk's loop header", "From: desk@other.test\n"
	  "X-OTRS-Loop: yes\n", NULL, FALSE, NULL, "auto-reply header" },
	{ "Outlook's out-of-office suppression", "From: a@customer.test\n"
	  "X-Auto-Response-Suppress: OOF, AutoReply\n", NULL, FALSE, NULL,
	  "X-Auto-Response-Suppress" },
	{ "MAILER-DAEMON", "From: MAILER-DAEMON@mx.customer.test\n",
	  NULL, FALSE, NULL, "robot" },
	{ "a noreply address", "From: no-reply@shop.test\n",
	  "bounces@shop.test", FALSE, NULL, "robot" },
	{ "our own reply back", "From: li.na@customer.test\n"
	  "X-Loop: " BRIDGE "\n", NULL, TRUE, NULL, "X-Loop" },
	{ "mail from the bridge's own address: a ticket, no reply",
	  "From: " BRIDGE "\n", NULL, FALSE, NULL, "bridge itself" },
	{ "a web form: From the bridge, the customer in Reply-To",
	  "From: Web Form <" BRIDGE ">\nReply-To: li.na@customer.test\n",
	  NULL, FALSE, "li.na@customer.test", NULL },
};

/* Each kind of sender: discarded, no reply, or a reply to whom. */
static void
test_screening(void)
{
	g_autoptr(Config) config = config_with(NULL, NULL);

	for (gsize i = 0; i < G_N_ELEMENTS(screen_cases); i++) {
		const ScreenCase *c = &screen_cases[i];
		g_autoptr(Message) message = mail_with(c->headers);
		g_auto(Screening) s = { 0 };
		const char *reason;

		g_test_message("case: %s", c->label);
		screen_message(message, c->envelope_sender, BRIDGE, config,
			       &s);
		g_assert_cmpint(s.discard, ==, c->discard);
		g_assert_cmpstr(s.reply_to, ==, c->reply_to);
		reason = s.discard ? s.discard_reason : s.no_reply_reason;
		if (c->reason != NULL)
			g_assert_nonnull(strstr(reason, c->reason));
		else
			g_assert_null(reason);
	}
}

/* [reply] enabled = false: a ticket, never a reply. */
static void
test_replies_disabled(void)
{
	g_autoptr(Config) config = config_with(NULL, "enabled = false\n");
	g_autoptr(Message) message = mail_with("From: li.na@customer.test\n");
	g_auto(Screening) s = { 0 };

	screen_message(message, "li.na@customer.test", BRIDGE, config, &s);
	g_assert_false(s.discard);
	g_assert_null(s.reply_to);
	g_assert_cmpstr(s.no_reply_reason, ==, "replies are disabled");
}

/* Template fields; an unknown one is left as written. */
static void
test_expand(void)
{
	ReplyFields fields = { .ticket = "T42", .subject = "Printer",
			       .rule = "support", .product = "product:12" };
	g_autofree char *text = reply_expand(
		"[%{ticket}] %{subject} (%{rule}, %{product}) %{nope} 100%",
		&fields);

	g_assert_cmpstr(text, ==,
			"[T42] Printer (support, product:12) %{nope} 100%");
}

/* The reply's headers, as RFC 3834 wants them. */
static void
test_reply_headers(void)
{
	g_autoptr(Config) config = config_with(NULL, NULL);
	g_autoptr(Message) message = mail_with(
		"From: li.na@customer.test\n"
		"References: <m0@customer.test>\n");
	ReplyFields fields = { .ticket = "T42", .subject = message->subject,
			       .rule = "support", .product = "product:12" };
	g_autoptr(GError) error = NULL;
	g_autoptr(GMimeMessage) reply = reply_build(
		config, message, BRIDGE, "li.na@customer.test", NULL,
		&fields, &error);
	GMimeObject *object;
	g_autofree char *text = NULL;

	g_assert_no_error(error);
	object = GMIME_OBJECT(reply);
	g_assert_cmpstr(g_mime_message_get_subject(reply), ==,
			"Auto: [ticket T42] Printer on fire");
	g_assert_cmpstr(g_mime_object_get_header(object, "Auto-Submitted"),
			==, "auto-replied");
	g_assert_cmpstr(g_mime_object_get_header(object, "X-Loop"), ==,
			BRIDGE);
	g_assert_cmpstr(g_mime_object_get_header(object, "In-Reply-To"), ==,
			"<m1@customer.test>");
	g_assert_nonnull(strstr(g_mime_object_get_header(object,
							 "References"),
				"<m0@customer.test> <m1@customer.test>"));
	text = g_mime_object_to_string(object, NULL);
	g_assert_nonnull(strstr(text, "T42"));
}

/* A template file that cannot be read stops the reply (operator). */
static void
test_reply_template_missing(void)
{
	g_autoptr(Config) config = config_with(NULL, NULL);
	g_autoptr(Message) message = mail_with("From: li.na@customer.test\n");
	ReplyFields fields = { .ticket = "T42", .subject = "x" };
	g_autoptr(GError) error = NULL;
	g_autoptr(GMimeMessage) reply = reply_build(
		config, message, BRIDGE, "li.na@customer.test",
		"/nonexistent/template.txt", &fields, &error);

	g_assert_null(reply);
	g_assert_error(error, M2T_ERROR, M2T_ERROR_OPERATOR);
}

typedef struct {
	int exit_status;	/* of the fake sendmail; -1: not there */
	gboolean sent;
	int code;		/* the error code when not sent */
} SendCase;

/* What each sendmail exit status means for the mail. */
static void
test_reply_send(void)
{
	/* Only a status that says this reply can never go drops it;
	 * every other one keeps the mail for another try. */
	static const SendCase cases[] = {
		{ 0, TRUE, 0 },
		{ 65, FALSE, M2T_ERROR_DATAERR },
		{ 67, FALSE, M2T_ERROR_DATAERR },
		{ 68, FALSE, M2T_ERROR_DATAERR },
		{ 69, FALSE, M2T_ERROR_DATAERR },
		{ 1, FALSE, M2T_ERROR_TEMPFAIL },
		{ 2, FALSE, M2T_ERROR_TEMPFAIL },
		{ 64, FALSE, M2T_ERROR_TEMPFAIL },
		{ 66, FALSE, M2T_ERROR_TEMPFAIL },
		{ 70, FALSE, M2T_ERROR_TEMPFAIL },
		{ 71, FALSE, M2T_ERROR_TEMPFAIL },
		{ 73, FALSE, M2T_ERROR_TEMPFAIL },
		{ 74, FALSE, M2T_ERROR_TEMPFAIL },
		{ 75, FALSE, M2T_ERROR_TEMPFAIL },
		{ 76, FALSE, M2T_ERROR_TEMPFAIL },
		{ 77, FALSE, M2T_ERROR_TEMPFAIL },
		{ 78, FALSE, M2T_ERROR_TEMPFAIL },
		{ 255, FALSE, M2T_ERROR_TEMPFAIL },
		{ -1, FALSE, M2T_ERROR_OPERATOR },
	};
	g_autofree char *script = g_build_filename(workdir, "sendmail",
						   NULL);
	g_autofree char *got = g_build_filename(workdir, "sent", NULL);

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		const SendCase *c = &cases[i];
		g_autofree char *body = g_strdup_printf(
			"#!/bin/sh\necho \"$@\" > %s\ncat >> %s\nexit %d\n",
			got, got, c->exit_status);
		g_autofree char *command = c->exit_status < 0
			? g_strdup("/nonexistent/sendmail")
			: g_strdup(script);
		g_autoptr(Config) config = config_with(command, NULL);
		g_autoptr(Message) message =
			mail_with("From: li.na@customer.test\n");
		ReplyFields fields = { .ticket = "T42", .subject = "x" };
		g_autoptr(GError) error = NULL;
		g_autoptr(GMimeMessage) reply = reply_build(
			config, message, BRIDGE, "li.na@customer.test", NULL,
			&fields, NULL);
		g_autofree char *text = NULL;
		gboolean sent;

		g_test_message("sendmail exiting %d", c->exit_status);
		g_assert_true(g_file_set_contents(script, body, -1, NULL));
		g_assert_cmpint(g_chmod(script, 0700), ==, 0);
		g_unlink(got);
		sent = reply_send(config, reply, "li.na@customer.test",
				  &error);
		g_assert_cmpint(sent, ==, c->sent);
		if (!sent) {
			g_assert_error(error, M2T_ERROR, c->code);
			continue;
		}
		g_assert_true(g_file_get_contents(got, &text, NULL, NULL));
		g_assert_true(g_str_has_prefix(
			text, "-i -f <> -- li.na@customer.test\n"));
		g_assert_nonnull(strstr(text, "Auto-Submitted: auto-replied"));
	}
}

/* Hand a reply for li.na@customer.test, with the body from TEMPLATE
 * (NULL: built in), to the sendmail script BODY. */
static gboolean
send_with_script(const char *body, const char *template, GError **error)
{
	g_autofree char *script = g_build_filename(workdir, "sendmail",
						   NULL);
	g_autoptr(Config) config = config_with(script, NULL);
	g_autoptr(Message) message = mail_with("From: li.na@customer.test\n");
	ReplyFields fields = { .ticket = "T42", .subject = "x" };
	g_autoptr(GError) build_error = NULL;
	g_autoptr(GMimeMessage) reply = reply_build(
		config, message, BRIDGE, "li.na@customer.test", template,
		&fields, &build_error);

	g_assert_no_error(build_error);
	g_assert_true(g_file_set_contents(script, body, -1, NULL));
	g_assert_cmpint(g_chmod(script, 0700), ==, 0);
	return reply_send(config, reply, "li.na@customer.test", error);
}

/* A sendmail killed by a signal has not taken the reply: try again. */
static void
test_reply_send_signal(void)
{
	g_autoptr(GError) error = NULL;

	g_assert_false(send_with_script(
		"#!/bin/sh\ncat > /dev/null\nkill -TERM $$\nexit 0\n",
		NULL, &error));
	g_assert_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL);
	g_assert_nonnull(strstr(error->message, "killed by signal 15"));
}

/*
 * A sendmail that hangs after reading the reply is stopped at the
 * timeout together with what it started, and the reply counts as
 * possibly sent.  The fake starts a helper that would write "survived"
 * to a FIFO after 5 s; reading the FIFO to its end shows that no
 * writer is left, without a clock in the test.
 */
static void
test_reply_send_timeout(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *fifo = g_build_filename(workdir, "fifo", NULL);
	g_autofree char *body = g_strdup_printf(
		"#!/bin/sh\ncat > /dev/null\nexec 3> %s\n"
		"sh -c 'sleep 5; echo survived' >&3 &\n"
		"echo started >&3\nwait\nexit 0\n", fifo);
	g_autoptr(GString) seen = g_string_new(NULL);
	gboolean sent;
	char buf[64];
	ssize_t n;
	int in;

	g_unlink(fifo);
	g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
	in = open(fifo, O_RDONLY | O_NONBLOCK);
	g_assert_cmpint(in, >=, 0);

	/* Room for a loaded machine to reach "started". */
	reply_set_sendmail_timeout_for_tests(2000);
	sent = send_with_script(body, NULL, &error);
	reply_set_sendmail_timeout_for_tests(REPLY_SENDMAIL_TIMEOUT * 1000);

	g_assert_false(sent);
	g_assert_error(error, M2T_ERROR, M2T_ERROR_UNCERTAIN);
	g_assert_nonnull(strstr(error->message,
				"did not finish within 2 s"));
	g_assert_cmpint(fcntl(in, F_SETFL, 0), ==, 0);
	while ((n = read(in, buf, sizeof buf)) > 0)
		g_string_append_len(seen, buf, n);
	close(in);
	g_assert_cmpstr(seen->str, ==, "started\n");
}

/* A sendmail that never reads a reply too big for the pipe cannot
 * block us either. */
static void
test_reply_send_timeout_unread(void)
{
	g_autofree char *template = g_build_filename(workdir, "template.txt",
						     NULL);
	g_autofree char *big = g_strnfill(256 * 1024, 'x');
	g_autoptr(GError) error = NULL;
	gboolean sent;

	g_assert_true(g_file_set_contents(template, big, -1, NULL));
	reply_set_sendmail_timeout_for_tests(300);
	sent = send_with_script("#!/bin/sh\nexec sleep 300\n", template,
				&error);
	reply_set_sendmail_timeout_for_tests(REPLY_SENDMAIL_TIMEOUT * 1000);
	g_assert_false(sent);
	g_assert_error(error, M2T_ERROR, M2T_ERROR_UNCERTAIN);
	g_assert_nonnull(strstr(error->message,
				"did not finish within 300 ms"));
}

/* The dry-run object has the documented members and types. */
static void
test_dry_run_shape(void)
{
	g_autoptr(Config) config = config_with(NULL, NULL);
	g_autoptr(Message) message = mail_with("From: li.na@customer.test\n");
	const Rule *rule = g_ptr_array_index(config->rules, 0);
	g_autoptr(Ticket) ticket = ticket_build(message, rule, config);
	DryRun run = {
		.recipient = BRIDGE, .sender = "li.na@customer.test",
		.message = message, .ticket = ticket,
		.reply_to = "li.na@customer.test",
		.reply_subject = "Auto: [ticket 000] Printer on fire",
	};
	g_autofree char *text = dryrun_json(&run);
	cJSON *json = cJSON_Parse(text);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(json, "ticket");
	static const char *const members[] = {
		"action", "reason", "rule", "recipient", "sender",
		"message_id", "ticket", "attachments", "reply",
	};

	g_assert_nonnull(json);
	g_assert_null(strchr(text, '\n'));
	for (gsize i = 0; i < G_N_ELEMENTS(members); i++)
		g_assert_true(cJSON_HasObjectItem(json, members[i]));
	g_assert_cmpstr(cJSON_GetStringValue(
		cJSON_GetObjectItem(json, "action")), ==, "create");
	g_assert_true(cJSON_IsNull(cJSON_GetObjectItem(json, "reason")));
	g_assert_cmpstr(cJSON_GetStringValue(
		cJSON_GetObjectItem(json, "rule")), ==, "support");
	g_assert_cmpstr(cJSON_GetStringValue(
		cJSON_GetObjectItem(json, "message_id")), ==,
		"m1@customer.test");
	g_assert_cmpint(cJSON_GetObjectItem(t, "productId")->valueint, ==,
			12);
	g_assert_true(cJSON_IsNull(
		cJSON_GetObjectItem(t, "customerCommonQuestionId")));
	g_assert_cmpstr(cJSON_GetStringValue(
		cJSON_GetObjectItem(t, "title")), ==, "Printer on fire");
	g_assert_true(cJSON_IsArray(cJSON_GetObjectItem(json,
							"attachments")));
	g_assert_cmpstr(cJSON_GetStringValue(cJSON_GetObjectItem(
		cJSON_GetObjectItem(json, "reply"), "to")), ==,
		"li.na@customer.test");
	cJSON_Delete(json);
}

/* A discarded mail: action discard, its reason, no ticket, no reply. */
static void
test_dry_run_discard(void)
{
	g_autoptr(Message) message = mail_with("From: " BRIDGE "\n");
	DryRun run = {
		.discard = TRUE, .reason = "sent from the bridge's own address",
		.recipient = BRIDGE, .sender = BRIDGE, .message = message,
	};
	g_autofree char *text = dryrun_json(&run);
	cJSON *json = cJSON_Parse(text);

	g_assert_cmpstr(cJSON_GetStringValue(
		cJSON_GetObjectItem(json, "action")), ==, "discard");
	g_assert_cmpstr(cJSON_GetStringValue(
		cJSON_GetObjectItem(json, "reason")), ==,
		"sent from the bridge's own address");
	g_assert_true(cJSON_IsNull(cJSON_GetObjectItem(json, "reply")));
	cJSON_Delete(json);
}

/* Remove the files the tests made, then their folder. */
static void
remove_workdir(void)
{
	static const char *const names[] = {
		"m2t.conf", "sendmail", "sent", "fifo", "template.txt",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autofree char *path = g_build_filename(workdir, names[i],
							 NULL);

		g_unlink(path);
	}
	g_rmdir(workdir);
	g_free(workdir);
}

int
main(int argc, char **argv)
{
	int status;

	g_test_init(&argc, &argv, NULL);
	g_mime_init();
	workdir = g_dir_make_tmp("m2t-screen-XXXXXX", NULL);
	g_assert_nonnull(workdir);

	g_test_add_func("/screen/kinds", test_screening);
	g_test_add_func("/screen/replies-disabled", test_replies_disabled);
	g_test_add_func("/reply/expand", test_expand);
	g_test_add_func("/reply/headers", test_reply_headers);
	g_test_add_func("/reply/template-missing",
			test_reply_template_missing);
	g_test_add_func("/reply/send", test_reply_send);
	g_test_add_func("/reply/send-signal", test_reply_send_signal);
	g_test_add_func("/reply/send-timeout", test_reply_send_timeout);
	g_test_add_func("/reply/send-timeout-unread",
			test_reply_send_timeout_unread);
	g_test_add_func("/dryrun/shape", test_dry_run_shape);
	g_test_add_func("/dryrun/discard", test_dry_run_discard);
	status = g_test_run();

	remove_workdir();
	g_mime_shutdown();
	return status;
}
