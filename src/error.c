/*
 * error.c - the error domain and its table of exit statuses.
 *
 * This is the one place that decides, from the kind of failure, whether
 * the mail server delivers, retries or bounces (DESIGN.md, "Exit
 * status").
 */
#include "autoconfig.h"

#include <sysexits.h>

#include "error.h"

G_DEFINE_QUARK(m2t-error-quark, m2t_error)

/* The exit status for a failure; 0 for no error. */
int
error_exit_status(const GError *error)
{
	if (error == NULL)
		return EX_OK;
	if (error->domain != M2T_ERROR)
		return EX_TEMPFAIL;	/* unknown: keep the mail */

	switch ((M2tError) error->code) {
	case M2T_ERROR_TEMPFAIL:
	case M2T_ERROR_UNCERTAIN:
	case M2T_ERROR_EXPIRED:
	case M2T_ERROR_OPERATOR:
		return EX_TEMPFAIL;
	case M2T_ERROR_DATAERR:
		return EX_DATAERR;
	case M2T_ERROR_NOPERM:
		return EX_NOPERM;
	case M2T_ERROR_UNAVAILABLE:
		return EX_UNAVAILABLE;
	case M2T_ERROR_SOFTWARE:
		return EX_SOFTWARE;
	}
	return EX_TEMPFAIL;
}

/* TRUE when trying again within the same run may cure the failure. */
gboolean
error_is_transient(const GError *error)
{
	return error != NULL && error->domain == M2T_ERROR &&
	       (error->code == M2T_ERROR_TEMPFAIL ||
		error->code == M2T_ERROR_UNCERTAIN ||
		error->code == M2T_ERROR_EXPIRED);
}

/* TRUE when the failure bounces the mail (65, 69, 70, 77). */
gboolean
error_is_permanent(const GError *error)
{
	int status = error_exit_status(error);

	return status == EX_DATAERR || status == EX_NOPERM ||
	       status == EX_UNAVAILABLE || status == EX_SOFTWARE;
}
