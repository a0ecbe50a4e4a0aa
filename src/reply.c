/*
 * reply.c - composing the auto-reply and handing it to sendmail.
 *
 * Entry points: reply_expand(), reply_subject(), reply_build(),
 * reply_send().  [reply] sendmail is a command line split like a shell
 * would (no shell runs it); the reply goes to it as
 *     SENDMAIL... -i -f <> -- TO
 * with the message on stdin and an environment reduced to PATH, TZ and
 * MAIL_CONFIG, so that nothing of ours leaks into it.  It runs in a
 * process group of its own and is killed with it after
 * REPLY_SENDMAIL_TIMEOUT, before Postfix's command_time_limit would
 * bounce the mail.
 */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <glib-unix.h>

#include "error.h"
#include "log.h"
#include "reply.h"

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

/* How long sendmail may take; lowered by the tests only. */
static guint sendmail_timeout_ms = REPLY_SENDMAIL_TIMEOUT * 1000;

/* For the tests only; see reply.h. */
void
reply_set_sendmail_timeout_for_tests(guint milliseconds)
{
	sendmail_timeout_ms = milliseconds;
}

/* Milliseconds left until DEADLINE (a g_get_monotonic_time()), >= 0. */
static int
ms_left(gint64 deadline)
{
	gint64 left = deadline - g_get_monotonic_time();

	return left <= 0 ? 0 : (int) MIN((left + 999) / 1000, G_MAXINT);
}

/* Put sendmail in a process group of its own, so that a timeout can
 * stop whatever it starts too (Postfix's sendmail runs postdrop). */
static void
own_process_group(gpointer unused)
{
	(void) unused;
	setpgid(0, 0);
}

/*
 * Write LEN bytes of BUF to the pipe FD (non-blocking) before DEADLINE.
 * FALSE when sendmail stopped reading (*TIMED_OUT set when the time
 * ran out), so that a sendmail that never reads cannot block us.
 */
static gboolean
write_until(int fd, const char *buf, gsize len, gint64 deadline,
	    gboolean *timed_out)
{
	while (len > 0) {
		struct pollfd out = { .fd = fd, .events = POLLOUT };
		int ready = poll(&out, 1, ms_left(deadline));
		ssize_t n;

		if (ready < 0 && errno == EINTR)
			continue;
		if (ready == 0) {
			*timed_out = TRUE;
			return FALSE;
		}
		if (ready < 0)
			return FALSE;
		n = write(fd, buf, len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return FALSE;	/* EPIPE: sendmail has gone */
		buf += n;
		len -= (gsize) n;
	}
	return TRUE;
}

/*
 * Wait for PID until DEADLINE: 1 with *STATUS when it ended, 0 when the
 * time ran out, -1 (errno set) when it cannot be waited for.  A short
 * sleep between looks keeps this free of signal handlers, which are
 * not ours to set in a module.
 */
static int
wait_until(GPid pid, gint64 deadline, int *status)
{
	for (;;) {
		pid_t done = waitpid(pid, status, WNOHANG);

		if (done == pid)
			return 1;
		if (done < 0 && errno != EINTR)
			return -1;
		if (g_get_monotonic_time() >= deadline)
			return 0;
		g_usleep(MIN(10, ms_left(deadline)) * 1000);
	}
}

/* Stop sendmail PID and whatever it started, and reap it. */
static void
stop_sendmail(GPid pid)
{
	int status;

	/* The group may not exist yet when the child has not run setpgid:
	 * then the process itself is hit. */
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

/* The exit statuses of sendmail that say this reply can never go. */
static gboolean
is_permanent_refusal(int code)
{
	return code == EX_DATAERR || code == EX_NOUSER ||
	       code == EX_NOHOST || code == EX_UNAVAILABLE;
}

/* The error for sendmail COMMAND ending with STATUS, WRITTEN telling
 * whether it took the whole reply. */
static void
set_sendmail_error(const char *command, int status, gboolean written,
		   GError **error)
{
	int code;

	if (!WIFEXITED(status)) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
			    "%s was killed by signal %d", command,
			    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		return;
	}
	code = WEXITSTATUS(status);
	if (code == 0 && !written) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
			    "%s ended before it read the whole reply",
			    command);
		return;
	}
	if (is_permanent_refusal(code)) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_DATAERR,
			    "%s refused the reply (exit %d)", command, code);
		return;
	}
	/* When in doubt, keep the mail: the next delivery tries again. */
	g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
		    "%s deferred the reply (exit %d)", command, code);
}

/* The error for sendmail COMMAND that did not finish in time. */
static void
set_timeout_error(const char *command, GError **error)
{
	if (sendmail_timeout_ms % 1000 == 0)
		g_set_error(error, M2T_ERROR, M2T_ERROR_UNCERTAIN,
			    "%s did not finish within %u s", command,
			    sendmail_timeout_ms / 1000);
	else
		g_set_error(error, M2T_ERROR, M2T_ERROR_UNCERTAIN,
			    "%s did not finish within %u ms", command,
			    sendmail_timeout_ms);
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
	gint64 deadline;
	GPid pid;
	int input;
	int status;
	gboolean written;
	gboolean timed_out = FALSE;
	int ended;
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
				      G_SPAWN_DO_NOT_REAP_CHILD,
				      own_process_group, NULL,
				      &pid, &input, NULL, NULL, &local)) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_OPERATOR,
			    "cannot run %s: %s", args[0], local->message);
		return FALSE;
	}
	/* Also from here, in case we look before the child has run. */
	setpgid(pid, pid);
	deadline = g_get_monotonic_time() +
		   (gint64) sendmail_timeout_ms * 1000;

	text = g_mime_object_to_string(GMIME_OBJECT(reply), NULL);
	sigaction(SIGPIPE, &ignore, &old);
	written = g_unix_set_fd_nonblocking(input, TRUE, NULL) &&
		  write_until(input, text, strlen(text), deadline,
			      &timed_out);
	close(input);
	sigaction(SIGPIPE, &old, NULL);

	ended = timed_out ? 0 : wait_until(pid, deadline, &status);
	if (ended <= 0) {
		/* It may have queued the reply before it hung (or before we
		 * lost it): the caller keeps the journal at "replying" so
		 * that no second reply ever goes. */
		int saved = errno;

		stop_sendmail(pid);
		g_spawn_close_pid(pid);
		if (ended < 0)
			g_set_error(error, M2T_ERROR, M2T_ERROR_UNCERTAIN,
				    "cannot wait for %s: %s", args[0],
				    g_strerror(saved));
		else
			set_timeout_error(args[0], error);
		return FALSE;
	}
	g_spawn_close_pid(pid);

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && written)
		return TRUE;
	set_sendmail_error(args[0], status, written, error);
	return FALSE;
}
