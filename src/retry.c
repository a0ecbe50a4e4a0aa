/*
 * retry.c - trying a transient failure again within one run.
 *
 * Entry points: retry_init(), retry_again().
 *
 * The waits are about 1, 2, 4, 8, 16, 16 ... seconds, each scaled by a
 * random factor in [1 - JITTER, 1 + JITTER] so that deliveries failing
 * together do not come back together, and cut short at the deadline.
 * Once the deadline is reached, no more retries: the mail server's own
 * queue takes over (exit 75).
 *
 * Known limits: the budget bounds the waits, not the attempts; an
 * attempt started just before the deadline may end after it.
 */
#include "autoconfig.h"

#include "error.h"
#include "log.h"
#include "retry.h"

#define FIRST_WAIT 1.0		/* seconds */
#define LONGEST_WAIT 16.0	/* seconds */
#define JITTER 0.25

/* Start a budget of BUDGET_SECONDS for retries (0: none). */
void
retry_init(Retry *retry, guint budget_seconds)
{
	retry->deadline = g_get_monotonic_time() +
			  (gint64) budget_seconds * G_USEC_PER_SEC;
	retry->attempt = 0;
}

/* The nominal wait before retry number ATTEMPT (0-based), seconds. */
static double
nominal_wait(guint attempt)
{
	double wait = FIRST_WAIT;

	for (guint i = 0; i < attempt && wait < LONGEST_WAIT; i++)
		wait *= 2;
	return MIN(wait, LONGEST_WAIT);
}

/*
 * After a failed attempt with ERROR: when the failure is transient and
 * the budget allows another attempt, log it, wait, and return TRUE.
 */
gboolean
retry_again(Retry *retry, const char *what, const GError *error)
{
	gint64 left = retry->deadline - g_get_monotonic_time();
	gint64 wait;

	/* Only a failure that may pass by itself is worth a wait. */
	if (!error_is_transient(error) || left <= 0)
		return FALSE;

	wait = (gint64) (nominal_wait(retry->attempt) *
			 g_random_double_range(1 - JITTER, 1 + JITTER) *
			 G_USEC_PER_SEC);
	wait = MIN(wait, left);
	retry->attempt++;
	log_warning("retrying %s in %.1f s: %s", what,
		    (double) wait / G_USEC_PER_SEC, error->message);
	g_usleep(wait);
	return TRUE;
}
