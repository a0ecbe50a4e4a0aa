/*
 * api-internal.h - the pure answer readers of api.c, for unit tests.
 *
 * They take the HTTP status and body of an answer, or its parsed JSON,
 * and never touch the network.  Only api.c and tests/test-api.c use
 * them.
 */
#ifndef M2T_API_INTERNAL_H
#define M2T_API_INTERNAL_H

#include <cJSON.h>

#include "api.h"

/*
 * The JSON object of a successful answer to ACTION (owned, free with
 * cJSON_Delete), or NULL with ERROR classified as api.h says.
 */
cJSON *api_read_answer(const char *action, long http_status,
		       const char *body, gsize len, GError **error);

/* Add: the new ticket's ID from a successful answer (owned). */
char *api_read_add(const cJSON *answer, GError **error);

/* getOSSTempAuthor: fill AUTH from a successful answer. */
gboolean api_read_oss_auth(const cJSON *answer, OssAuth *auth,
			   GError **error);

/*
 * QuestionList: look through one page of a successful answer for the
 * ticket titled TITLE of PRODUCT_ID (0: any product) made nearest
 * NEAR_MS (the newer of two as near; G_MAXINT64: the newest) that
 * TAKEN (may be NULL) does not claim for another mail.  *FOUND is set
 * (owned) when one is nearer than *FOUND_TIME (ms), which is then
 * updated; *ROWS and *TOTAL get the page's row count and the total the
 * answer gives (-1 when it gives none).
 */
gboolean api_read_question_list(const cJSON *answer, const char *title,
				gint64 product_id, gint64 near_ms,
				ApiTicketTaken taken, gpointer taken_data,
				char **found, gint64 *found_time,
				guint *rows, gint64 *total, GError **error);

#endif
