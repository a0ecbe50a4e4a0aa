/*
 * api.h - the client of the workorder API (Version 2016-08-30).
 *
 * Each call is one signed RPC request (sign.h) sent as a form POST
 * (http.h), and its answer read the way the documentation shows it,
 * tolerant of its inconsistencies: code as a number or a string, success
 * as a boolean or a string, keys in either case, QuestionList in either
 * of its two documented shapes.  Failures are classified for the exit
 * status (error.h):
 *   network, HTTP 5xx, SYSTEM_BUSY, Throttling*, an answer that is not
 *     JSON                                   -> M2T_ERROR_TEMPFAIL
 *   no answer after the request may have arrived  -> M2T_ERROR_UNCERTAIN
 *   ILLEGAL_AUTH, signature or key errors, ILLEGAL_PARAM on a field from
 *     the configuration (productId, aliUid, ...)  -> M2T_ERROR_OPERATOR
 *   ILLEGAL_PARAM / ILLEGAL_PARAM_EMPTY from Add on a field from the
 *     message (title, content, email, attachments) -> M2T_ERROR_DATAERR
 * Error messages name the code and the API's message, never a secret.
 */
#ifndef M2T_API_H
#define M2T_API_H

#include "config.h"
#include "ticket.h"

typedef struct Api Api;

/* The upload authorisation from getOSSTempAuthor. */
typedef struct {
	char *access_id;
	char *policy;
	char *signature;	/* secret-like: never logged */
	char *dir;		/* key prefix, as returned */
	char *host;		/* where to POST the upload */
	gint64 expire;		/* Unix seconds, 0 when not given */
} OssAuth;

/* A client for CONFIG's endpoint and credentials (borrowed). */
Api *api_new(const Config *config);
void api_free(Api *api);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Api, api_free)

/* getOSSTempAuthor. */
gboolean api_get_oss_auth(Api *api, OssAuth *auth, GError **error);
void oss_auth_clear(OssAuth *auth);

/*
 * Add: create TICKET with ATTACHMENTS (the uploaded object keys joined
 * with ",", or NULL).  Returns the new ticket ID (owned).
 */
char *api_add(Api *api, const Ticket *ticket, const char *attachments,
	      GError **error);

/* TRUE when ticket ID already belongs to another mail. */
typedef gboolean (*ApiTicketTaken)(const char *id, gpointer data);

/*
 * QuestionList: look for a ticket titled TITLE for TICKET's product
 * created between FROM_MS and TO_MS (Unix milliseconds), leaving out
 * those TAKEN (may be NULL) says belong to another mail; of several,
 * the one made nearest NEAR_MS.  Returns TRUE when the answer decides
 * it: *TICKET_ID is then the ticket found (owned), or NULL when there
 * is none.  FALSE with ERROR when it could not be decided.
 */
gboolean api_find_ticket(Api *api, const Ticket *ticket, gint64 from_ms,
			 gint64 to_ms, gint64 near_ms, ApiTicketTaken taken,
			 gpointer taken_data, char **ticket_id,
			 GError **error);

#endif
