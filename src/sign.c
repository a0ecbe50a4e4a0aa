/*
 * sign.c - Alibaba Cloud RPC request signing, version 1.0 (HMAC-SHA1).
 *
 * Entry points: sign_params_new(), sign_params_set(),
 * sign_percent_encode(), sign_canonical_query(), sign_string_to_sign(),
 * sign_signature(), sign_hmac_sha1_base64().
 *
 * The parameters live in a GTree compared with strcmp(), that is by the
 * bytes of their names, which is the order the canonical query needs
 * (upper case before lower case: "Version" before "aliUid").  The
 * string to sign leaves out a "Signature" parameter, so the same tree
 * can carry the signature once it is computed and then be sent whole.
 *
 * Known limits: names and values must be UTF-8 (the caller's duty); a
 * name given twice keeps only its last value, as a query would not.
 */
#include "autoconfig.h"

#include <string.h>

#include "sign.h"

#define SHA1_LENGTH 20

/* strcmp() as a GCompareDataFunc. */
static int
compare_names(gconstpointer a, gconstpointer b, gpointer user_data)
{
	(void) user_data;
	return strcmp(a, b);
}

/* An empty parameter set: name -> value, both owned copies. */
GTree *
sign_params_new(void)
{
	return g_tree_new_full(compare_names, NULL, g_free, g_free);
}

/* Set NAME to VALUE (copied), replacing any earlier value. */
void
sign_params_set(GTree *params, const char *name, const char *value)
{
	g_return_if_fail(params != NULL && name != NULL && value != NULL);
	g_tree_replace(params, g_strdup(name), g_strdup(value));
}

/* TRUE for the bytes RFC 3986 leaves unencoded. */
static gboolean
is_unreserved(guchar c)
{
	return g_ascii_isalnum(c) || c == '-' || c == '_' || c == '.' ||
	       c == '~';
}

/* RFC 3986 percent-encoding of the UTF-8 string S (owned). */
char *
sign_percent_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	GString *out;

	g_return_val_if_fail(s != NULL, NULL);
	out = g_string_sized_new(strlen(s) * 3 / 2 + 1);
	for (const guchar *p = (const guchar *) s; *p != '\0'; p++) {
		if (is_unreserved(*p)) {
			g_string_append_c(out, *p);
			continue;
		}
		g_string_append_c(out, '%');
		g_string_append_c(out, hex[*p >> 4]);
		g_string_append_c(out, hex[*p & 0x0f]);
	}
	return g_string_free(out, FALSE);
}

typedef struct {
	GString *out;
	gboolean skip_signature;
} QueryBuilder;

/* Append one encoded name=value pair to the query being built. */
static gboolean
append_pair(gpointer key, gpointer value, gpointer user_data)
{
	QueryBuilder *builder = user_data;
	g_autofree char *name = NULL;
	g_autofree char *encoded = NULL;

	if (builder->skip_signature && strcmp(key, "Signature") == 0)
		return FALSE;
	name = sign_percent_encode(key);
	encoded = sign_percent_encode(value);
	if (builder->out->len > 0)
		g_string_append_c(builder->out, '&');
	g_string_append_printf(builder->out, "%s=%s", name, encoded);
	return FALSE;		/* go on */
}

/* The canonical query of PARAMS, with or without "Signature" (owned). */
static char *
build_query(GTree *params, gboolean skip_signature)
{
	QueryBuilder builder = { g_string_new(NULL), skip_signature };

	g_tree_foreach(params, append_pair, &builder);
	return g_string_free(builder.out, FALSE);
}

/* name=value pairs, encoded and sorted, joined by "&" (owned). */
char *
sign_canonical_query(GTree *params)
{
	g_return_val_if_fail(params != NULL, NULL);
	return build_query(params, FALSE);
}

/* The string to sign for METHOD ("GET", "POST") (owned). */
char *
sign_string_to_sign(const char *method, GTree *params)
{
	g_autofree char *query = NULL;
	g_autofree char *encoded = NULL;

	g_return_val_if_fail(method != NULL && params != NULL, NULL);
	query = build_query(params, TRUE);
	encoded = sign_percent_encode(query);
	return g_strdup_printf("%s&%%2F&%s", method, encoded);
}

/* Base64 HMAC-SHA1 of DATA under KEY, both taken as bytes (owned). */
static char *
hmac_sha1_base64(const char *key, gsize key_len, const char *data)
{
	g_autoptr(GHmac) hmac = NULL;
	guint8 digest[SHA1_LENGTH];
	gsize digest_len = sizeof digest;

	hmac = g_hmac_new(G_CHECKSUM_SHA1, (const guchar *) key, key_len);
	g_hmac_update(hmac, (const guchar *) data, strlen(data));
	g_hmac_get_digest(hmac, digest, &digest_len);
	return g_base64_encode(digest, digest_len);
}

/* Base64 HMAC-SHA1 of the string to sign, key SECRET + "&" (owned). */
char *
sign_signature(const char *method, GTree *params, const char *secret)
{
	g_autofree char *string_to_sign = NULL;
	g_autofree char *key = NULL;

	g_return_val_if_fail(secret != NULL, NULL);
	string_to_sign = sign_string_to_sign(method, params);
	key = g_strconcat(secret, "&", NULL);
	return hmac_sha1_base64(key, strlen(key), string_to_sign);
}

/* Base64 HMAC-SHA1 of DATA with KEY as it is (OSS policies) (owned). */
char *
sign_hmac_sha1_base64(const char *key, const char *data)
{
	g_return_val_if_fail(key != NULL && data != NULL, NULL);
	return hmac_sha1_base64(key, strlen(key), data);
}
