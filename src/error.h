/*
 * error.h - the one error domain of mail2ticket.
 *
 * Every runtime failure travels as a GError in M2T_ERROR.  Its code says
 * what the mail server should do with the message; error_exit_status()
 * turns it into the sysexits.h status that DESIGN.md's table gives, and
 * its message is the one plain line that may reach the sender in a
 * bounce, so it never holds a secret.
 */
#ifndef M2T_ERROR_H
#define M2T_ERROR_H

#include <glib.h>

#define M2T_ERROR (m2t_error_quark())

typedef enum {
	/* May pass by itself: network, timeout, HTTP 5xx, busy,
	 * throttling, a full disk.  Exit 75. */
	M2T_ERROR_TEMPFAIL,
	/* A request was sent and no answer came: it may have been carried
	 * out.  Exit 75; the journal decides what the retry does. */
	M2T_ERROR_UNCERTAIN,
	/* The OSS upload authorisation expired: fetch a new one.  Exit 75
	 * when renewing does not help. */
	M2T_ERROR_EXPIRED,
	/* The operator's side is broken: configuration, credentials,
	 * aliUid, a product that does not exist.  Exit 75, logged as an
	 * error, so no mail is lost while it is mended. */
	M2T_ERROR_OPERATOR,
	/* The message cannot become a ticket.  Exit 65. */
	M2T_ERROR_DATAERR,
	/* The sender is refused by policy.  Exit 77. */
	M2T_ERROR_NOPERM,
	/* No rule matches the recipient.  Exit 69. */
	M2T_ERROR_UNAVAILABLE,
	/* A bug of ours.  Exit 70. */
	M2T_ERROR_SOFTWARE,
} M2tError;

GQuark m2t_error_quark(void);

/* The exit status for a failure; 0 for no error. */
int error_exit_status(const GError *error);

/* TRUE when trying again within the same run may cure the failure. */
gboolean error_is_transient(const GError *error);

/* TRUE when the failure bounces the mail (65, 69, 70, 77). */
gboolean error_is_permanent(const GError *error);

#endif
