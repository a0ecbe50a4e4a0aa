/*
 * rules.h - choosing the product from the recipient address.
 *
 * A rule's recipients are exact addresses, "@domain" (every address at
 * that domain), or shell-style patterns such as "support+*@example.com"
 * ("*" alone matches every address, a catch-all).  Matching ignores
 * case.  Rules are tried in file order; the first match wins.
 */
#ifndef M2T_RULES_H
#define M2T_RULES_H

#include "config.h"

/* TRUE when ADDRESS matches the one recipient entry PATTERN. */
gboolean rules_entry_matches(const char *pattern, const char *address);

/* The first rule of RULES (Rule*) matching ADDRESS, or NULL (borrowed). */
const Rule *rules_match(const GPtrArray *rules, const char *address);

#endif
