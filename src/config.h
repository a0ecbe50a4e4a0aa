/*
 * config.h - the configuration file (a GKeyFile) and the rules in it.
 *
 * config_load() reads the file, fills in every documented default,
 * takes the credentials from the file, else from Alibaba Cloud's
 * environment variables, else from its credentials file, and refuses a
 * file that holds a secret and can be read by group or others.
 * config_check() does the same and lists every problem it finds, with
 * the group and key, for --check-config.
 *
 * Every key is declared once, in config.c's table, beside its default
 * and the line of documentation that --help-config prints.
 */
#ifndef M2T_CONFIG_H
#define M2T_CONFIG_H

#include <stdio.h>

#include <glib.h>

/* One [rule:NAME] group. */
typedef struct {
	char *name;		/* NAME from [rule:NAME] */
	char **recipients;	/* exact, @domain or shell-style patterns */
	gint64 product_id;	/* 0 when unset */
	gint64 question_id;	/* customer_common_question_id, 0 unset */
	char *ali_uid;		/* override, or NULL */
	char *sms_alert_time;	/* override, or NULL */
	char *template;		/* reply template override, or NULL */
} Rule;

typedef struct {
	char *path;		/* the file read, or NULL */

	/* [api] */
	char *endpoint;
	char *access_key_id;
	char *access_key_secret;	/* secret: never logged */
	char *security_token;		/* secret: never logged */
	char *version;
	guint timeout;			/* seconds, per request */
	guint retry_budget;		/* seconds for retries in one run */
	char *credentials_source;	/* "config", "environment", file */

	/* [ticket] */
	char *ali_uid;
	char *sms_alert_time;
	char *phone;
	guint title_max_length;		/* characters */

	/* [mail] */
	gsize max_size;			/* bytes */
	char **fallback_charsets;	/* for raw 8-bit headers */
	char *tmpdir;

	/* [reply] */
	gboolean reply_enabled;
	char *reply_from;
	char *reply_subject;
	char *sendmail;
	char *reply_template;

	/* [journal] */
	char *journal_dir;
	guint journal_max_age;		/* days */
	guint journal_lock_wait;	/* seconds */

	/* [quarantine] */
	char *quarantine_dir;

	GPtrArray *rules;		/* Rule*, in file order */
} Config;

/* The path used when --config is not given. */
const char *config_default_path(void);

/* Read and validate PATH; NULL with M2T_ERROR_OPERATOR on any problem. */
Config *config_load(const char *path, GError **error);

/* Every problem in PATH, one line each ("file:group.key: what"). */
GPtrArray *config_check(const char *path);

/* Print every key with its default and its documentation. */
void config_print_reference(FILE *out);

void config_free(Config *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Config, config_free)

#endif
