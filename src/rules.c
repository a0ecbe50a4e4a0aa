/*
 * rules.c - matching a recipient address against the rules.
 *
 * Entry points: rules_entry_matches(), rules_match().  An entry is an
 * exact address, "@domain", or a pattern with "*", "?" and "[...]" as
 * in the shell (fnmatch(3)).  Case is ignored everywhere: domains are
 * case-insensitive, and mail administrators expect Support@ to reach the
 * same product as support@.
 */
#include "autoconfig.h"

#include <fnmatch.h>
#include <string.h>

#include "rules.h"

/* TRUE when ADDRESS matches the one recipient entry PATTERN. */
gboolean
rules_entry_matches(const char *pattern, const char *address)
{
	g_autofree char *p = NULL;
	g_autofree char *a = NULL;
	const char *at;

	if (pattern == NULL || address == NULL || *address == '\0')
		return FALSE;
	p = g_utf8_casefold(pattern, -1);
	a = g_utf8_casefold(address, -1);

	/* "@example.com": any address at exactly that domain */
	if (p[0] == '@' && strpbrk(p, "*?[") == NULL) {
		at = strrchr(a, '@');
		return at != NULL && at != a && strcmp(at, p) == 0;
	}
	if (strpbrk(p, "*?[") != NULL)
		return fnmatch(p, a, 0) == 0;
	return strcmp(p, a) == 0;
}

/* The first rule of RULES (Rule*) matching ADDRESS, or NULL (borrowed). */
const Rule *
rules_match(const GPtrArray *rules, const char *address)
{
	for (guint i = 0; i < rules->len; i++) {
		const Rule *rule = rules->pdata[i];

		for (char **entry = rule->recipients; *entry != NULL; entry++)
			if (rules_entry_matches(*entry, address))
				return rule;
	}
	return NULL;
}
