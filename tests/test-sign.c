/*
 * test-sign.c - the RPC signature and the OSS HMAC against the vectors
 * of PROTOCOLS.md A.3 and C.3, byte for byte.
 *
 * Each vector is a parameter list, a method, a secret, the string to
 * sign where the documentation prints it, and the signature.  A
 * mismatch prints what was got and what was wanted.
 */
#include "autoconfig.h"

#include <string.h>

#include "sign.h"

typedef struct {
	const char *name;
	const char *value;
} Param;

typedef struct {
	const char *label;
	const char *method;
	const char *secret;
	const Param *params;	/* ends with { NULL, NULL } */
	const char *string_to_sign;	/* NULL when not printed */
	const char *signature;
} Vector;

/* V2-1: ECS DescribeRegions, the documented sample Signature. */
static const Param v2_1[] = {
	{ "AccessKeyId", "testid" },
	{ "Action", "DescribeRegions" },
	{ "Format", "XML" },
	{ "SignatureMethod", "HMAC-SHA1" },
	{ "SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf" },
	{ "SignatureVersion", "1.0" },
	{ "Timestamp", "2016-02-23T12:46:24Z" },
	{ "Version", "2014-05-26" },
	{ NULL, NULL },
};

/* V2-2: the older edition of the same, spelling TimeStamp. */
static const Param v2_2[] = {
	{ "AccessKeyId", "testid" },
	{ "Action", "DescribeRegions" },
	{ "Format", "XML" },
	{ "SignatureMethod", "HMAC-SHA1" },
	{ "SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf" },
	{ "SignatureVersion", "1.0" },
	{ "TimeStamp", "2016-02-23T12:46:24Z" },
	{ "Version", "2014-05-26" },
	{ NULL, NULL },
};

/* V2-3: SMS SendSms, multibyte UTF-8 and JSON in values (given out of
 * order on purpose: the tree sorts them). */
static const Param v2_3[] = {
	{ "Version", "2017-05-25" },
	{ "TemplateParam", "{\"customer\":\"test\"}" },
	{ "SignName", "阿里云短信测试专用" },
	{ "AccessKeyId", "testId" },
	{ "Action", "SendSms" },
	{ "Format", "XML" },
	{ "OutId", "123" },
	{ "PhoneNumbers", "15300000001" },
	{ "RegionId", "cn-hangzhou" },
	{ "SignatureMethod", "HMAC-SHA1" },
	{ "SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466" },
	{ "SignatureVersion", "1.0" },
	{ "TemplateCode", "SMS_71390007" },
	{ "Timestamp", "2017-07-12T02:42:19Z" },
	{ NULL, NULL },
};

/* V2-X: mixed-case names, space, "*", "~" and CJK (computed). */
static const Param v2_x[] = {
	{ "productId", "12" },
	{ "content", "测试 a*b~c" },
	{ "aliUid", "1018" },
	{ "AccessKeyId", "testid" },
	{ "Action", "Add" },
	{ "Format", "JSON" },
	{ "SignatureMethod", "HMAC-SHA1" },
	{ "SignatureNonce", "00000000-0000-0000-0000-000000000001" },
	{ "SignatureVersion", "1.0" },
	{ "Timestamp", "2024-01-02T03:04:05Z" },
	{ "Version", "2016-08-30" },
	{ NULL, NULL },
};

static const Vector vectors[] = {
	{ "V2-1", "GET", "testsecret", v2_1,
	  "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions"
	  "%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1"
	  "%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
	  "%26SignatureVersion%3D1.0"
	  "%26Timestamp%3D2016-02-23T12%253A46%253A24Z"
	  "%26Version%3D2014-05-26",
	  "OLeaidS1JvxuMvnyHOwuJ+uX5qY=" },
	{ "V2-2", "GET", "testsecret", v2_2, NULL,
	  "CT9X0VtwR86fNWSnsc6v8YGOjuE=" },
	{ "V2-3", "GET", "testSecret", v2_3, NULL,
	  "zJDF+Lrzhj/ThnlvIToysFRq6t4=" },
	{ "V2-X", "GET", "testsecret", v2_x, NULL,
	  "VKlIkUpAZViGUQgEOK36T9bN7E8=" },
};

/* A parameter tree holding PARAMS. */
static GTree *
make_params(const Param *params)
{
	GTree *tree = sign_params_new();

	for (const Param *p = params; p->name != NULL; p++)
		sign_params_set(tree, p->name, p->value);
	return tree;
}

/* Every vector: string to sign (when printed) and signature. */
static void
test_vectors(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(vectors); i++) {
		const Vector *v = &vectors[i];
		g_autoptr(GTree) params = make_params(v->params);
		g_autofree char *sts = NULL;
		g_autofree char *signature = NULL;

		g_test_message("vector %s", v->label);
		sts = sign_string_to_sign(v->method, params);
		if (v->string_to_sign != NULL)
			g_assert_cmpstr(sts, ==, v->string_to_sign);
		signature = sign_signature(v->method, params, v->secret);
		g_assert_cmpstr(signature, ==, v->signature);
	}
}

/* V2-X: the byte order of names and the encoded content value. */
static void
test_canonical_order(void)
{
	g_autoptr(GTree) params = make_params(v2_x);
	g_autofree char *query = sign_canonical_query(params);
	g_auto(GStrv) pairs = g_strsplit(query, "&", -1);
	GString *names = g_string_new(NULL);
	g_autofree char *joined = NULL;

	for (char **p = pairs; *p != NULL; p++) {
		char *eq = strchr(*p, '=');

		g_assert_nonnull(eq);
		g_string_append_len(names, *p, eq - *p);
		g_string_append_c(names, ' ');
	}
	joined = g_string_free(names, FALSE);
	g_assert_cmpstr(joined, ==,
			"AccessKeyId Action Format SignatureMethod "
			"SignatureNonce SignatureVersion Timestamp Version "
			"aliUid content productId ");
	g_assert_nonnull(strstr(query,
				"&content=%E6%B5%8B%E8%AF%95%20a%2Ab~c&"));
}

/* A "Signature" parameter is sent but never signed. */
static void
test_signature_excluded(void)
{
	g_autoptr(GTree) params = make_params(v2_1);
	g_autofree char *signature = NULL;
	g_autofree char *sts = NULL;
	g_autofree char *query = NULL;

	sign_params_set(params, "Signature", "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
	sts = sign_string_to_sign("GET", params);
	g_assert_cmpstr(sts, ==, vectors[0].string_to_sign);
	signature = sign_signature("GET", params, "testsecret");
	g_assert_cmpstr(signature, ==, "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
	query = sign_canonical_query(params);
	g_assert_nonnull(strstr(query,
				"&Signature=OLeaidS1JvxuMvnyHOwuJ%2BuX5qY%3D&"));
}

/* A later value replaces an earlier one. */
static void
test_replace(void)
{
	g_autoptr(GTree) params = sign_params_new();
	g_autofree char *query = NULL;

	sign_params_set(params, "b", "1");
	sign_params_set(params, "a", "x y");
	sign_params_set(params, "b", "2");
	query = sign_canonical_query(params);
	g_assert_cmpstr(query, ==, "a=x%20y&b=2");
}

/* RFC 3986 percent-encoding, PROTOCOLS.md A.3's example and edges. */
static void
test_percent_encode(void)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
		{ "a b*c~d/é+=&", "a%20b%2Ac~d%2F%C3%A9%2B%3D%26" },
		{ "", "" },
		{ "AZaz09-_.~", "AZaz09-_.~" },
		{ "/", "%2F" },
		{ "\"%\n", "%22%25%0A" },
		{ "测", "%E6%B5%8B" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *got = sign_percent_encode(cases[i].in);

		g_assert_cmpstr(got, ==, cases[i].want);
	}
}

/* The OSS HMAC-SHA1 vectors of C.3: the key is used as it is. */
static void
test_oss_hmac(void)
{
	static const struct {
		const char *key;
		const char *data;
		const char *want;
	} cases[] = {
		{ "OtxrzxIsfpFjA7SwPzILwy8Bw21TLhquhboDYROV",
		  "PUT\nODBGOERFMDMzQTczRUY3NUE3NzA5QzdFNUYzMDQxNEM=\n"
		  "text/html\nThu, 17 Nov 2005 18:49:58 GMT\n"
		  "x-oss-magic:abracadabra\nx-oss-meta-author:foo@bar.com\n"
		  "/oss-example/nelson",
		  "26NBxoKdsyly4EDv6inkoDft/yA=" },
		{ "OtxrzxIsfpFjA7SwPzILwy8Bw21TLhquhboDYROV",
		  "eyJleHBpcmF0aW9uIjoiMjAxMy0xMi0wMVQxMjowMDowMFoiLCJjb25k"
		  "aXRpb25zIjpbWyJjb250ZW50LWxlbmd0aC1yYW5nZSIsIDAsIDEwNDg1"
		  "NzYwXSx7ImJ1Y2tldCI6ImFoYWhhIn0sIHsiQSI6ICJhIn0seyJrZXki"
		  "OiAiQUJDIn1dfQ==",
		  "BgRcDqgNsBCQtbrBAphnACiP3yw=" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *got = sign_hmac_sha1_base64(cases[i].key,
							     cases[i].data);

		g_assert_cmpstr(got, ==, cases[i].want);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/sign/vectors", test_vectors);
	g_test_add_func("/sign/canonical-order", test_canonical_order);
	g_test_add_func("/sign/signature-excluded", test_signature_excluded);
	g_test_add_func("/sign/replace", test_replace);
	g_test_add_func("/sign/percent-encode", test_percent_encode);
	g_test_add_func("/sign/oss-hmac", test_oss_hmac);
	return g_test_run();
}
