/*
 * reply.c - composing the auto-reply and handing it to sendmail.
 *
 * Entry points: reply_expand(), reply_subject(), reply_build(),
 * reply_send().  [reply] sendmail is a command line split like a shell
 * would (no shell runs it); the reply goes to it as
 *     SENDMAIL... -i -f <> -- TO
 * with the message on stdin and an environment reduced to PATH, TZ and
 * MAIL_CONFIG, so that nothing of ours leaks into it.
 */
#include "autoconfig.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "reply.h"
#include "spool.h"

static const char reply_default_body[] =
	"Hello,\n"
	"\n"
	"we have received your mail \"%{subject}\" and opened ticket\n"
	"%{ticket} for it. Please keep the ticket ID in the subject when\n"
	"you write to us about this request.\n"
	"\n"
	"您好，我们已收到您的邮件，并为其创建了工单 %{ticket}。\n"
	"如需就此问题继续联系我们，请在邮件主题中保留工单号。\n"
	"\n"
	"-- \n"
	"This is an automatic reply. 此邮件为自动回复。\n";

/* The value of the template field NAME (LEN bytes), or NULL. */
static const char *
field_value(const ReplyFields *fields, const char *name, gsize len)
{
	static const struct {
		const char *name;
		gsize offset;
	} table[] = {
		{ "ticket", G_STRUCT_OFFSET(ReplyFields, ticket) },
		{ "subject", G_STRUCT_OFFSET(ReplyFields, subject) },
		{ "rule", G_STRUCT_OFFSET(ReplyFields, rule) },
		{ "product", G_STRUCT_OFFSET(ReplyFields, product) },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(table); i++)
		if (strlen(table[i].name) == len &&
		    strncmp(table[i].name, name, len) == 0) {
			const char *value = G_STRUCT_MEMBER(const char *,
							    fields,
							    table[i].offset);

			return value ? value : "";
		}
	return NULL;
}

/* TEMPLATE with every %{name} replaced from FIELDS (owned). */
char *
reply_expand(const char *template, const ReplyFields *fields)
{
	GString *out = g_string_new(NULL);
	const char *p = template;

	while (*p != '\0') {
		const char *open = strstr(p, "%{");
		const char *close;
		const char *value;

		if (open == NULL)
			break;
		g_string_append_len(out, p, open - p);
		close = strchr(open + 2, '}');
		value = close ? field_value(fields, open + 2,
					    close - open - 2) : NULL;
		if (value == NULL) {
			/* not a field of ours: keep it as written */
			g_string_append(out, "%{");
			p = open + 2;
			continue;
		}
		g_string_append(out, value);
		p = close + 1;
	}
	g_string_append(out, p);
	return g_string_free(out, FALSE);
}

/* The reply's subject, on one line (owned). */
char *
reply_subject(const Config *config, const ReplyFields *fields)
{
	char *subject = reply_expand(config->reply_subject, fields);

	return g_strstrip(g_strdelimit(subject, "\r\n\t", ' '));
}

/* The body from TEMPLATE_PATH, or the built-in one, expanded (owned). */
static char *
reply_body(const char *template_path, const ReplyFields *fields,
	   GError **error)
{
	g_autofree char *template = NULL;
	g_autoptr(GError) local = NULL;

	if (template_path == NULL)
		return reply_expand(reply_default_body, fields);
	if (!g_file_get_contents(template_path, &template, NULL, &local)) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_OPERATOR,
			    "cannot read the reply template: %s",
			    local->message);
		return NULL;
	}
	if (!g_utf8_validate(template, -1, NULL)) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_OPERATOR,
			    "the reply template %s is not UTF-8",
			    template_path);
		return NULL;
	}
	return reply_expand(template, fields);
}

/* The References of the reply: the mail's own, then its Message-ID. */
static char *
reply_references(const Message *message)
{
	const char *earlier = message->references ? message->references
						  : message->in_reply_to;
	g_autofree char *joined = NULL;

	if (earlier == NULL)
		return g_strdup_printf("<%s>", message->message_id);
	joined = g_strdup_printf("%s <%s>", earlier, message->message_id);
	g_strstrip(g_strdelimit(joined, "\r\n\t", ' '));
	return g_steal_pointer(&joined);
}

/* The reply to MESSAGE; see reply.h. */
GMimeMessage *
reply_build(const Config *config, const Message *message, const char *from,
	    const char *to, const char *template_path,
	    const ReplyFields *fields, GError **error)
{
	g_autoptr(GMimeMessage) reply = g_mime_message_new(TRUE);
	g_autoptr(GMimeTextPart) text = NULL;
	g_autoptr(GDateTime) now = g_date_time_new_now_local();
	g_autofree char *body = NULL;
	g_autofree char *subject = NULL;
	g_autofree char *id = NULL;
	GMimeObject *object = GMIME_OBJECT(reply);
	const char *domain = strrchr(from, '@');

	body = reply_body(template_path, fields, error);
	if (body == NULL)
		return NULL;

	g_mime_message_add_mailbox(reply, GMIME_ADDRESS_TYPE_FROM, NULL,
				   from);
	g_mime_message_add_mailbox(reply, GMIME_ADDRESS_TYPE_TO, NULL, to);
	subject = reply_subject(config, fields);
	g_mime_message_set_subject(reply, subject, "utf-8");
	g_mime_message_set_date(reply, now);
	id = g_mime_utils_generate_message_id(domain ? domain + 1
					      : "localhost");
	g_mime_message_set_message_id(reply, id);

	/* Thread the reply under the customer's mail (RFC 3834 3.1.6). */
	if (message->message_id != NULL) {
		g_autofree char *in_reply_to =
			g_strdup_printf("<%s>", message->message_id);
		g_autofree char *references = reply_references(message);

		g_mime_object_set_header(object, "In-Reply-To", in_reply_to,
					 NULL);
		g_mime_object_set_header(object, "References", references,
					 NULL);
	}

	/* Say it is automatic, ask others not to answer it, and mark it so
	 * that screen.c recognises it if it ever comes back. */
	g_mime_object_set_header(object, "Auto-Submitted", "auto-replied",
				 NULL);
	g_mime_object_set_header(object, "X-Auto-Response-Suppress", "All",
				 NULL);
	g_mime_object_set_header(object, "Precedence", "bulk", NULL);
	g_mime_object_set_header(object, "X-Loop", from, NULL);

	text = g_mime_text_part_new_with_subtype("plain");
	g_mime_text_part_set_text(text, body);
	g_mime_part_set_content_encoding(
		GMIME_PART(text),
		g_mime_part_get_best_content_encoding(
			GMIME_PART(text), GMIME_ENCODING_CONSTRAINT_7BIT));
	g_mime_message_set_mime_part(reply, GMIME_OBJECT(text));
	return g_steal_pointer(&reply);
}

/* The environment for sendmail: only what a mail command needs. */
static char **
sendmail_environment(void)
{
	static const char *const keep[] = { "TZ", "MAIL_CONFIG", NULL };
	g_autoptr(GStrvBuilder) env = g_strv_builder_new();

	g_strv_builder_add(env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin");
	for (const char *const *k = keep; *k != NULL; k++) {
		const char *value = g_getenv(*k);

		if (value != NULL) {
			g_autofree char *pair = g_strdup_printf("%s=%s", *k,
								value);

			g_strv_builder_add(env, pair);
		}
	}
	return g_strv_builder_end(env);
}

/* TRUE when TO is a plain address that is safe on a command line. */
static gboolean
is_plain_address(const char *to)
{
	if (to == NULL || *to == '\0' || *to == '-' || strchr(to, '@') == NULL)
		return FALSE;
	for (const char *p = to; *p != '\0'; p++)
		if ((guchar) *p <= ' ' || *p == '<' || *p == '>' ||
		    (guchar) *p == 0x7f)
			return FALSE;
	return TRUE;
}

/* Hand REPLY to [reply] sendmail for TO; see reply.h. */
gboolean
reply_send(const Config *config, GMimeMessage *reply, const char *to,
	   GError **error)
{
	g_auto(GStrv) command = NULL;
	g_auto(GStrv) env = sendmail_environment();
	g_autoptr(GStrvBuilder) argv = g_strv_builder_new();
	g_auto(GStrv) args = NULL;
	g_autoptr(GError) local = NULL;
	g_autofree char *text = NULL;
	GPid pid;
	int input;
	int status;
	gboolean written;
	struct sigaction ignore = { .sa_handler = SIG_IGN }, old;

	if (!is_plain_address(to)) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_DATAERR,
			    "the reply address is not usable");
		return FALSE;
	}
	if (!g_shell_parse_argv(config->sendmail, NULL, &command, &local)) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_OPERATOR,
			    "[reply] sendmail is not a command: %s",
			    local->message);
		return FALSE;
	}
	g_strv_builder_addv(argv, (const char **) command);
	g_strv_builder_add_many(argv, "-i", "-f", "<>", "--", to, NULL);
	args = g_strv_builder_end(argv);

	if (!g_spawn_async_with_pipes(NULL, args, env,
				      G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
				      &pid, &input, NULL, NULL, &local)) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_OPERATOR,
			    "cannot run %s: %s", args[0], local->message);
		return FALSE;
	}

	text = g_mime_object_to_string(GMIME_OBJECT(reply), NULL);
	sigaction(SIGPIPE, &ignore, &old);
	written = spool_write_all(input, text, strlen(text));
	close(input);
	sigaction(SIGPIPE, &old, NULL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	g_spawn_close_pid(pid);

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && written)
		return TRUE;
	if (WIFEXITED(status)) {
		int code = WEXITSTATUS(status);

		if (code == EX_TEMPFAIL || code == EX_OSERR ||
		    code == EX_CANTCREAT || code == EX_IOERR || code == 0) {
			g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
				    "%s deferred the reply (exit %d)",
				    args[0], code);
			return FALSE;
		}
		g_set_error(error, M2T_ERROR, M2T_ERROR_DATAERR,
			    "%s refused the reply (exit %d)", args[0], code);
		return FALSE;
	}
	g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
		    "%s was killed by signal %d", args[0],
		    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return FALSE;
}
