/*
 * test-rules.c - matching recipient addresses against rules.
 */
#include "autoconfig.h"

#include "config.h"
#include "rules.h"

typedef struct {
	const char *pattern;
	const char *address;
	gboolean want;
} EntryCase;

static const EntryCase entry_cases[] = {
	{ "support@example.com", "support@example.com", TRUE },
	{ "support@example.com", "Support@Example.COM", TRUE },
	{ "support@example.com", "support@example.org", FALSE },
	{ "support@example.com", "xsupport@example.com", FALSE },
	{ "@example.com", "anyone@example.com", TRUE },
	{ "@example.com", "anyone@EXAMPLE.com", TRUE },
	{ "@example.com", "anyone@sub.example.com", FALSE },
	{ "@example.com", "@example.com", FALSE },
	{ "support+*@example.com", "support+billing@example.com", TRUE },
	{ "support+*@example.com", "support@example.com", FALSE },
	{ "*@*.example.com", "a@cn.example.com", TRUE },
	{ "*@*.example.com", "a@example.com", FALSE },
	{ "sales?@example.com", "sales1@example.com", TRUE },
	{ "sales[12]@example.com", "sales3@example.com", FALSE },
	{ "*", "whoever@wherever.test", TRUE },
	{ "*", "", FALSE },
};

/* One pattern against one address. */
static void
test_entry(gconstpointer data)
{
	const EntryCase *c = data;
	gboolean got = rules_entry_matches(c->pattern, c->address);

	if (got != c->want)
		g_test_message("pattern %s, address %s: got %d, want %d",
			       c->pattern, c->address, got, c->want);
	g_assert_cmpint(got, ==, c->want);
}

/* A Rule with the ";" list RECIPIENTS. */
static Rule *
make_rule(const char *name, const char *recipients, gint64 product)
{
	Rule *rule = g_new0(Rule, 1);

	rule->name = g_strdup(name);
	rule->recipients = g_strsplit(recipients, ";", -1);
	rule->product_id = product;
	return rule;
}

static void
free_rule(gpointer data)
{
	Rule *rule = data;

	g_free(rule->name);
	g_strfreev(rule->recipients);
	g_free(rule);
}

/* Rules are tried in order; the first match wins; no match is NULL. */
static void
test_first_match_wins(void)
{
	g_autoptr(GPtrArray) rules = g_ptr_array_new_with_free_func(free_rule);
	const Rule *got;

	g_ptr_array_add(rules, make_rule("billing",
					 "billing@example.com;"
					 "support+billing@example.com", 1));
	g_ptr_array_add(rules, make_rule("support", "support+*@example.com;"
					 "support@example.com", 2));
	g_ptr_array_add(rules, make_rule("cn", "@example.cn", 3));

	got = rules_match(rules, "support+billing@example.com");
	g_assert_nonnull(got);
	g_assert_cmpstr(got->name, ==, "billing");
	got = rules_match(rules, "support+ecs@example.com");
	g_assert_nonnull(got);
	g_assert_cmpstr(got->name, ==, "support");
	got = rules_match(rules, "Help@Example.CN");
	g_assert_nonnull(got);
	g_assert_cmpstr(got->name, ==, "cn");
	g_assert_null(rules_match(rules, "sales@example.com"));
	g_assert_null(rules_match(rules, NULL));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	for (gsize i = 0; i < G_N_ELEMENTS(entry_cases); i++) {
		g_autofree char *name = g_strdup_printf("/rules/entry/%zu", i);

		g_test_add_data_func(name, &entry_cases[i], test_entry);
	}
	g_test_add_func("/rules/first-match-wins", test_first_match_wins);
	return g_test_run();
}
