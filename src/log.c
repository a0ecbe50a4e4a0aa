/*
 * log.c - syslog (facility mail) and, by hand, stderr.
 *
 * Entry points: log_open(), log_debug/info/warning/error(), log_mail(),
 * log_quote().  Debug lines are written only after log_open(.., TRUE).
 * Lines are cut at LOG_LINE_MAX bytes so that a hostile header cannot
 * flood the log.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

#define LOG_LINE_MAX 2000

static gboolean log_to_stderr;
static gboolean log_debug_on;

/* Start logging: syslog always, stderr when TO_STDERR. */
void
log_open(gboolean to_stderr, gboolean debug)
{
	log_to_stderr = to_stderr;
	log_debug_on = debug;
	openlog("mail2ticket", LOG_PID, LOG_MAIL);
}

/* Stop logging. */
void
log_close(void)
{
	closelog();
}

/* Write one line at PRIORITY to every destination. */
static void
log_write(int priority, const char *format, va_list args)
{
	g_autofree char *line = g_strdup_vprintf(format, args);
	const char *label = "";

	if (priority == LOG_DEBUG && !log_debug_on)
		return;
	if (strlen(line) > LOG_LINE_MAX) {
		const char *end = line + LOG_LINE_MAX;

		/* cut on a character boundary */
		end = g_utf8_find_prev_char(line, end + 1);
		line[end - line] = '\0';
	}
	g_strdelimit(line, "\r\n", ' ');

	syslog(priority, "%s", line);
	if (!log_to_stderr)
		return;
	switch (priority) {
	case LOG_ERR:
		label = "error: ";
		break;
	case LOG_WARNING:
		label = "warning: ";
		break;
	case LOG_DEBUG:
		label = "debug: ";
		break;
	}
	fprintf(stderr, "mail2ticket: %s%s\n", label, line);
}

/* Log at debug level (only with --debug). */
void
log_debug(const char *format, ...)
{
	va_list args;

	va_start(args, format);
	log_write(LOG_DEBUG, format, args);
	va_end(args);
}

/* Log at info level. */
void
log_info(const char *format, ...)
{
	va_list args;

	va_start(args, format);
	log_write(LOG_INFO, format, args);
	va_end(args);
}

/* Log at warning level: something was skipped, and why. */
void
log_warning(const char *format, ...)
{
	va_list args;

	va_start(args, format);
	log_write(LOG_WARNING, format, args);
	va_end(args);
}

/* Log at error level: the operator must act. */
void
log_error(const char *format, ...)
{
	va_list args;

	va_start(args, format);
	log_write(LOG_ERR, format, args);
	va_end(args);
}

/* VALUE as a log value: bare when safe, else quoted (owned). */
char *
log_quote(const char *value)
{
	GString *out;
	const char *p;

	if (value == NULL)
		return g_strdup("");
	for (p = value; *p != '\0'; p++) {
		if ((guchar) *p <= ' ' || *p == '"' || *p == '\\' ||
		    *p == '=' || (guchar) *p == 0x7f)
			break;
	}
	if (*p == '\0' && *value != '\0')
		return g_strdup(value);

	out = g_string_new("\"");
	for (p = value; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_c(out, '\\');
		if ((guchar) *p < ' ' || (guchar) *p == 0x7f)
			g_string_append_c(out, ' ');
		else
			g_string_append_c(out, *p);
	}
	g_string_append_c(out, '"');
	return g_string_free(out, FALSE);
}

/* Append " key=value" to LINE when VALUE is set. */
static void
append_field(GString *line, const char *key, const char *value)
{
	g_autofree char *quoted = NULL;

	if (value == NULL)
		return;
	quoted = log_quote(value);
	g_string_append_printf(line, "%s%s=%s", line->len ? " " : "", key,
			       quoted);
}

/* Write the one line for a mail: info, or error for operator faults. */
void
log_mail(const LogMail *entry, gboolean is_error)
{
	g_autoptr(GString) line = g_string_new(NULL);
	g_autofree char *message_id = NULL;
	g_autofree char *from = NULL;
	g_autofree char *to = NULL;
	g_autofree char *count = NULL;
	g_autofree char *delay = NULL;

	if (entry->message_id != NULL)
		message_id = g_strdup_printf("<%s>", entry->message_id);
	if (entry->from != NULL)
		from = g_strdup_printf("<%s>", entry->from);
	if (entry->to != NULL)
		to = g_strdup_printf("<%s>", entry->to);
	if (entry->attachments >= 0)
		count = g_strdup_printf("%d", entry->attachments);
	delay = g_strdup_printf("%.3f",
				(g_get_monotonic_time() - entry->start) / 1e6);

	append_field(line, "message-id", message_id);
	append_field(line, "from", from);
	append_field(line, "to", to);
	append_field(line, "rule", entry->rule);
	append_field(line, "product", entry->product);
	append_field(line, "ticket", entry->ticket);
	append_field(line, "attachments", count);
	append_field(line, "status", entry->status);
	append_field(line, "reason", entry->reason);
	append_field(line, "quarantine", entry->quarantine);
	append_field(line, "delay", delay);

	if (is_error)
		log_error("%s", line->str);
	else
		log_info("%s", line->str);
}
