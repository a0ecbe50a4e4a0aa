/*
 * log.h - what mail2ticket tells the mail administrator.
 *
 * Lines go to syslog (facility mail, ident mail2ticket) and, when run by
 * hand (stderr is a terminal) or with --verbose, to stderr as well.
 * One info line per mail (log_mail), in key=value form and fixed order;
 * warnings say what was skipped and why.  Nothing secret is ever
 * passed here.
 */
#ifndef M2T_LOG_H
#define M2T_LOG_H

#include <glib.h>

void log_open(gboolean to_stderr, gboolean debug);
void log_close(void);

void log_debug(const char *format, ...) G_GNUC_PRINTF(1, 2);
void log_info(const char *format, ...) G_GNUC_PRINTF(1, 2);
void log_warning(const char *format, ...) G_GNUC_PRINTF(1, 2);
void log_error(const char *format, ...) G_GNUC_PRINTF(1, 2);

/* The summary of one mail; NULL fields are left out of the line. */
typedef struct {
	const char *message_id;
	const char *from;
	const char *to;
	const char *rule;
	const char *product;
	const char *ticket;
	int attachments;	/* uploaded; -1 to leave out */
	const char *status;	/* created, resumed, duplicate, discarded,
				 * deferred, bounced, dry-run */
	const char *reason;
	const char *quarantine;	/* path of the quarantine copy */
	gint64 start;		/* g_get_monotonic_time() at start */
} LogMail;

/* Write the one line for a mail: info, or error for operator faults. */
void log_mail(const LogMail *entry, gboolean is_error);

/* VALUE as a log value: bare when safe, else quoted (owned). */
char *log_quote(const char *value);

#endif
