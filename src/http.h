/*
 * http.h - the two kinds of HTTP request mail2ticket makes (libcurl).
 *
 * A form POST for the RPC API and a multipart/form-data POST for OSS.
 * TLS peers are always verified.  A failure to connect is
 * M2T_ERROR_TEMPFAIL (nothing was sent); a failure after the request may
 * have left (timeout, reset, empty answer) is M2T_ERROR_UNCERTAIN.  An
 * HTTP error status is not a failure here: the caller reads it.
 */
#ifndef M2T_HTTP_H
#define M2T_HTTP_H

#include <glib.h>

typedef struct {
	long status;		/* HTTP status code */
	GBytes *body;		/* the answer's body, NUL-terminated data */
	char *content_type;	/* or NULL */
} HttpResponse;

typedef struct {
	const char *name;
	const char *value;
} HttpField;

/* Call once before any request, and http_cleanup() at exit. */
void http_init(void);
void http_cleanup(void);

/* POST BODY (application/x-www-form-urlencoded) to URL. */
gboolean http_post_form(const char *url, const char *body, guint timeout,
			HttpResponse *response, GError **error);

/*
 * POST a multipart/form-data form to URL: FIELDS in order, then the
 * file field last, named FILE_NAME, of CONTENT_TYPE, holding DATA.
 */
gboolean http_post_multipart(const char *url, const HttpField *fields,
			     gsize n_fields, const char *file_name,
			     const char *content_type, GBytes *data,
			     guint timeout, HttpResponse *response,
			     GError **error);

void http_response_clear(HttpResponse *response);

#endif
