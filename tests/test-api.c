/*
 * test-api.c - reading and classifying the workorder API's answers, the
 * OSS object key, and the in-run retry.
 *
 * The answers are those PROTOCOLS.md A.6 and B.3 document, in each of
 * their spellings; no request leaves the process.
 */
#include "autoconfig.h"

#include <string.h>

#include "api-internal.h"
#include "error.h"
#include "log.h"
#include "oss.h"
#include "retry.h"

#define OK (-1)		/* the expected "error code" of a success */

typedef struct {
	const char *label;
	long status;
	const char *body;
	int want;		/* OK or an M2tError */
	const char *in_message;	/* a fragment the message holds, or NULL */
} AnswerCase;

static const AnswerCase answer_cases[] = {
	{ "doc Add success, code as a string", 200,
	  "{\"message\":\"successful\",\"data\":\"8M***UY\",\"code\":\"200\","
	  "\"success\":true}", OK, NULL },
	{ "code as a number", 200,
	  "{\"message\":\"successful\",\"data\":\"8M***UY\",\"code\":200,"
	  "\"success\":true}", OK, NULL },
	{ "success as a string, no code", 200,
	  "{\"success\":\"true\",\"data\":\"8M***UY\"}", OK, NULL },
	{ "PascalCase keys", 200,
	  "{\"Message\":\"successful\",\"Data\":\"8M***UY\",\"Code\":\"200\","
	  "\"Success\":\"true\"}", OK, NULL },
	{ "SYSTEM_BUSY as -153", 200,
	  "{\"success\":false,\"code\":-153,\"message\":\"the system is "
	  "busy\",\"data\":null}", M2T_ERROR_TEMPFAIL, "SYSTEM_BUSY" },
	{ "SYSTEM_BUSY by name", 200,
	  "{\"Success\":\"false\",\"Code\":\"SYSTEM_BUSY\",\"Message\":\"the "
	  "system is busy\"}", M2T_ERROR_TEMPFAIL, "the system is busy" },
	{ "ILLEGAL_AUTH", 200,
	  "{\"success\":false,\"code\":-121,\"message\":\"illegal auth\"}",
	  M2T_ERROR_OPERATOR, "ILLEGAL_AUTH" },
	{ "ILLEGAL_PARAM on title (from the mail)", 200,
	  "{\"success\":false,\"code\":-101,\"message\":\"illegal parameter, "
	  "param is title\"}", M2T_ERROR_DATAERR, "param is title" },
	{ "ILLEGAL_PARAM on aliUid (from the configuration)", 200,
	  "{\"success\":false,\"code\":\"-101\",\"message\":\"illegal "
	  "parameter, param is aliUid\"}", M2T_ERROR_OPERATOR, "aliUid" },
	{ "ILLEGAL_PARAM on attachments", 200,
	  "{\"success\":false,\"code\":\"ILLEGAL_PARAM\",\"message\":"
	  "\"illegal parameter, param is attachments\"}",
	  M2T_ERROR_DATAERR, NULL },
	{ "ILLEGAL_PARAM_EMPTY on content", 200,
	  "{\"success\":false,\"code\":-104,\"message\":\"content must not "
	  "be null or empty\"}", M2T_ERROR_DATAERR, "ILLEGAL_PARAM_EMPTY" },
	{ "ILLEGAL_PARAM_EMPTY on productId", 200,
	  "{\"success\":false,\"code\":-104,\"message\":\"productId must not "
	  "be null or empty\"}", M2T_ERROR_OPERATOR, NULL },
	{ "ILLEGAL_PARAM without a readable param", 200,
	  "{\"success\":false,\"code\":-101}", M2T_ERROR_OPERATOR, NULL },
	{ "HTTP 500 InternalError", 500,
	  "{\"RequestId\":\"r1\",\"HostId\":\"workorder.aliyuncs.com\","
	  "\"Code\":\"InternalError\",\"Message\":\"The request processing "
	  "has failed due to some unknown error.\"}",
	  M2T_ERROR_TEMPFAIL, "HTTP 500" },
	{ "HTTP 503 ServiceUnavailable", 503,
	  "{\"RequestId\":\"r1\",\"Code\":\"ServiceUnavailable\","
	  "\"Message\":\"The request has failed due to a temporary failure "
	  "of the server.\"}", M2T_ERROR_TEMPFAIL, "ServiceUnavailable" },
	{ "HTTP 503 from a proxy, HTML", 503,
	  "<html><body>503 Service Unavailable</body></html>",
	  M2T_ERROR_TEMPFAIL, "HTTP 503" },
	{ "Throttling.User on 400", 400,
	  "{\"RequestId\":\"r1\",\"Code\":\"Throttling.User\",\"Message\":"
	  "\"Request was denied due to user flow control.\"}",
	  M2T_ERROR_TEMPFAIL, "Throttling.User" },
	{ "Throttling on 400", 400,
	  "{\"Code\":\"Throttling\",\"Message\":\"Request was denied due to "
	  "request throttling.\"}", M2T_ERROR_TEMPFAIL, NULL },
	{ "SignatureDoesNotMatch on 400", 400,
	  "{\"RequestId\":\"r1\",\"Code\":\"SignatureDoesNotMatch\","
	  "\"Message\":\"Specified signature is not matched with our "
	  "calculation.\"}", M2T_ERROR_OPERATOR, "SignatureDoesNotMatch" },
	{ "SignatureNonceUsed on 400", 400,
	  "{\"Code\":\"SignatureNonceUsed\",\"Message\":\"Specified "
	  "signature nonce was used already.\"}", M2T_ERROR_TEMPFAIL, NULL },
	{ "InvalidTimeStamp.Expired on 400", 400,
	  "{\"Code\":\"InvalidTimeStamp.Expired\",\"Message\":\"Specified "
	  "time stamp or date value is expired.\"}",
	  M2T_ERROR_OPERATOR, "clock" },
	{ "InvalidAccessKeyId.NotFound on 404", 404,
	  "{\"Code\":\"InvalidAccessKeyId.NotFound\",\"Message\":\"Specified "
	  "access key is not found.\"}", M2T_ERROR_OPERATOR, NULL },
	{ "InvalidSecurityToken.Expired on 400", 400,
	  "{\"Code\":\"InvalidSecurityToken.Expired\",\"Message\":\"Specified "
	  "SecurityToken is expired.\"}", M2T_ERROR_OPERATOR, NULL },
	{ "Forbidden.RAM on 403", 403,
	  "{\"Code\":\"Forbidden.RAM\",\"Message\":\"User not authorized to "
	  "operate on the specified resource.\"}", M2T_ERROR_OPERATOR, NULL },
	{ "MissingParameter on 400", 400,
	  "{\"Code\":\"MissingParameter.Version\",\"Message\":\"x\"}",
	  M2T_ERROR_OPERATOR, NULL },
	{ "an unknown old-API code", 200,
	  "{\"success\":false,\"code\":-999,\"message\":\"odd\"}",
	  M2T_ERROR_OPERATOR, "-999" },
	{ "not JSON on 200: it may have been done", 200,
	  "<html>Bad gateway</html>", M2T_ERROR_UNCERTAIN, "not JSON" },
	{ "not JSON on 502", 502, "<html>Bad gateway</html>",
	  M2T_ERROR_TEMPFAIL, "not JSON" },
	{ "empty body on 200", 200, "", M2T_ERROR_UNCERTAIN, "empty" },
	{ "empty body on 503", 503, "", M2T_ERROR_TEMPFAIL, "empty" },
	{ "JSON without a code", 200, "{\"data\":\"8M***UY\"}",
	  M2T_ERROR_TEMPFAIL, "no code" },
	{ "JSON that is not an object", 200, "[1,2]",
	  M2T_ERROR_UNCERTAIN, NULL },
	{ "a redirect", 302, "<html>moved</html>",
	  M2T_ERROR_OPERATOR, "HTTP 302" },
};

/* Every answer of the table: success, or the right error code. */
static void
test_answers(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(answer_cases); i++) {
		const AnswerCase *c = &answer_cases[i];
		g_autoptr(GError) error = NULL;
		cJSON *answer;

		g_test_message("case: %s", c->label);
		answer = api_read_answer("Add", c->status, c->body,
					 strlen(c->body), &error);
		if (c->want == OK) {
			g_autofree char *id = NULL;

			g_assert_no_error(error);
			g_assert_nonnull(answer);
			id = api_read_add(answer, &error);
			g_assert_no_error(error);
			g_assert_cmpstr(id, ==, "8M***UY");
			cJSON_Delete(answer);
			continue;
		}
		g_assert_null(answer);
		g_assert_nonnull(error);
		g_test_message("  -> %d: %s", error->code, error->message);
		g_assert_error(error, M2T_ERROR, c->want);
		g_assert_nonnull(strstr(error->message, "Add"));
		g_assert_null(strchr(error->message, '\n'));
		if (c->in_message != NULL && !strstr(error->message,
						     c->in_message))
			g_error("case %s: message \"%s\" lacks \"%s\"",
				c->label, error->message, c->in_message);
	}
}

/* A gateway that echoes its string to sign must not leak the token. */
static void
test_no_secret_in_message(void)
{
	static const char body[] =
		"{\"Code\":\"SignatureDoesNotMatch\",\"Message\":\"Specified "
		"signature is not matched with our calculation. server string "
		"to sign is:POST&%2F&AccessKeyId%3DSTS.x%26SecurityToken%3D"
		"TOKENVALUE\"}";
	g_autoptr(GError) error = NULL;
	cJSON *answer;

	answer = api_read_answer("Add", 400, body, strlen(body), &error);
	g_assert_null(answer);
	g_assert_error(error, M2T_ERROR, M2T_ERROR_OPERATOR);
	g_assert_null(strstr(error->message, "TOKENVALUE"));
	g_assert_null(strstr(error->message, "SecurityToken"));
}

/* Only Add sends fields from the mail: the same refusal from another
 * call is the operator's, never a bounce. */
static void
test_illegal_param_elsewhere(void)
{
	static const char body[] =
		"{\"code\":\"-101\",\"success\":false,\"message\":"
		"\"illegal parameter, param is content\"}";
	g_autoptr(GError) error = NULL;

	g_assert_null(api_read_answer("getOSSTempAuthor", 200, body,
				      strlen(body), &error));
	g_assert_error(error, M2T_ERROR, M2T_ERROR_OPERATOR);
	g_clear_error(&error);
	g_assert_null(api_read_answer("QuestionList", 200, body,
				      strlen(body), &error));
	g_assert_error(error, M2T_ERROR, M2T_ERROR_OPERATOR);
}

/* Add succeeded but gave no ID: the ticket may exist. */
static void
test_add_without_id(void)
{
	static const char body[] =
		"{\"code\":\"200\",\"success\":true,\"data\":null}";
	g_autoptr(GError) error = NULL;
	g_autofree char *id = NULL;
	cJSON *answer;

	answer = api_read_answer("Add", 200, body, strlen(body), &error);
	g_assert_no_error(error);
	id = api_read_add(answer, &error);
	g_assert_null(id);
	g_assert_error(error, M2T_ERROR, M2T_ERROR_UNCERTAIN);
	cJSON_Delete(answer);
}

typedef struct {
	const char *label;
	const char *body;
	const char *title;
	gint64 product_id;
	const char *want;	/* the ID found, or NULL */
	gboolean decided;
	const char *taken;	/* IDs of other mails, ","-separated */
	gint64 near;		/* time of our Add; 0: the newest wins */
} ListCase;

#define EXAMPLE_SHAPE \
	"{\"Count\":4,\"ListResult\":{\"QuestionDetail\":[" \
	"{\"Id\":\"T9\",\"Uid\":1,\"ProductId\":13,\"Title\":\"Printer\"," \
	"\"QuestionStatus\":\"dealing\",\"AddTime\":1700000009000}," \
	"{\"Id\":\"T2\",\"Uid\":1,\"ProductId\":12,\"Title\":\"Printer\"," \
	"\"QuestionStatus\":\"dealing\",\"AddTime\":1700000002000}," \
	"{\"Id\":\"T3\",\"Uid\":1,\"ProductId\":12,\"Title\":\"Printer!\"," \
	"\"QuestionStatus\":\"dealing\",\"AddTime\":1700000003000}," \
	"{\"Id\":\"T1\",\"Uid\":1,\"ProductId\":12,\"Title\":\"Printer\"," \
	"\"QuestionStatus\":\"dealing\",\"AddTime\":1700000001000}]}," \
	"\"Message\":\"successful\",\"Success\":true,\"Code\":\"200\"}"

#define TABLE_SHAPE \
	"{\"success\":true,\"code\":200,\"message\":\"successful\"," \
	"\"data\":[{\"id\":1001,\"productId\":12,\"title\":\"Printer\"," \
	"\"uid\":1,\"questionStatus\":\"dealing\",\"addTime\":1700000001000}," \
	"{\"id\":\"A2\",\"productId\":\"12\",\"title\":\"Printer\"," \
	"\"uid\":1,\"questionStatus\":\"dealing\",\"addTime\":\"1700000002000\"}" \
	"],\"count\":2}"

static const ListCase list_cases[] = {
	{ "example shape, newest of the product", EXAMPLE_SHAPE,
	  "Printer", 12, "T2", TRUE, NULL, 0 },
	{ "example shape, any product", EXAMPLE_SHAPE,
	  "Printer", 0, "T9", TRUE, NULL, 0 },
	{ "example shape, no such title", EXAMPLE_SHAPE,
	  "Scanner", 12, NULL, TRUE, NULL, 0 },
	{ "table shape, newest", TABLE_SHAPE,
	  "Printer", 12, "A2", TRUE, NULL, 0 },
	{ "table shape, no such title", TABLE_SHAPE,
	  "printer", 12, NULL, TRUE, NULL, 0 },
	{ "empty list left out", "{\"Count\":0,\"ListResult\":{},"
	  "\"Success\":true,\"Code\":\"200\"}", "Printer", 12, NULL, TRUE,
	  NULL, 0 },
	{ "empty table", "{\"success\":true,\"code\":200,\"data\":[]}",
	  "Printer", 12, NULL, TRUE, NULL, 0 },
	{ "no list at all", "{\"Success\":true,\"Code\":\"200\",\"Count\":3}",
	  "Printer", 12, NULL, FALSE, NULL, 0 },
	{ "the newest belongs to another mail", EXAMPLE_SHAPE,
	  "Printer", 12, "T1", TRUE, "T2", 0 },
	{ "all belong to other mails", TABLE_SHAPE,
	  "Printer", 12, NULL, TRUE, "A2,1001", 0 },
	{ "the one nearest our Add, not the newest", EXAMPLE_SHAPE,
	  "Printer", 12, "T1", TRUE, NULL, 1700000001200 },
	{ "nearest, of any product", EXAMPLE_SHAPE,
	  "Printer", 0, "T2", TRUE, NULL, 1700000002100 },
	{ "as near as two: the newer", EXAMPLE_SHAPE,
	  "Printer", 12, "T2", TRUE, NULL, 1700000001500 },
};

/* ApiTicketTaken over a ","-list of taken IDs. */
static gboolean
taken_in_list(const char *id, gpointer data)
{
	g_auto(GStrv) taken = g_strsplit(data, ",", -1);

	return g_strv_contains((const char *const *) taken, id);
}

/* QuestionList in both documented shapes. */
static void
test_question_list(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(list_cases); i++) {
		const ListCase *c = &list_cases[i];
		g_autoptr(GError) error = NULL;
		g_autofree char *found = NULL;
		gint64 found_time = 0;
		gint64 total;
		guint rows;
		gboolean decided;
		cJSON *answer;

		g_test_message("case: %s", c->label);
		answer = api_read_answer("QuestionList", 200, c->body,
					 strlen(c->body), &error);
		g_assert_no_error(error);
		decided = api_read_question_list(answer, c->title,
						 c->product_id,
						 c->near ? c->near
							 : G_MAXINT64,
						 c->taken ? taken_in_list
							  : NULL,
						 (gpointer) c->taken, &found,
						 &found_time, &rows, &total,
						 &error);
		cJSON_Delete(answer);
		g_assert_cmpint(decided, ==, c->decided);
		if (!decided) {
			g_assert_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL);
			continue;
		}
		g_assert_no_error(error);
		g_assert_cmpstr(found, ==, c->want);
	}
}

typedef struct {
	const char *dir;
	const char *name;
	const char *want;
} KeyCase;

/* getOSSTempAuthor's data, and the key under its dir. */
static void
test_oss_auth(void)
{
	static const KeyCase dirs[] = {
		{ "pop_temp26842/", "a.pdf", "pop_temp26842/a.pdf" },
		{ "pop_temp123", "a.pdf", "pop_temp123/a.pdf" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(dirs); i++) {
		g_autofree char *body = g_strdup_printf(
			"{\"data\":{\"accessId\":\"LTAIxxxx\",\"policy\":"
			"\"eyJ9\",\"signature\":\"c2ln\",\"dir\":\"%s\","
			"\"host\":\"http://work-order.oss-cn-hangzhou."
			"aliyuncs.com/\",\"expire\":\"1573130288\"},"
			"\"code\":\"200\",\"success\":true,\"message\":"
			"\"successful\"}", dirs[i].dir);
		g_autoptr(GError) error = NULL;
		g_autofree char *key = NULL;
		OssAuth auth;
		cJSON *answer;

		answer = api_read_answer("getOSSTempAuthor", 200, body,
					 strlen(body), &error);
		g_assert_no_error(error);
		g_assert_true(api_read_oss_auth(answer, &auth, &error));
		cJSON_Delete(answer);
		g_assert_no_error(error);
		g_assert_cmpstr(auth.access_id, ==, "LTAIxxxx");
		g_assert_cmpstr(auth.policy, ==, "eyJ9");
		g_assert_cmpstr(auth.signature, ==, "c2ln");
		g_assert_cmpstr(auth.host, ==, "http://work-order.oss-cn-"
				"hangzhou.aliyuncs.com/");
		g_assert_cmpint(auth.expire, ==, 1573130288);
		key = oss_object_key(&auth, dirs[i].name);
		g_assert_cmpstr(key, ==, dirs[i].want);
		oss_auth_clear(&auth);
		g_assert_null(auth.policy);
	}
}

/* An authorisation without its host cannot be used. */
static void
test_oss_auth_incomplete(void)
{
	static const char body[] =
		"{\"Data\":{\"AccessId\":\"LTAIxxxx\",\"Policy\":\"eyJ9\","
		"\"Signature\":\"c2ln\",\"Dir\":\"d/\",\"Expire\":1573130288},"
		"\"Code\":\"200\",\"Success\":true}";
	g_autoptr(GError) error = NULL;
	OssAuth auth;
	cJSON *answer;

	answer = api_read_answer("getOSSTempAuthor", 200, body,
				 strlen(body), &error);
	g_assert_no_error(error);
	g_assert_false(api_read_oss_auth(answer, &auth, &error));
	g_assert_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL);
	g_assert_nonnull(strstr(error->message, "host"));
	cJSON_Delete(answer);
	oss_auth_clear(&auth);
}

/* oss_object_key(): no doubled or leading "/". */
static void
test_object_key(void)
{
	static const KeyCase cases[] = {
		{ "pop_temp1/", "a.txt", "pop_temp1/a.txt" },
		{ "pop_temp1", "a.txt", "pop_temp1/a.txt" },
		{ "pop_temp1//", "/a.txt", "pop_temp1/a.txt" },
		{ "/pop_temp1/", "a.txt", "pop_temp1/a.txt" },
		{ "", "a.txt", "a.txt" },
		{ "/", "a.txt", "a.txt" },
		{ NULL, "a.txt", "a.txt" },
		{ "x/y/", "报告.pdf", "x/y/报告.pdf" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		OssAuth auth = { .dir = (char *) cases[i].dir };
		g_autofree char *key = oss_object_key(&auth, cases[i].name);

		g_assert_cmpstr(key, ==, cases[i].want);
	}
}

/* A budget of 0 never retries. */
static void
test_retry_no_budget(void)
{
	g_autoptr(GError) error = g_error_new(M2T_ERROR, M2T_ERROR_TEMPFAIL,
					      "busy");
	Retry retry;

	retry_init(&retry, 0);
	g_assert_false(retry_again(&retry, "Add", error));
	g_assert_cmpuint(retry.attempt, ==, 0);
}

/* A failure that cannot pass by itself is not retried. */
static void
test_retry_permanent(void)
{
	static const int codes[] = {
		M2T_ERROR_DATAERR, M2T_ERROR_OPERATOR, M2T_ERROR_SOFTWARE,
	};
	Retry retry;

	retry_init(&retry, 60);
	for (gsize i = 0; i < G_N_ELEMENTS(codes); i++) {
		g_autoptr(GError) error = g_error_new(M2T_ERROR, codes[i],
						      "no");

		g_assert_false(retry_again(&retry, "Add", error));
	}
	g_assert_false(retry_again(&retry, "Add", NULL));
	g_assert_cmpuint(retry.attempt, ==, 0);
}

/* A transient failure with budget waits about a second and retries. */
static void
test_retry_transient(void)
{
	g_autoptr(GError) error = g_error_new(M2T_ERROR, M2T_ERROR_UNCERTAIN,
					      "no answer");
	Retry retry;
	gint64 start;
	double waited;

	retry_init(&retry, 30);
	start = g_get_monotonic_time();
	g_assert_true(retry_again(&retry, "Add", error));
	waited = (g_get_monotonic_time() - start) / 1e6;
	g_test_message("first wait: %.2f s", waited);
	g_assert_cmpuint(retry.attempt, ==, 1);
	g_assert_cmpfloat(waited, <, 5.0);	/* about 1 s, loosely */
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	log_open(g_test_verbose(), FALSE);
	g_test_add_func("/api/answers", test_answers);
	g_test_add_func("/api/no-secret-in-message",
			test_no_secret_in_message);
	g_test_add_func("/api/add-without-id", test_add_without_id);
	g_test_add_func("/api/question-list", test_question_list);
	g_test_add_func("/api/illegal-param-elsewhere",
			test_illegal_param_elsewhere);
	g_test_add_func("/api/oss-auth", test_oss_auth);
	g_test_add_func("/api/oss-auth-incomplete", test_oss_auth_incomplete);
	g_test_add_func("/oss/object-key", test_object_key);
	g_test_add_func("/retry/no-budget", test_retry_no_budget);
	g_test_add_func("/retry/permanent", test_retry_permanent);
	g_test_add_func("/retry/transient", test_retry_transient);
	return g_test_run();
}
