/*
 * retry.h - trying a transient failure again within one run.
 *
 * Bounded exponential back-off with jitter: the first wait is about one
 * second, each next one doubles, up to 16 s, and no wait goes past the
 * budget ([api] retry_budget seconds from retry_init()).  A budget of 0
 * means no retry: the mail server's own retry takes over.
 */
#ifndef M2T_RETRY_H
#define M2T_RETRY_H

#include <glib.h>

typedef struct {
	gint64 deadline;	/* monotonic microseconds */
	guint attempt;		/* waits done so far */
} Retry;

void retry_init(Retry *retry, guint budget_seconds);

/*
 * After a failed attempt with ERROR: when the failure is transient and
 * the budget allows another attempt, log it, wait, and return TRUE.
 */
gboolean retry_again(Retry *retry, const char *what, const GError *error);

#endif
