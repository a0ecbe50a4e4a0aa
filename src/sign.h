/*
 * sign.h - Alibaba Cloud RPC request signing, version 1.0 (HMAC-SHA1).
 *
 * The parameters are kept in a GTree ordered by byte order of their
 * names, which is the order the signature needs.  See PROTOCOLS.md A.2:
 * RFC 3986 percent-encoding (space %20, * %2A, ~ literal), the string to
 * sign METHOD&%2F&enc(canonical query), key = secret + "&".
 */
#ifndef M2T_SIGN_H
#define M2T_SIGN_H

#include <glib.h>

/* An empty parameter set: name -> value, both owned copies. */
GTree *sign_params_new(void);

/* Set NAME to VALUE (copied), replacing any earlier value. */
void sign_params_set(GTree *params, const char *name, const char *value);

/* RFC 3986 percent-encoding of the UTF-8 string S (owned). */
char *sign_percent_encode(const char *s);

/* name=value pairs, encoded and sorted, joined by "&" (owned). */
char *sign_canonical_query(GTree *params);

/* The string to sign for METHOD ("GET", "POST") (owned). */
char *sign_string_to_sign(const char *method, GTree *params);

/* Base64 HMAC-SHA1 of the string to sign, key SECRET + "&" (owned). */
char *sign_signature(const char *method, GTree *params, const char *secret);

/* Base64 HMAC-SHA1 of DATA with KEY as it is (OSS policies) (owned). */
char *sign_hmac_sha1_base64(const char *key, const char *data);

#endif
