/*
 * oss.c - uploading one attachment to OSS with a PostObject form.
 *
 * Entry points: oss_object_key(), oss_upload().
 *
 * The form is the one PROTOCOLS.md C.1 describes: key, OSSAccessKeyId,
 * policy, Signature as getOSSTempAuthor gave them, success_action_status
 * 200 (an empty answer), then the file, last, named after the key's
 * last component.  Any 2xx is success.  A refusal is OSS's XML <Error>,
 * of which <Code> and <Message> are read with a plain string search.
 *
 * Known limits: XML entities in the error message are shown as they
 * are; the policy and signature are not checked here (OSS does it).
 */
#include "autoconfig.h"

#include <string.h>

#include "error.h"
#include "http.h"
#include "log.h"
#include "oss.h"

#define XML_TEXT_MAX 200	/* bytes of an error's code or message */

/* The object key for NAME under AUTH's dir (owned). */
char *
oss_object_key(const OssAuth *auth, const char *name)
{
	const char *dir = auth->dir != NULL ? auth->dir : "";
	gsize dir_len;

	g_return_val_if_fail(name != NULL, NULL);
	/* No leading "/" on either part, none doubled between them. */
	while (*dir == '/')
		dir++;
	while (*name == '/')
		name++;
	dir_len = strlen(dir);
	while (dir_len > 0 && dir[dir_len - 1] == '/')
		dir_len--;
	if (dir_len == 0)
		return g_strdup(name);
	return g_strdup_printf("%.*s/%s", (int) dir_len, dir, name);
}

/* The text of the first <TAG> element in XML (owned), or NULL. */
static char *
xml_element(const char *xml, const char *tag)
{
	g_autofree char *open = g_strdup_printf("<%s>", tag);
	g_autofree char *close = g_strdup_printf("</%s>", tag);
	const char *start = strstr(xml, open);
	const char *end;
	char *text;

	if (start == NULL)
		return NULL;
	start += strlen(open);
	end = strstr(start, close);
	if (end == NULL)
		return NULL;
	text = g_utf8_make_valid(start, MIN(end - start, XML_TEXT_MAX));
	g_strdelimit(text, "\t\r\n", ' ');
	return g_strstrip(text);
}

/* A header-safe content type: TYPE, or a generic one (borrowed). */
static const char *
safe_content_type(const char *type)
{
	if (type == NULL || *type == '\0')
		return "application/octet-stream";
	for (const char *p = type; *p != '\0'; p++)
		if ((guchar) *p < 0x20 || (guchar) *p >= 0x7f)
			return "application/octet-stream";
	return type;
}

/* Set ERROR for OSS's refusal of KEY in RESPONSE. */
static void
set_refusal(const char *key, const HttpResponse *response, GError **error)
{
	const char *body = response->body != NULL ?
			   g_bytes_get_data(response->body, NULL) : NULL;
	g_autofree char *code = NULL;
	g_autofree char *message = NULL;
	g_autofree char *lower = NULL;

	if (body != NULL) {
		code = xml_element(body, "Code");
		message = xml_element(body, "Message");
	}
	if (code == NULL)
		code = g_strdup("no error code");
	if (message == NULL)
		message = g_strdup("no message");
	lower = g_ascii_strdown(message, -1);

	/* The policy lasts about two minutes: a new one cures this. */
	if (strcmp(code, "AccessDenied") == 0 &&
	    strstr(lower, "expired") != NULL) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_EXPIRED,
			    "upload of %s: authorisation expired: %s", key,
			    message);
		return;
	}

	/* Anything else is retried too (DESIGN.md: an OSS failure is
	 * temporary); the code says what went wrong. */
	g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
		    "upload of %s refused%s: %s: %s (HTTP %ld)", key,
		    response->status >= 500 ? " by a server error" : "",
		    code, message, response->status);
}

/* Upload DATA as KEY; TRUE on success. */
gboolean
oss_upload(const OssAuth *auth, const char *key, const char *content_type,
	   GBytes *data, guint timeout, GError **error)
{
	HttpField fields[] = {
		{ "key", key },
		{ "OSSAccessKeyId", auth->access_id },
		{ "policy", auth->policy },
		{ "Signature", auth->signature },
		{ "success_action_status", "200" },
	};
	HttpResponse response = { 0 };
	const char *file_name;
	gboolean ok;

	g_return_val_if_fail(auth != NULL && key != NULL && data != NULL,
			     FALSE);
	if (auth->host == NULL || auth->access_id == NULL ||
	    auth->policy == NULL || auth->signature == NULL) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_EXPIRED,
			    "upload of %s: no upload authorisation", key);
		return FALSE;
	}
	file_name = strrchr(key, '/');
	file_name = file_name != NULL ? file_name + 1 : key;

	log_debug("upload of %s: %" G_GSIZE_FORMAT " bytes", key,
		  g_bytes_get_size(data));
	if (!http_post_multipart(auth->host, fields, G_N_ELEMENTS(fields),
				 file_name, safe_content_type(content_type),
				 data, timeout, &response, error)) {
		g_prefix_error(error, "upload of %s: ", key);
		return FALSE;
	}
	log_debug("upload of %s: HTTP %ld", key, response.status);
	ok = response.status >= 200 && response.status < 300;
	if (!ok)
		set_refusal(key, &response, error);
	http_response_clear(&response);
	return ok;
}
