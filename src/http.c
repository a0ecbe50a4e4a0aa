/*
 * http.c - the two kinds of HTTP request mail2ticket makes (libcurl).
 *
 * Entry points: http_init(), http_cleanup(), http_post_form(),
 * http_post_multipart(), http_response_clear().
 *
 * Every request uses a fresh easy handle with the same settings: http
 * and https only, no redirect followed, TLS peer and host verified (the
 * libcurl defaults, never changed), a total timeout and a connect
 * timeout of at most CONNECT_TIMEOUT_MAX seconds, no signals, and the
 * proxy the standard curl environment variables name, if any.  Failures
 * say the host, never the URL's query or anything from the body.
 *
 * Known limits: an answer over ANSWER_MAX bytes is refused (the API's
 * answers are a few kilobytes); no connection is reused between calls.
 */
#include "autoconfig.h"

#include <string.h>

#include <curl/curl.h>

#include "error.h"
#include "http.h"

#define CONNECT_TIMEOUT_MAX 10		/* seconds */
#define ANSWER_MAX (4 * 1024 * 1024)	/* bytes */
#define USER_AGENT PACKAGE_NAME "/" PACKAGE_VERSION

/* Call once before any request, and http_cleanup() at exit. */
void
http_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Release what http_init() set up. */
void
http_cleanup(void)
{
	curl_global_cleanup();
}

/* Free what RESPONSE holds and zero it. */
void
http_response_clear(HttpResponse *response)
{
	if (response == NULL)
		return;
	g_clear_pointer(&response->body, g_bytes_unref);
	g_clear_pointer(&response->content_type, g_free);
	response->status = 0;
}

/* The host part of URL, for messages (owned); never the query. */
static char *
url_host(const char *url)
{
	CURLU *handle = curl_url();
	char *host = NULL;
	char *result;

	if (handle != NULL &&
	    curl_url_set(handle, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(handle, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		result = g_strdup(host);
	else
		result = g_strdup("the server");
	curl_free(host);
	curl_url_cleanup(handle);
	return result;
}

/* libcurl write callback: collect the answer, refuse a huge one. */
static size_t
collect_body(char *data, size_t size, size_t count, void *user_data)
{
	GByteArray *body = user_data;
	size_t len = size * count;

	if (body->len + len > ANSWER_MAX)
		return 0;	/* makes curl fail with CURLE_WRITE_ERROR */
	g_byte_array_append(body, (const guint8 *) data, len);
	return len;
}

/* The settings every request shares. */
static void
set_common_options(CURL *curl, const char *url, guint timeout,
		   GByteArray *body, char *errbuf)
{
	curl_easy_setopt(curl, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500	/* 7.85.0 */
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS,
			 (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS,
			 (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long) timeout);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT,
			 (long) MIN(timeout, CONNECT_TIMEOUT_MAX));
	curl_easy_setopt(curl, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
}

/* The error code for a libcurl failure, by whether it may have left. */
static M2tError
classify_failure(CURL *curl, CURLcode code)
{
	curl_off_t connect_time = 0;

	switch (code) {
	/* Nothing was sent: trying again is safe. */
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_FAILED_INIT:
		return M2T_ERROR_TEMPFAIL;

	/* The peer or the local TLS set-up is wrong: a person must look;
	 * verification is never turned off to get past it. */
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	/* The endpoint in the configuration is not a usable URL. */
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return M2T_ERROR_OPERATOR;

	/* A timeout before the connection was made sent nothing. */
	case CURLE_OPERATION_TIMEDOUT:
		if (curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T,
				      &connect_time) == CURLE_OK &&
		    connect_time == 0)
			return M2T_ERROR_TEMPFAIL;
		return M2T_ERROR_UNCERTAIN;

	/* Resets, empty or cut answers, partial sends, and anything
	 * unknown: the request may have been carried out. */
	default:
		return M2T_ERROR_UNCERTAIN;
	}
}

/* Set ERROR for the libcurl failure CODE on URL. */
static void
set_failure(CURL *curl, CURLcode code, const char *url, const char *errbuf,
	    GError **error)
{
	g_autofree char *host = url_host(url);
	g_autofree char *message = NULL;
	const char *detail = *errbuf != '\0' ? errbuf
					     : curl_easy_strerror(code);
	M2tError kind = classify_failure(curl, code);

	if (code == CURLE_WRITE_ERROR)
		detail = "the answer is too large";
	switch (kind) {
	case M2T_ERROR_TEMPFAIL:
		message = g_strdup_printf("cannot connect to %s: %s", host,
					  detail);
		break;
	case M2T_ERROR_OPERATOR:
		message = g_strdup_printf("cannot use %s safely: %s", host,
					  detail);
		break;
	default:
		message = g_strdup_printf("no answer from %s (it may have "
					  "acted on the request): %s", host,
					  detail);
		break;
	}
	g_strdelimit(message, "\r\n", ' ');
	g_strchomp(message);
	g_set_error_literal(error, M2T_ERROR, kind, message);
}

/* Run the prepared request; fill RESPONSE or ERROR. */
static gboolean
perform(CURL *curl, const char *url, GByteArray *body, const char *errbuf,
	HttpResponse *response, GError **error)
{
	CURLcode code;
	long status = 0;
	const char *content_type = NULL;
	gsize len;

	code = curl_easy_perform(curl);
	if (code != CURLE_OK) {
		set_failure(curl, code, url, errbuf, error);
		return FALSE;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &content_type);

	/* The body keeps a NUL after its last byte for string readers. */
	len = body->len;
	g_byte_array_append(body, (const guint8 *) "", 1);
	response->status = status;
	response->content_type = g_strdup(content_type);
	response->body = g_bytes_new_take(g_byte_array_steal(body, NULL),
					  len);
	return TRUE;
}

/* A new easy handle, or ERROR. */
static CURL *
new_handle(GError **error)
{
	CURL *curl = curl_easy_init();

	if (curl == NULL)
		g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
			    "cannot start an HTTP request");
	return curl;
}

/* POST BODY (application/x-www-form-urlencoded) to URL. */
gboolean
http_post_form(const char *url, const char *body, guint timeout,
	       HttpResponse *response, GError **error)
{
	g_autoptr(GByteArray) answer = g_byte_array_new();
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = NULL;
	gboolean ok;
	CURL *curl;

	g_return_val_if_fail(url != NULL && body != NULL, FALSE);
	g_return_val_if_fail(response != NULL, FALSE);
	memset(response, 0, sizeof *response);
	curl = new_handle(error);
	if (curl == NULL)
		return FALSE;
	set_common_options(curl, url, timeout, answer, errbuf);
	headers = curl_slist_append(headers, "Content-Type: "
				    "application/x-www-form-urlencoded");
	headers = curl_slist_append(headers, "Expect:");
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long) strlen(body));

	ok = perform(curl, url, answer, errbuf, response, error);
	curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	return ok;
}

/* Add a form part NAME holding VALUE to MIME. */
static void
add_field(curl_mime *mime, const char *name, const char *value)
{
	curl_mimepart *part = curl_mime_addpart(mime);

	curl_mime_name(part, name);
	curl_mime_data(part, value, CURL_ZERO_TERMINATED);
}

/*
 * POST a multipart/form-data form to URL: FIELDS in order, then the
 * file field last, named FILE_NAME, of CONTENT_TYPE, holding DATA.
 */
gboolean
http_post_multipart(const char *url, const HttpField *fields,
		    gsize n_fields, const char *file_name,
		    const char *content_type, GBytes *data,
		    guint timeout, HttpResponse *response,
		    GError **error)
{
	g_autoptr(GByteArray) answer = g_byte_array_new();
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = NULL;
	curl_mimepart *part;
	curl_mime *mime;
	gconstpointer bytes;
	gsize size;
	gboolean ok;
	CURL *curl;

	g_return_val_if_fail(url != NULL && file_name != NULL, FALSE);
	g_return_val_if_fail(data != NULL && response != NULL, FALSE);
	memset(response, 0, sizeof *response);
	curl = new_handle(error);
	if (curl == NULL)
		return FALSE;
	set_common_options(curl, url, timeout, answer, errbuf);

	/* The fields in order, then the file: OSS wants it last. */
	mime = curl_mime_init(curl);
	for (gsize i = 0; i < n_fields; i++)
		add_field(mime, fields[i].name, fields[i].value);
	bytes = g_bytes_get_data(data, &size);
	part = curl_mime_addpart(mime);
	curl_mime_name(part, "file");
	curl_mime_filename(part, file_name);
	if (content_type == NULL)
		content_type = "application/octet-stream";
	curl_mime_type(part, content_type);
	curl_mime_data(part, size > 0 ? bytes : "", size);
	curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);

	/* No "Expect: 100-continue" wait: the form is at most 2 MB. */
	headers = curl_slist_append(headers, "Expect:");
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

	ok = perform(curl, url, answer, errbuf, response, error);
	curl_easy_cleanup(curl);
	curl_mime_free(mime);
	curl_slist_free_all(headers);
	return ok;
}
