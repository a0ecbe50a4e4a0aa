/*
 * config.c - reading and checking mail2ticket.conf.
 *
 * Entry points: config_load(), config_check(), config_print_reference(),
 * config_free().  Every key of the fixed groups is declared once in
 * config_keys[], with its type, default and documentation; the rule
 * groups' keys in rule_keys[].  Reading collects every problem instead
 * of stopping at the first, so that --check-config can list them all.
 *
 * Credentials: [api] in the file, else ALIBABA_CLOUD_ACCESS_KEY_ID,
 * ALIBABA_CLOUD_ACCESS_KEY_SECRET and ALIBABA_CLOUD_SECURITY_TOKEN,
 * else the [default] (or $ALIBABA_CLOUD_PROFILE) section of Alibaba
 * Cloud's credentials file ($ALIBABA_CLOUD_CREDENTIALS_FILE, else
 * ~/.alibabacloud/credentials).  The three values always come from one
 * source.
 *
 * Nothing read from the files is echoed unless it is a plain key name or
 * a value that cannot be a secret: GLib's parse messages quote the
 * offending line, so a syntax error is reported by line number only.
 * An empty value of a key with a default is refused.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "config.h"
#include "error.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

#define DEFAULT_CONFIG SYSCONFDIR "/mail2ticket/mail2ticket.conf"
#define DEFAULT_STATE LOCALSTATEDIR "/lib/mail2ticket"

typedef enum {
	KEY_STRING,
	KEY_SECRET,	/* a string never shown, and a reason for mode 600 */
	KEY_BOOL,
	KEY_UINT,
	KEY_SIZE,	/* bytes, with an optional K, M or G suffix */
	KEY_LIST,	/* ";" separated */
} KeyType;

typedef struct {
	const char *group;
	const char *key;
	KeyType type;
	const char *fallback;	/* the default, as written in the file */
	gsize offset;		/* where it goes in Config */
	guint min, max;		/* bounds of a KEY_UINT */
	const char *doc;
} ConfigKey;

#define AT(field) G_STRUCT_OFFSET(Config, field)

static const ConfigKey config_keys[] = {
	{ "api", "endpoint", KEY_STRING, "https://workorder.aliyuncs.com/",
	  AT(endpoint), 0, 0,
	  "address of the workorder API (http or https)" },
	{ "api", "access_key_id", KEY_STRING, NULL, AT(access_key_id), 0, 0,
	  "AccessKey ID (else ALIBABA_CLOUD_ACCESS_KEY_ID)" },
	{ "api", "access_key_secret", KEY_SECRET, NULL,
	  AT(access_key_secret), 0, 0,
	  "AccessKey secret (else ALIBABA_CLOUD_ACCESS_KEY_SECRET); "
	  "the file must then be mode 600" },
	{ "api", "security_token", KEY_SECRET, NULL, AT(security_token), 0, 0,
	  "STS token for temporary keys (else "
	  "ALIBABA_CLOUD_SECURITY_TOKEN)" },
	{ "api", "version", KEY_STRING, "2016-08-30", AT(version), 0, 0,
	  "API version sent with every request" },
	{ "api", "timeout", KEY_UINT, "20", AT(timeout), 1, 600,
	  "seconds allowed for one HTTP request" },
	{ "api", "retry_budget", KEY_UINT, "60", AT(retry_budget), 0, 900,
	  "seconds spent retrying transient failures within one "
	  "delivery; 0 leaves every retry to the mail server" },

	{ "ticket", "ali_uid", KEY_STRING, NULL, AT(ali_uid), 0, 0,
	  "aliUid, the account that owns the tickets (digits)" },
	{ "ticket", "sms_alert_time", KEY_STRING, NULL, AT(sms_alert_time),
	  0, 0, "smsAlertTime sent with Add; unset: the API's default" },
	{ "ticket", "phone", KEY_STRING, NULL, AT(phone), 0, 0,
	  "phone number sent with Add; unset: none" },
	{ "ticket", "title_max_length", KEY_UINT, "128",
	  AT(title_max_length), 10, 1000,
	  "longest title, in characters; longer subjects are cut" },

	{ "mail", "max_size", KEY_SIZE, "25M", AT(max_size), 0, 0,
	  "largest message accepted (K, M, G suffixes)" },
	{ "mail", "fallback_charsets", KEY_LIST, "utf-8;gb18030;windows-1252",
	  AT(fallback_charsets), 0, 0,
	  "charsets tried, in order, for text that does not say its own" },
	{ "mail", "tmpdir", KEY_STRING, NULL, AT(tmpdir), 0, 0,
	  "where the message is spooled; unset: $TMPDIR, else /tmp" },

	{ "reply", "enabled", KEY_BOOL, "true", AT(reply_enabled), 0, 0,
	  "send the sender a reply with the ticket ID" },
	{ "reply", "from", KEY_STRING, NULL, AT(reply_from), 0, 0,
	  "From of the reply; unset: the address the mail was sent to" },
	{ "reply", "subject", KEY_STRING,
	  "Auto: [ticket %{ticket}] %{subject}", AT(reply_subject), 0, 0,
	  "subject of the reply; %{ticket}, %{subject}, %{rule} and "
	  "%{product} are replaced" },
	{ "reply", "sendmail", KEY_STRING, "/usr/sbin/sendmail", AT(sendmail),
	  0, 0, "sendmail-compatible command that sends the reply" },
	{ "reply", "template", KEY_STRING, NULL, AT(reply_template), 0, 0,
	  "file with the reply's body, same % fields; unset: built in" },

	{ "journal", "dir", KEY_STRING, DEFAULT_STATE "/journal",
	  AT(journal_dir), 0, 0,
	  "where the progress of each mail is recorded" },
	{ "journal", "max_age", KEY_UINT, "30", AT(journal_max_age), 1, 3650,
	  "days a finished entry is kept, to recognise redeliveries" },
	{ "journal", "lock_wait", KEY_UINT, "30", AT(journal_lock_wait),
	  0, 600, "seconds to wait for another delivery of the same mail" },

	{ "quarantine", "dir", KEY_STRING, DEFAULT_STATE "/quarantine",
	  AT(quarantine_dir), 0, 0,
	  "where a mail that bounces is kept, with a note of why" },
};

/* Keys of a [rule:NAME] group. */
static const char *const rule_keys[] = {
	"recipients", "product_id", "customer_common_question_id",
	"ali_uid", "sms_alert_time", "template", NULL,
};

#define RULE_PREFIX "rule:"

/* The path used when --config is not given. */
const char *
config_default_path(void)
{
	return DEFAULT_CONFIG;
}

/* KEY as it may be shown in a problem: a line such as "secret=" or
 * "security_token CAIS...==" makes a key of a secret, so only a plain
 * name (lower case, digits, "_") is repeated. */
static const char *
shown_key(const char *key)
{
	gsize length = strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_");

	return key[length] == '\0' && length <= 40 ? key
		: "(not shown: not a plain name)";
}

/* Add a problem "where: what" to PROBLEMS. */
G_GNUC_PRINTF(3, 4) static void
problem(GPtrArray *problems, const char *where, const char *format, ...)
{
	va_list args;
	g_autofree char *what = NULL;

	va_start(args, format);
	what = g_strdup_vprintf(format, args);
	va_end(args);
	g_ptr_array_add(problems, g_strdup_printf("%s: %s", where, what));
}

/* TRUE when S is a non-empty string of decimal digits. */
static gboolean
is_digits(const char *s)
{
	if (s == NULL || *s == '\0')
		return FALSE;
	for (; *s != '\0'; s++)
		if (!g_ascii_isdigit(*s))
			return FALSE;
	return TRUE;
}

/* Parse "25M" and the like into *BYTES. */
static gboolean
parse_size(const char *text, gsize *bytes)
{
	char *end = NULL;
	guint64 value;

	if (!g_ascii_isdigit(*text))
		return FALSE;
	value = g_ascii_strtoull(text, &end, 10);
	switch (g_ascii_toupper(*end)) {
	case 'G':
		value *= 1024;
		/* fall through */
	case 'M':
		value *= 1024;
		/* fall through */
	case 'K':
		value *= 1024;
		end++;
		break;
	}
	if (*end != '\0' && g_ascii_strcasecmp(end, "B") != 0)
		return FALSE;
	*bytes = value;
	return TRUE;
}

/* Store TEXT, the value of K, into CONFIG; record a problem if bad. */
static void
set_value(Config *config, const ConfigKey *k, const char *text,
	  const char *where, GPtrArray *problems)
{
	gpointer slot = G_STRUCT_MEMBER_P(config, k->offset);
	char *end = NULL;
	guint64 number;

	/* "key =" is refused rather than guessed at: the program needs a
	 * value for every key with a default, and an admin who wrote the
	 * line meant something.  Keys without a default are then unset. */
	if (*text == '\0' && k->fallback != NULL) {
		problem(problems, where, "is empty; remove the line to use "
			"the default \"%s\"", k->fallback);
		return;
	}

	switch (k->type) {
	case KEY_STRING:
	case KEY_SECRET:
		g_free(*(char **) slot);
		*(char **) slot = *text ? g_strdup(text) : NULL;
		break;
	case KEY_BOOL:
		if (!g_ascii_strcasecmp(text, "true") ||
		    !g_ascii_strcasecmp(text, "yes") || !strcmp(text, "1"))
			*(gboolean *) slot = TRUE;
		else if (!g_ascii_strcasecmp(text, "false") ||
			 !g_ascii_strcasecmp(text, "no") ||
			 !strcmp(text, "0"))
			*(gboolean *) slot = FALSE;
		else
			problem(problems, where,
				"\"%s\" is not true or false", text);
		break;
	case KEY_UINT:
		number = g_ascii_strtoull(text, &end, 10);
		if (!g_ascii_isdigit(*text) || *end != '\0' ||
		    number < k->min || number > k->max)
			problem(problems, where,
				"\"%s\" is not a whole number from %u to %u",
				text, k->min, k->max);
		else
			*(guint *) slot = (guint) number;
		break;
	case KEY_SIZE:
		if (!parse_size(text, (gsize *) slot) || *(gsize *) slot == 0)
			problem(problems, where,
				"\"%s\" is not a size above 0 such as 25M",
				text);
		break;
	case KEY_LIST:
		g_strfreev(*(char ***) slot);
		*(char ***) slot = g_strsplit(text, ";", -1);
		for (char **p = *(char ***) slot; *p != NULL; p++)
			g_strstrip(*p);
		break;
	}
}

/* Fill CONFIG with every default. */
static void
set_defaults(Config *config)
{
	g_autoptr(GPtrArray) ignored = g_ptr_array_new_with_free_func(g_free);

	for (gsize i = 0; i < G_N_ELEMENTS(config_keys); i++)
		if (config_keys[i].fallback != NULL)
			set_value(config, &config_keys[i],
				  config_keys[i].fallback, "default", ignored);
	g_assert(ignored->len == 0);
}

/* The declaration of GROUP.KEY, or NULL when there is none. */
static const ConfigKey *
find_key(const char *group, const char *key)
{
	for (gsize i = 0; i < G_N_ELEMENTS(config_keys); i++)
		if (!strcmp(config_keys[i].group, group) &&
		    !strcmp(config_keys[i].key, key))
			return &config_keys[i];
	return NULL;
}

/* TRUE when GROUP is one of the fixed groups. */
static gboolean
is_known_group(const char *group)
{
	for (gsize i = 0; i < G_N_ELEMENTS(config_keys); i++)
		if (!strcmp(config_keys[i].group, group))
			return TRUE;
	return FALSE;
}

/* A positive integer key of a rule; 0 when absent, -1 when bad. */
static gint64
rule_id(GKeyFile *file, const char *group, const char *key,
	const char *where, GPtrArray *problems)
{
	g_autofree char *text = g_key_file_get_string(file, group, key, NULL);
	gint64 value;

	if (text == NULL)
		return 0;
	g_strstrip(text);
	value = g_ascii_strtoll(text, NULL, 10);
	if (!is_digits(text) || value <= 0 || strlen(text) > 18) {
		problem(problems, where, "%s \"%s\" is not a positive number",
			key, text);
		return -1;
	}
	return value;
}

/* A string key of a rule, stripped; NULL when absent or empty. */
static char *
rule_string(GKeyFile *file, const char *group, const char *key)
{
	char *text = g_key_file_get_string(file, group, key, NULL);

	if (text != NULL && *g_strstrip(text) == '\0')
		g_clear_pointer(&text, g_free);
	return text;
}

static void
rule_free(Rule *rule)
{
	g_free(rule->name);
	g_strfreev(rule->recipients);
	g_free(rule->ali_uid);
	g_free(rule->sms_alert_time);
	g_free(rule->template);
	g_free(rule);
}

/* Read the [rule:NAME] group GROUP into a Rule; NULL when unusable. */
static Rule *
read_rule(GKeyFile *file, const char *group, const char *path,
	  GPtrArray *problems)
{
	g_autofree char *where = g_strdup_printf("%s: [%s]", path, group);
	g_auto(GStrv) keys = g_key_file_get_keys(file, group, NULL, NULL);
	g_autofree char *recipients = NULL;
	Rule *rule = g_new0(Rule, 1);
	guint before = problems->len;

	rule->name = g_strdup(group + strlen(RULE_PREFIX));
	if (*rule->name == '\0')
		problem(problems, where, "the rule has no name");
	for (char **k = keys; k != NULL && *k != NULL; k++)
		if (!g_strv_contains(rule_keys, *k))
			problem(problems, where, "unknown key %s",
				shown_key(*k));

	recipients = rule_string(file, group, "recipients");
	if (recipients == NULL) {
		problem(problems, where, "recipients is missing");
	} else {
		g_autoptr(GStrvBuilder) list = g_strv_builder_new();
		g_auto(GStrv) parts = g_strsplit(recipients, ";", -1);

		for (char **p = parts; *p != NULL; p++)
			if (*g_strstrip(*p) != '\0')
				g_strv_builder_add(list, *p);
		rule->recipients = g_strv_builder_end(list);
		if (rule->recipients[0] == NULL)
			problem(problems, where, "recipients is empty");
	}

	rule->product_id = rule_id(file, group, "product_id", where, problems);
	rule->question_id = rule_id(file, group,
				    "customer_common_question_id", where,
				    problems);
	if (rule->product_id == 0 && rule->question_id == 0)
		problem(problems, where, "set product_id or "
			"customer_common_question_id");
	else if (rule->product_id > 0 && rule->question_id > 0)
		problem(problems, where, "set only one of product_id and "
			"customer_common_question_id");

	rule->ali_uid = rule_string(file, group, "ali_uid");
	if (rule->ali_uid != NULL && !is_digits(rule->ali_uid))
		problem(problems, where, "ali_uid \"%s\" is not a number",
			rule->ali_uid);
	rule->sms_alert_time = rule_string(file, group, "sms_alert_time");
	rule->template = rule_string(file, group, "template");

	if (problems->len > before) {
		rule_free(rule);
		return NULL;
	}
	return rule;
}

/* Read every key of the fixed group GROUP. */
static void
read_group(Config *config, GKeyFile *file, const char *group,
	   const char *path, GPtrArray *problems)
{
	g_auto(GStrv) keys = g_key_file_get_keys(file, group, NULL, NULL);

	for (char **k = keys; k != NULL && *k != NULL; k++) {
		g_autofree char *where = g_strdup_printf("%s: [%s] %s", path,
							 group,
							 shown_key(*k));
		g_autofree char *text = NULL;
		const ConfigKey *decl = find_key(group, *k);

		if (decl == NULL) {
			problem(problems, where, "unknown key");
			continue;
		}
		text = g_key_file_get_string(file, group, *k, NULL);
		if (text == NULL) {
			problem(problems, where, "not valid UTF-8 text, or "
				"a \\ escape other than \\s \\t \\n "
				"\\r \\\\");
			continue;
		}
		set_value(config, decl, g_strstrip(text), where, problems);
	}
}

/* TRUE when LINE (leading blanks skipped) is a [group] header GLib
 * accepts: a name without brackets or control characters. */
static gboolean
is_group_line(const char *line)
{
	const char *end = strchr(line, ']');

	if (*line != '[' || end == NULL || end == line + 1)
		return FALSE;
	for (const char *p = line + 1; p < end; p++)
		if (*p == '[' || g_ascii_iscntrl(*p))
			return FALSE;
	for (end++; *end == ' ' || *end == '\t'; end++)
		;
	return *end == '\0';
}

/* TRUE when LINE is "key = value" with a key name GLib accepts: no
 * blank at its ends, and brackets only as a final [locale]. */
static gboolean
is_key_line(const char *line)
{
	const char *eq = strchr(line, '=');
	const char *p = line;

	if (eq == NULL || eq == line)
		return FALSE;
	while (p < eq && *p != '[' && *p != ']')
		p++;
	if (p == line || *p == ']')
		return FALSE;
	if (*p == '[') {
		if (p[-1] == ' ')
			return FALSE;
		for (p++; p < eq && (g_ascii_isalnum(*p) ||
				     strchr("-_.@", *p) != NULL); p++)
			;
		if (p == eq || *p++ != ']')
			return FALSE;
	}
	while (p < eq && (*p == ' ' || *p == '\t'))
		p++;
	return p == eq;
}

/* The number of the first line of DATA that GLib's parser refuses,
 * or 0.  It stands in for GLib's message, which quotes the line and
 * so may show a mistyped secret. */
static guint
first_bad_line(const char *data)
{
	g_auto(GStrv) lines = g_strsplit(data, "\n", -1);
	gboolean in_group = FALSE;

	for (guint i = 0; lines[i] != NULL; i++) {
		const char *line = g_strchug(g_strchomp(lines[i]));

		if (*line == '\0' || *line == '#')
			continue;
		if (is_group_line(line))
			in_group = TRUE;
		else if (!in_group || !is_key_line(line))
			return i + 1;
	}
	return 0;
}

/* Report every [rule:NAME] header that DATA has more than once: GLib
 * would silently merge the two groups into one rule. */
static void
check_duplicate_rules(const char *data, const char *path,
		      GPtrArray *problems)
{
	g_auto(GStrv) lines = g_strsplit(data, "\n", -1);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash,
							   g_str_equal,
							   g_free, NULL);

	for (guint i = 0; lines[i] != NULL; i++) {
		char *line = g_strstrip(lines[i]);
		guint first;

		if (!g_str_has_prefix(line, "[" RULE_PREFIX) ||
		    !is_group_line(line))
			continue;
		*strchr(line, ']') = '\0';
		first = GPOINTER_TO_UINT(g_hash_table_lookup(seen, line + 1));
		if (first == 0)
			g_hash_table_insert(seen, g_strdup(line + 1),
					    GUINT_TO_POINTER(i + 1));
		else
			problem(problems, path, "[%s] is on lines %u and %u: "
				"give each rule its own name", line + 1,
				first, i + 1);
	}
}

/* Load PATH into FILE.  On a syntax error the problem names the line
 * but never shows it: GLib's own message would quote a mistyped
 * secret.  QUIET_IF_MISSING: a missing file is not a problem. */
static gboolean
load_key_file(GKeyFile *file, const char *path, char **data,
	      gboolean quiet_if_missing, GPtrArray *problems)
{
	g_autoptr(GError) error = NULL;
	gsize length;
	guint line;

	if (!g_file_get_contents(path, data, &length, &error)) {
		/* GLib's file errors name the path and errno, no content */
		if (!quiet_if_missing ||
		    !g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			problem(problems, path, "cannot read: %s",
				error->message);
		return FALSE;
	}
	if (g_key_file_load_from_data(file, *data, length, G_KEY_FILE_NONE,
				      NULL))
		return TRUE;
	line = first_bad_line(*data);
	if (line > 0)
		problem(problems, path, "line %u is not \"key = value\", a "
			"[group] or a # comment (or comes before the first "
			"[group])", line);
	else
		problem(problems, path, "is not a valid key file; see "
			"mail2ticket.conf(5)");
	return FALSE;
}

/* Take the credentials from the environment when the file has none. */
static gboolean
credentials_from_environment(Config *config)
{
	const char *id = g_getenv("ALIBABA_CLOUD_ACCESS_KEY_ID");
	const char *secret = g_getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
	const char *token = g_getenv("ALIBABA_CLOUD_SECURITY_TOKEN");

	if (id == NULL || *id == '\0' || secret == NULL || *secret == '\0')
		return FALSE;
	config->access_key_id = g_strdup(id);
	config->access_key_secret = g_strdup(secret);
	if (token != NULL && *token != '\0')
		config->security_token = g_strdup(token);
	config->credentials_source = g_strdup("environment");
	return TRUE;
}

/* Refuse PATH when it holds a secret that group or others can read. */
static void
check_mode(const char *path, const char *what, GPtrArray *problems)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return;
	if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0)
		problem(problems, path, "holds %s and is readable by group "
			"or others (mode %03o); run chmod 600 %s", what,
			(unsigned) (st.st_mode & 0777), path);
}

/* KEY of PROFILE in a credentials file, stripped; NULL when absent or
 * empty. */
static char *
credential(GKeyFile *file, const char *profile, const char *key)
{
	char *text = g_key_file_get_string(file, profile, key, NULL);

	if (text != NULL && *g_strstrip(text) == '\0')
		g_clear_pointer(&text, g_free);
	return text;
}

/* Take the credentials from Alibaba Cloud's credentials file. */
static void
credentials_from_file(Config *config, GPtrArray *problems)
{
	const char *env_path = g_getenv("ALIBABA_CLOUD_CREDENTIALS_FILE");
	const char *profile = g_getenv("ALIBABA_CLOUD_PROFILE");
	g_autofree char *path = NULL;
	g_autofree char *data = NULL;
	g_autoptr(GKeyFile) file = g_key_file_new();
	g_autofree char *type = NULL;
	g_autofree char *enable = NULL;

	if (env_path != NULL && *env_path != '\0')
		path = g_strdup(env_path);
	else
		path = g_build_filename(g_get_home_dir(), ".alibabacloud",
					"credentials", NULL);
	if (profile == NULL || *profile == '\0')
		profile = "default";
	if (!load_key_file(file, path, &data, TRUE, problems))
		return;

	type = credential(file, profile, "type");
	enable = credential(file, profile, "enable");
	if (enable != NULL && !g_ascii_strcasecmp(enable, "false"))
		return;
	if (type != NULL && strcmp(type, "access_key") != 0 &&
	    strcmp(type, "sts") != 0) {
		problem(problems, path, "[%s] type %s is not supported "
			"(use access_key or sts)", profile, type);
		return;
	}
	config->access_key_id = credential(file, profile, "access_key_id");
	config->access_key_secret = credential(file, profile,
					       "access_key_secret");
	config->security_token = credential(file, profile, "security_token");
	if (config->access_key_id == NULL ||
	    config->access_key_secret == NULL) {
		g_clear_pointer(&config->access_key_id, g_free);
		g_clear_pointer(&config->access_key_secret, g_free);
		g_clear_pointer(&config->security_token, g_free);
		return;
	}
	check_mode(path, "an AccessKey secret", problems);
	config->credentials_source = g_steal_pointer(&path);
}

/* Find the credentials and check that they are complete. */
static void
resolve_credentials(Config *config, const char *path, GPtrArray *problems)
{
	if (config->access_key_id != NULL ||
	    config->access_key_secret != NULL) {
		if (config->access_key_id == NULL ||
		    config->access_key_secret == NULL)
			problem(problems, path, "[api] needs both "
				"access_key_id and access_key_secret");
		config->credentials_source = g_strdup("config");
		return;
	}
	if (config->security_token != NULL) {
		problem(problems, path, "[api] security_token is set without "
			"access_key_id and access_key_secret");
		return;
	}
	if (credentials_from_environment(config))
		return;
	credentials_from_file(config, problems);
	if (config->access_key_id == NULL)
		problem(problems, path, "no AccessKey: set [api] "
			"access_key_id and access_key_secret, or "
			"ALIBABA_CLOUD_ACCESS_KEY_ID and "
			"ALIBABA_CLOUD_ACCESS_KEY_SECRET");
}

/* Report every value still holding one of the example file's
 * "REPLACE-WITH-..." placeholders; the value itself is not shown. */
static void
check_placeholders(GKeyFile *file, const char *path, GPtrArray *problems)
{
	g_auto(GStrv) groups = g_key_file_get_groups(file, NULL);

	for (char **g = groups; *g != NULL; g++) {
		g_auto(GStrv) keys = g_key_file_get_keys(file, *g, NULL, NULL);

		for (char **k = keys; k != NULL && *k != NULL; k++) {
			g_autofree char *value = g_key_file_get_value(
				file, *g, *k, NULL);

			if (value != NULL && strstr(value, "REPLACE-WITH"))
				problem(problems, path, "[%s] %s: still the "
					"example's REPLACE-WITH placeholder",
					*g, shown_key(*k));
		}
	}
}

/* Check [reply] from and the %{name} fields of [reply] subject. */
static void
check_reply(const Config *config, const char *path, GPtrArray *problems)
{
	static const char *const fields[] = {
		"ticket", "subject", "rule", "product", NULL,
	};
	const char *from = config->reply_from;
	const char *p = config->reply_subject;

	/* one "@" and no blank: a bare address, as sendmail -f wants */
	if (from != NULL && (strchr(from, '@') == NULL ||
			     strchr(from, '@') != strrchr(from, '@') ||
			     strpbrk(from, " \t<>") != NULL))
		problem(problems, path, "[reply] from: \"%s\" is not an "
			"address such as tickets@example.com", from);

	while ((p = strstr(p, "%{")) != NULL) {
		const char *close = strchr(p, '}');
		g_autofree char *name = NULL;

		if (close == NULL)
			break;
		name = g_strndup(p + 2, close - p - 2);
		if (!g_strv_contains(fields, name))
			problem(problems, path, "[reply] subject: %%{%s} is "
				"not a field; use %%{ticket}, %%{subject}, "
				"%%{rule} or %%{product}", name);
		p = close + 1;
	}
}

/* Check that DIR, or the nearest folder above it that exists, can be
 * written by the user running the check. */
static void
check_dir(const char *dir, const char *group, const char *path,
	  GPtrArray *problems)
{
	g_autofree char *existing = g_strdup(dir);

	while (!g_file_test(existing, G_FILE_TEST_EXISTS)) {
		char *parent = g_path_get_dirname(existing);

		g_free(existing);
		existing = parent;
	}
	if (!g_file_test(existing, G_FILE_TEST_IS_DIR))
		problem(problems, path, "[%s] dir: %s is not a folder",
			group, existing);
	else if (g_access(existing, W_OK | X_OK) != 0)
		problem(problems, path, "[%s] dir: %s cannot be written by "
			"user %s: %s", group, existing, g_get_user_name(),
			g_strerror(errno));
}

/* Check that the program of the sendmail command can be run. */
static void
check_sendmail(const Config *config, const char *path, GPtrArray *problems)
{
	g_auto(GStrv) argv = NULL;
	g_autofree char *program = NULL;

	if (!g_shell_parse_argv(config->sendmail, NULL, &argv, NULL)) {
		problem(problems, path, "[reply] sendmail: cannot be split "
			"into words: check its quotes");
		return;
	}
	program = g_find_program_in_path(argv[0]);
	if (program == NULL || g_file_test(program, G_FILE_TEST_IS_DIR))
		problem(problems, path, "[reply] sendmail: %s is not a "
			"program that user %s can run", argv[0],
			g_get_user_name());
}

/* The checks that depend on the user running them, for --check-config
 * only: at delivery, journal, quarantine and reply report their own
 * failure, and a missing sendmail must not hold back the ticket. */
static void
check_system(const Config *config, const char *path, GPtrArray *problems)
{
	check_dir(config->journal_dir, "journal", path, problems);
	check_dir(config->quarantine_dir, "quarantine", path, problems);
	if (config->reply_enabled)
		check_sendmail(config, path, problems);
}

/* Check the values that depend on each other. */
static void
check_values(Config *config, const char *path, GPtrArray *problems)
{
	if (!g_str_has_prefix(config->endpoint, "https://") &&
	    !g_str_has_prefix(config->endpoint, "http://"))
		problem(problems, path, "[api] endpoint \"%s\" is not an "
			"http or https address", config->endpoint);
	if (strlen(config->version) != 10 || config->version[4] != '-' ||
	    config->version[7] != '-')
		problem(problems, path, "[api] version \"%s\" is not a date "
			"such as 2016-08-30", config->version);
	if (config->ali_uid != NULL && !is_digits(config->ali_uid))
		problem(problems, path, "[ticket] ali_uid \"%s\" is not a "
			"number", config->ali_uid);
	for (char **cs = config->fallback_charsets; *cs != NULL; cs++) {
		GIConv cd = g_iconv_open("UTF-8", *cs);

		if (cd == (GIConv) -1)
			problem(problems, path, "[mail] fallback_charsets: "
				"unknown charset %s", *cs);
		else
			g_iconv_close(cd);
	}
	check_reply(config, path, problems);
	if (config->reply_template != NULL &&
	    g_access(config->reply_template, R_OK) != 0)
		problem(problems, path, "[reply] template %s cannot be read: "
			"%s", config->reply_template, g_strerror(errno));

	/* Every rule needs an owner for its tickets. */
	for (guint i = 0; i < config->rules->len; i++) {
		const Rule *rule = config->rules->pdata[i];

		if (rule->ali_uid == NULL && config->ali_uid == NULL)
			problem(problems, path, "[rule:%s] has no ali_uid and "
				"[ticket] ali_uid is not set", rule->name);
		if (rule->template != NULL &&
		    g_access(rule->template, R_OK) != 0)
			problem(problems, path, "[rule:%s] template %s cannot "
				"be read: %s", rule->name, rule->template,
				g_strerror(errno));
	}
	if (config->rules->len == 0)
		problem(problems, path, "no [rule:NAME] group: no mail could "
			"be routed");
}

/* Read PATH into a new Config, collecting every problem; SYSTEM adds
 * the checks of folders and programs. */
static Config *
config_read(const char *path, gboolean system, GPtrArray *problems)
{
	g_autoptr(Config) config = g_new0(Config, 1);
	g_autoptr(GKeyFile) file = g_key_file_new();
	g_autofree char *data = NULL;
	g_auto(GStrv) groups = NULL;
	gboolean has_secret;

	config->path = g_strdup(path);
	config->rules = g_ptr_array_new_with_free_func(
		(GDestroyNotify) rule_free);
	set_defaults(config);

	if (!load_key_file(file, path, &data, FALSE, problems))
		return g_steal_pointer(&config);
	check_duplicate_rules(data, path, problems);
	check_placeholders(file, path, problems);

	groups = g_key_file_get_groups(file, NULL);
	for (char **g = groups; *g != NULL; g++) {
		if (g_str_has_prefix(*g, RULE_PREFIX)) {
			Rule *rule = read_rule(file, *g, path, problems);

			if (rule != NULL)
				g_ptr_array_add(config->rules, rule);
		} else if (is_known_group(*g)) {
			read_group(config, file, *g, path, problems);
		} else {
			problem(problems, path, "unknown group [%s]", *g);
		}
	}

	has_secret = config->access_key_secret != NULL ||
		     config->security_token != NULL;
	if (has_secret)
		check_mode(path, "a secret", problems);
	resolve_credentials(config, path, problems);
	check_values(config, path, problems);
	if (system)
		check_system(config, path, problems);
	return g_steal_pointer(&config);
}

/* Read and validate PATH; NULL with M2T_ERROR_OPERATOR on any problem. */
Config *
config_load(const char *path, GError **error)
{
	g_autoptr(GPtrArray) problems =
		g_ptr_array_new_with_free_func(g_free);
	g_autoptr(Config) config = config_read(path, FALSE, problems);

	if (problems->len > 0) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_OPERATOR,
			    "configuration: %s%s",
			    (char *) problems->pdata[0],
			    problems->len > 1 ? " (and more: run "
			    "mail2ticket --check-config)" : "");
		return NULL;
	}
	return g_steal_pointer(&config);
}

/* Every problem in PATH, one line each ("file: [group] key: what"). */
GPtrArray *
config_check(const char *path)
{
	GPtrArray *problems = g_ptr_array_new_with_free_func(g_free);

	/* Reading collects the problems; the configuration is not kept. */
	config_free(config_read(path, TRUE, problems));
	return problems;
}

/* Print every key with its default and its documentation. */
void
config_print_reference(FILE *out)
{
	const char *group = NULL;

	for (gsize i = 0; i < G_N_ELEMENTS(config_keys); i++) {
		const ConfigKey *k = &config_keys[i];

		if (group == NULL || strcmp(group, k->group) != 0) {
			fprintf(out, "%s[%s]\n", group ? "\n" : "", k->group);
			group = k->group;
		}
		fprintf(out, "# %s\n%s%s = %s\n", k->doc,
			k->fallback ? "" : "#", k->key,
			k->fallback ? k->fallback : "");
	}
	fprintf(out, "\n[rule:NAME]\n"
		"# recipients: \";\" list of addresses, @domain, or "
		"patterns such as support+*@example.com\n"
		"# then product_id or customer_common_question_id; "
		"optional ali_uid, sms_alert_time, template\n");
}

void
config_free(Config *config)
{
	if (config == NULL)
		return;
	for (gsize i = 0; i < G_N_ELEMENTS(config_keys); i++) {
		gpointer slot = G_STRUCT_MEMBER_P(config,
						  config_keys[i].offset);

		if (config_keys[i].type == KEY_LIST)
			g_strfreev(*(char ***) slot);
		else if (config_keys[i].type == KEY_STRING ||
			 config_keys[i].type == KEY_SECRET)
			g_free(*(char **) slot);
	}
	g_free(config->path);
	g_free(config->credentials_source);
	if (config->rules != NULL)
		g_ptr_array_unref(config->rules);
	g_free(config);
}
