/*
 * test-config.c - reading, defaults, credentials and checks of the
 * configuration file.
 */
#include "autoconfig.h"

#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "config.h"
#include "error.h"

static char *tmpdir;

static const char minimal[] =
	"[api]\n"
	"access_key_id = LTAItest\n"
	"access_key_secret = s3cret\n"
	"[ticket]\n"
	"ali_uid = 1234567890123456\n"
	"[rule:billing]\n"
	"recipients = billing@example.com; support+billing@example.com\n"
	"customer_common_question_id = 77\n"
	"[rule:support]\n"
	"recipients = support@example.com;@help.example.com\n"
	"product_id = 12\n"
	"ali_uid = 42\n"
	"sms_alert_time = daytime\n";

/* Write TEXT to a new file in tmpdir with MODE; its path (owned). */
static char *
write_config(const char *name, const char *text, int mode)
{
	char *path = g_build_filename(tmpdir, name, NULL);

	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	g_assert_cmpint(g_chmod(path, mode), ==, 0);
	return path;
}

static void
clear_environment(void)
{
	g_unsetenv("ALIBABA_CLOUD_ACCESS_KEY_ID");
	g_unsetenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
	g_unsetenv("ALIBABA_CLOUD_SECURITY_TOKEN");
	g_unsetenv("ALIBABA_CLOUD_PROFILE");
	g_setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", "/nonexistent", TRUE);
}

/* TRUE when one of PROBLEMS contains every string in WANT. */
static gboolean
has_problem(GPtrArray *problems, const char *want, const char *want2)
{
	for (guint i = 0; i < problems->len; i++) {
		const char *p = problems->pdata[i];

		if (strstr(p, want) && (want2 == NULL || strstr(p, want2)))
			return TRUE;
	}
	for (guint i = 0; i < problems->len; i++)
		g_test_message("problem: %s", (char *) problems->pdata[i]);
	return FALSE;
}

/* A minimal file loads, with every default filled in. */
static void
test_minimal_defaults(void)
{
	g_autofree char *path = write_config("min.conf", minimal, 0600);
	g_autoptr(GError) error = NULL;
	g_autoptr(Config) config = NULL;
	const Rule *rule;

	clear_environment();
	config = config_load(path, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(config->endpoint, ==, "https://workorder.aliyuncs.com/");
	g_assert_cmpstr(config->version, ==, "2016-08-30");
	g_assert_cmpstr(config->access_key_id, ==, "LTAItest");
	g_assert_cmpstr(config->credentials_source, ==, "config");
	g_assert_null(config->security_token);
	g_assert_cmpuint(config->timeout, ==, 20);
	g_assert_cmpuint(config->retry_budget, ==, 60);
	g_assert_true(config->reply_enabled);
	g_assert_cmpstr(config->sendmail, ==, "/usr/sbin/sendmail");
	g_assert_cmpuint(config->max_size, ==, 25 * 1024 * 1024);
	g_assert_cmpstr(config->fallback_charsets[1], ==, "gb18030");
	g_assert_cmpuint(config->journal_max_age, ==, 30);
	g_assert_true(g_str_has_suffix(config->journal_dir,
				       "/lib/mail2ticket/journal"));

	g_assert_cmpuint(config->rules->len, ==, 2);
	rule = config->rules->pdata[0];
	g_assert_cmpstr(rule->name, ==, "billing");
	g_assert_cmpstr(rule->recipients[1], ==,
			"support+billing@example.com");
	g_assert_cmpint(rule->question_id, ==, 77);
	g_assert_cmpint(rule->product_id, ==, 0);
	g_assert_null(rule->ali_uid);
	rule = config->rules->pdata[1];
	g_assert_cmpstr(rule->name, ==, "support");
	g_assert_cmpint(rule->product_id, ==, 12);
	g_assert_cmpstr(rule->ali_uid, ==, "42");
	g_assert_cmpstr(rule->sms_alert_time, ==, "daytime");
}

/* A file with a secret that others can read is refused, saying why. */
static void
test_secret_mode_refused(void)
{
	g_autofree char *path = write_config("open.conf", minimal, 0644);
	g_autoptr(GError) error = NULL;
	g_autoptr(Config) config = NULL;

	clear_environment();
	config = config_load(path, &error);
	g_assert_null(config);
	g_assert_error(error, M2T_ERROR, M2T_ERROR_OPERATOR);
	g_assert_nonnull(strstr(error->message,
				"readable by group or others"));
	g_assert_nonnull(strstr(error->message, "chmod 600"));
	g_assert_null(strstr(error->message, "s3cret"));
}

/* Without secrets in the file, the environment gives them. */
static void
test_environment_credentials(void)
{
	g_autofree char *text = NULL;
	g_autofree char *path = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(Config) config = NULL;
	const char *rules = strstr(minimal, "[ticket]");

	text = g_strdup(rules);
	path = write_config("env.conf", text, 0644);
	clear_environment();
	g_setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIenv", TRUE);
	g_setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "envsecret", TRUE);
	g_setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "envtoken", TRUE);
	config = config_load(path, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(config->access_key_id, ==, "LTAIenv");
	g_assert_cmpstr(config->access_key_secret, ==, "envsecret");
	g_assert_cmpstr(config->security_token, ==, "envtoken");
	g_assert_cmpstr(config->credentials_source, ==, "environment");
	clear_environment();
}

/* Alibaba Cloud's credentials file is the last resort. */
static void
test_credentials_file(void)
{
	g_autofree char *path = write_config("nocred.conf",
					     strstr(minimal, "[ticket]"),
					     0644);
	g_autofree char *cred = write_config("credentials",
					     "[default]\ntype = access_key\n"
					     "access_key_id = LTAIfile\n"
					     "access_key_secret = filesecret\n"
					     "[other]\ntype = sts\n"
					     "access_key_id = STS.other\n"
					     "access_key_secret = othersecret\n"
					     "security_token = othertoken\n",
					     0600);
	g_autoptr(GError) error = NULL;
	g_autoptr(Config) config = NULL;
	g_autoptr(Config) other = NULL;

	clear_environment();
	g_setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", cred, TRUE);
	config = config_load(path, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(config->access_key_id, ==, "LTAIfile");
	g_assert_cmpstr(config->credentials_source, ==, cred);

	g_setenv("ALIBABA_CLOUD_PROFILE", "other", TRUE);
	other = config_load(path, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(other->access_key_id, ==, "STS.other");
	g_assert_cmpstr(other->security_token, ==, "othertoken");
	clear_environment();
}

/* No credentials anywhere: the message says where to put them. */
static void
test_no_credentials(void)
{
	g_autofree char *path = write_config("none.conf",
					     strstr(minimal, "[ticket]"),
					     0644);
	g_autoptr(GError) error = NULL;
	g_autoptr(Config) config = NULL;

	clear_environment();
	config = config_load(path, &error);
	g_assert_null(config);
	g_assert_nonnull(strstr(error->message, "no AccessKey"));
	g_assert_nonnull(strstr(error->message,
				"ALIBABA_CLOUD_ACCESS_KEY_ID"));
}

/* --check-config lists every problem, each with its place. */
static void
test_check_lists_everything(void)
{
	static const char broken[] =
		"[api]\n"
		"access_key_id = LTAItest\n"
		"access_key_secret = s3cret\n"
		"timeout = 0\n"
		"endpoint = ftp://example.com/\n"
		"colour = blue\n"
		"[reply]\n"
		"enabled = perhaps\n"
		"[mail]\n"
		"max_size = lots\n"
		"fallback_charsets = utf-8;no-such-charset\n"
		"[rules]\n"
		"x = 1\n"
		"[rule:both]\n"
		"recipients = a@example.com\n"
		"product_id = 1\n"
		"customer_common_question_id = 2\n"
		"[rule:empty]\n"
		"product_id = abc\n"
		"[rule:nouid]\n"
		"recipients = b@example.com\n"
		"product_id = 3\n"
		"priority = high\n";
	g_autofree char *path = write_config("broken.conf", broken, 0600);
	g_autoptr(GPtrArray) problems = NULL;

	clear_environment();
	problems = config_check(path);
	g_assert_true(has_problem(problems, "[api] timeout", "from 1 to 600"));
	g_assert_true(has_problem(problems, "endpoint", "ftp://"));
	g_assert_true(has_problem(problems, "[api] colour", "unknown key"));
	g_assert_true(has_problem(problems, "[reply] enabled", "perhaps"));
	g_assert_true(has_problem(problems, "[mail] max_size", "lots"));
	g_assert_true(has_problem(problems, "no-such-charset", NULL));
	g_assert_true(has_problem(problems, "unknown group [rules]", NULL));
	g_assert_true(has_problem(problems, "[rule:both]", "only one"));
	g_assert_true(has_problem(problems, "[rule:empty]",
				  "recipients is missing"));
	g_assert_true(has_problem(problems, "[rule:empty]",
				  "not a positive number"));
	g_assert_true(has_problem(problems, "[rule:nouid]",
				  "unknown key priority"));
	for (guint i = 0; i < problems->len; i++) {
		g_assert_true(g_str_has_prefix(problems->pdata[i], path));
		g_assert_null(strstr(problems->pdata[i], "s3cret"));
	}
}

/* A line GLib cannot parse is named by its number, never quoted: the
 * mistyped line may hold the secret. */
static void
test_parse_error_hides_line(void)
{
	static const char *const lines[] = {
		"access_key_secret: fakesecret\n",
		"access_key_secret fakesecret\n",
		"[fakesecret\n",
		"fake[secret = x\n",
	};

	clear_environment();
	for (gsize i = 0; i < G_N_ELEMENTS(lines); i++) {
		g_autofree char *text = g_strconcat("# comment\n\n[api]\n",
						    lines[i], "[rule:x]\n",
						    NULL);
		g_autofree char *path = write_config("typo.conf", text, 0600);
		g_autoptr(GError) error = NULL;
		g_autoptr(Config) config = config_load(path, &error);
		g_autoptr(GPtrArray) problems = config_check(path);

		g_test_message("line: %s", lines[i]);
		g_assert_null(config);
		g_test_message("got: %s", error->message);
		g_assert_nonnull(strstr(error->message, "line 4 is not"));
		g_assert_null(strstr(error->message, "secret"));
		g_assert_cmpuint(problems->len, ==, 1);
		g_assert_null(strstr(problems->pdata[0], "secret"));
	}
}

/* The same for Alibaba Cloud's credentials file. */
static void
test_credentials_file_typo(void)
{
	g_autofree char *path = write_config("typocred.conf",
					     strstr(minimal, "[ticket]"),
					     0644);
	g_autofree char *cred = write_config("badcred",
					     "[default]\n"
					     "access_key_id = LTAIfile\n"
					     "access_key_secret: fakesecret\n",
					     0600);
	g_autoptr(GPtrArray) problems = NULL;

	clear_environment();
	g_setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", cred, TRUE);
	problems = config_check(path);
	g_assert_true(has_problem(problems, cred, "line 3 is not"));
	for (guint i = 0; i < problems->len; i++)
		g_assert_null(strstr(problems->pdata[i], "fakesecret"));
	clear_environment();
}

/* A key that is not a plain name may be a secret: it is not shown. */
static void
test_odd_key_not_shown(void)
{
	g_autofree char *text = g_strconcat(minimal, "[api]\n"
					    "security_token CAIS+fake== = x\n",
					    NULL);
	g_autofree char *path = write_config("oddkey.conf", text, 0600);
	g_autoptr(GPtrArray) problems = NULL;

	clear_environment();
	problems = config_check(path);
	g_assert_true(has_problem(problems, "[api]", "not shown"));
	for (guint i = 0; i < problems->len; i++)
		g_assert_null(strstr(problems->pdata[i], "CAIS"));
}

/* "key =" for a key with a default is refused, never left NULL. */
static void
test_empty_values(void)
{
	static const struct {
		const char *group, *key;
	} keys[] = {
		{ "api", "endpoint" }, { "api", "version" },
		{ "api", "timeout" }, { "reply", "subject" },
		{ "reply", "sendmail" }, { "reply", "enabled" },
		{ "mail", "max_size" }, { "mail", "fallback_charsets" },
		{ "journal", "dir" }, { "quarantine", "dir" },
	};

	clear_environment();
	for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
		g_autofree char *text = g_strdup_printf("%s[%s]\n%s =\n",
							minimal, keys[i].group,
							keys[i].key);
		g_autofree char *path = write_config("empty.conf", text,
						     0600);
		g_autofree char *want = g_strdup_printf("[%s] %s: ",
							keys[i].group,
							keys[i].key);
		g_autoptr(GError) error = NULL;
		g_autoptr(Config) config = config_load(path, &error);
		g_autoptr(GPtrArray) problems = config_check(path);

		g_test_message("key: %s", want);
		g_assert_null(config);
		g_assert_nonnull(strstr(error->message, want));
		g_assert_true(has_problem(problems, want, "is empty"));
	}
}

/* An empty optional key is unset, as the documentation says. */
static void
test_empty_optional(void)
{
	g_autofree char *text = g_strconcat(minimal, "[reply]\nfrom =\n"
					    "template =\n[ticket]\nphone =\n",
					    NULL);
	g_autofree char *path = write_config("opt.conf", text, 0600);
	g_autoptr(GError) error = NULL;
	g_autoptr(Config) config = NULL;

	clear_environment();
	config = config_load(path, &error);
	g_assert_no_error(error);
	g_assert_null(config->reply_from);
	g_assert_null(config->reply_template);
	g_assert_null(config->phone);
}

/* Values the load refuses, each with the problem it must name. */
static void
test_bad_values(void)
{
	static const struct {
		const char *text, *where, *what;
	} cases[] = {
		{ "[api]\naccess_key_id = REPLACE-WITH-YOUR-ID\n",
		  "[api] access_key_id:", "placeholder" },
		{ "[rule:support]\ntemplate = /REPLACE-WITH-A-FILE\n",
		  "[rule:support] template:", "placeholder" },
		{ "[reply]\nfrom = tickets\n", "[reply] from:",
		  "not an address" },
		{ "[reply]\nfrom = a@b@example.com\n", "[reply] from:",
		  "not an address" },
		{ "[reply]\nfrom = Tickets <t@example.com>\n",
		  "[reply] from:", "not an address" },
		{ "[mail]\nmax_size = 0\n", "[mail] max_size:", "above 0" },
		{ "[mail]\nmax_size = 0K\n", "[mail] max_size:", "above 0" },
		{ "[reply]\nsubject = %{ticket} %{sender}\n",
		  "[reply] subject:", "%{sender} is not a field" },
		{ "[rule:billing]\nali_uid = 9\n",
		  "[rule:billing] is on lines 6 and 14", "own name" },
	};

	clear_environment();
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *text = g_strconcat(minimal, cases[i].text,
						    NULL);
		g_autofree char *path = write_config("bad.conf", text, 0600);
		g_autoptr(GError) error = NULL;
		g_autoptr(Config) config = config_load(path, &error);
		g_autoptr(GPtrArray) problems = config_check(path);

		g_test_message("case: %s", cases[i].text);
		g_assert_null(config);
		g_assert_true(has_problem(problems, cases[i].where,
					  cases[i].what));
	}
}

/* Folders and sendmail are checked by --check-config only: at delivery
 * their own errors are reported where they happen. */
static void
test_check_system(void)
{
	g_autofree char *plain = write_config("plain", "", 0644);
	g_autofree char *text = g_strdup_printf(
		"%s[journal]\ndir = %s/journal\n[reply]\nsendmail = %s -t\n"
		"[quarantine]\ndir = %s/q/r\n",
		minimal, plain, plain, tmpdir);
	g_autofree char *path = write_config("sys.conf", text, 0600);
	g_autoptr(GError) error = NULL;
	g_autoptr(Config) config = NULL;
	g_autoptr(GPtrArray) problems = NULL;

	clear_environment();
	config = config_load(path, &error);
	g_assert_no_error(error);
	problems = config_check(path);
	g_assert_true(has_problem(problems, "[journal] dir:",
				  "is not a folder"));
	g_assert_true(has_problem(problems, "[reply] sendmail:",
				  "not a program"));
	g_assert_cmpuint(problems->len, ==, 2);
}

/* A rule without an owner, when [ticket] has none either. */
static void
test_rule_needs_ali_uid(void)
{
	g_autofree char *path = write_config("uid.conf",
					     "[api]\naccess_key_id = a\n"
					     "access_key_secret = b\n"
					     "[rule:x]\nrecipients = *\n"
					     "product_id = 5\n", 0600);
	g_autoptr(GPtrArray) problems = NULL;

	clear_environment();
	problems = config_check(path);
	g_assert_true(has_problem(problems, "[rule:x] has no ali_uid", NULL));
}

/* A file that is not there is a clear problem, not a crash. */
static void
test_missing_file(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(Config) config = config_load("/nonexistent/m2t.conf",
					       &error);

	g_assert_null(config);
	g_assert_error(error, M2T_ERROR, M2T_ERROR_OPERATOR);
	g_assert_nonnull(strstr(error->message, "/nonexistent/m2t.conf"));
}

/* Every key the program knows is documented in the man page and the
 * README, so that the docs cannot drift from the code. */
static void
test_keys_documented(void)
{
	g_autofree char *readme_path = g_test_build_filename(
		G_TEST_DIST, "..", "README.md", NULL);
	g_autofree char *man_path = g_test_build_filename(
		G_TEST_DIST, "..", "doc", "mail2ticket.conf.5", NULL);
	g_autofree char *readme = NULL;
	g_autofree char *man = NULL;
	g_autofree char *reference = NULL;
	gsize len;
	FILE *out;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents(readme_path, &readme, NULL, NULL) ||
	    !g_file_get_contents(man_path, &man, NULL, NULL)) {
		g_test_skip("README.md or doc/mail2ticket.conf.5 not found");
		return;
	}
	out = open_memstream(&reference, &len);
	config_print_reference(out);
	fclose(out);
	lines = g_strsplit(reference, "\n", -1);
	for (char **l = lines; *l != NULL; l++) {
		g_autofree char *key = NULL;
		g_autofree char *in_readme = NULL;
		char *eq;

		if (**l == '[' || (**l == '#' && (*l)[1] == ' ') || **l == 0)
			continue;
		key = g_strdup(**l == '#' ? *l + 1 : *l);
		eq = strchr(key, ' ');
		if (eq != NULL)
			*eq = '\0';
		in_readme = g_strdup_printf("`%s`", key);
		if (strstr(readme, in_readme) == NULL)
			g_test_message("README.md lacks %s", in_readme);
		g_assert_nonnull(strstr(readme, in_readme));
		g_assert_nonnull(strstr(man, key));
	}
}

int
main(int argc, char **argv)
{
	int status;

	g_test_init(&argc, &argv, NULL);
	tmpdir = g_dir_make_tmp("m2t-config-XXXXXX", NULL);
	g_test_add_func("/config/minimal-defaults", test_minimal_defaults);
	g_test_add_func("/config/secret-mode-refused",
			test_secret_mode_refused);
	g_test_add_func("/config/environment-credentials",
			test_environment_credentials);
	g_test_add_func("/config/credentials-file", test_credentials_file);
	g_test_add_func("/config/no-credentials", test_no_credentials);
	g_test_add_func("/config/check-lists-everything",
			test_check_lists_everything);
	g_test_add_func("/config/parse-error-hides-line",
			test_parse_error_hides_line);
	g_test_add_func("/config/credentials-file-typo",
			test_credentials_file_typo);
	g_test_add_func("/config/odd-key-not-shown", test_odd_key_not_shown);
	g_test_add_func("/config/empty-values", test_empty_values);
	g_test_add_func("/config/empty-optional", test_empty_optional);
	g_test_add_func("/config/bad-values", test_bad_values);
	g_test_add_func("/config/check-system", test_check_system);
	g_test_add_func("/config/rule-needs-ali-uid", test_rule_needs_ali_uid);
	g_test_add_func("/config/missing-file", test_missing_file);
	g_test_add_func("/config/keys-documented", test_keys_documented);
	status = g_test_run();
	{
		g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);

		(void) !system(cmd);
	}
	g_free(tmpdir);
	return status;
}
