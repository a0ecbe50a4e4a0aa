/*
 * api.c - the client of the workorder API (Version from the
 * configuration, 2016-08-30 by default).
 *
 * Entry points: api_new(), api_free(), api_get_oss_auth(),
 * oss_auth_clear(), api_add(), api_find_ticket(); the answer readers in
 * api-internal.h for the unit tests.
 *
 * Each call signs its parameters with the common ones (sign.h), sends
 * them all form-encoded in the body of a POST to the endpoint (http.h)
 * and reads the JSON answer.  The answer is read tolerantly: cJSON's
 * cJSON_GetObjectItem() ignores the case of keys, so "code" and "Code",
 * "data" and "Data" are one; a code may be a number or a string, success
 * a boolean or a string.  The classification (api.h) is in one table,
 * code_rules[], with the reason of each line.
 *
 * Known limits: cJSON reads numbers as doubles, so a numeric ticket ID
 * beyond 2^53 would lose digits (the documented IDs are strings);
 * QuestionList reads at most QUESTION_PAGES pages of QUESTION_PAGE_SIZE.
 */
#include "autoconfig.h"

#include <string.h>

#include <cJSON.h>

#include "api-internal.h"
#include "error.h"
#include "http.h"
#include "log.h"
#include "sign.h"

#define MESSAGE_MAX 200		/* characters of the API's message kept */
#define TICKET_ID_MAX 100	/* bytes */
#define QUESTION_PAGE_SIZE 100
#define QUESTION_PAGES 10
#define DEFAULT_VERSION "2016-08-30"

struct Api {
	const Config *config;	/* borrowed */
};

/* A client for CONFIG's endpoint and credentials (borrowed). */
Api *
api_new(const Config *config)
{
	Api *api;

	g_return_val_if_fail(config != NULL, NULL);
	api = g_new0(Api, 1);
	api->config = config;
	return api;
}

/* Free API (not its configuration). */
void
api_free(Api *api)
{
	g_free(api);
}

/* Free what AUTH holds and zero it. */
void
oss_auth_clear(OssAuth *auth)
{
	if (auth == NULL)
		return;
	g_free(auth->access_id);
	g_free(auth->policy);
	g_free(auth->signature);
	g_free(auth->dir);
	g_free(auth->host);
	memset(auth, 0, sizeof *auth);
}

/* ---- Reading answers ------------------------------------------------ */

/* OBJECT's member NAME, whatever the case of its key, or NULL. */
static const cJSON *
member(const cJSON *object, const char *name)
{
	if (!cJSON_IsObject(object))
		return NULL;
	return cJSON_GetObjectItem(object, name);
}

/* A string or number ITEM as text (owned), or NULL. */
static char *
scalar_text(const cJSON *item)
{
	if (cJSON_IsString(item) && item->valuestring != NULL)
		return g_strdup(item->valuestring);
	if (cJSON_IsNumber(item)) {
		double v = item->valuedouble;

		if (v == (double) (gint64) v)
			return g_strdup_printf("%" G_GINT64_FORMAT,
					       (gint64) v);
		return g_strdup_printf("%g", v);
	}
	return NULL;
}

/* A string or number ITEM as an integer; DEFAULT_VALUE otherwise. */
static gint64
scalar_int(const cJSON *item, gint64 default_value)
{
	g_autofree char *text = scalar_text(item);
	gint64 value;
	char *end;

	if (text == NULL)
		return default_value;
	value = g_ascii_strtoll(text, &end, 10);
	if (end == text || *end != '\0')
		return default_value;
	return value;
}

/* 1 for true or "true", 0 for false or "false", -1 otherwise. */
static int
truth(const cJSON *item)
{
	if (cJSON_IsBool(item))
		return cJSON_IsTrue(item);
	if (cJSON_IsString(item) && item->valuestring != NULL) {
		if (g_ascii_strcasecmp(item->valuestring, "true") == 0)
			return 1;
		if (g_ascii_strcasecmp(item->valuestring, "false") == 0)
			return 0;
	}
	return -1;
}

/*
 * The API's MESSAGE made fit for a log line and a bounce (owned): valid
 * UTF-8, one line, at most MESSAGE_MAX characters, and cut before a
 * "string to sign" that some gateways echo, since it holds the token.
 */
static char *
clean_message(const char *message)
{
	g_autofree char *text = NULL;
	g_autofree char *lower = NULL;
	const char *echo;

	if (message == NULL || *message == '\0')
		return g_strdup("no message");
	text = g_utf8_make_valid(message, -1);
	lower = g_ascii_strdown(text, -1);
	echo = strstr(lower, "string to sign");
	if (echo != NULL)
		text[echo - lower] = '\0';
	for (char *p = text; *p != '\0'; p++)
		if ((guchar) *p < 0x20 || *p == 0x7f)
			*p = ' ';
	g_strstrip(text);
	if (g_utf8_strlen(text, -1) > MESSAGE_MAX) {
		char *cut = g_utf8_substring(text, 0, MESSAGE_MAX);

		g_free(text);
		text = g_strconcat(cut, "...", NULL);
		g_free(cut);
	}
	return g_steal_pointer(&text);
}

/* The name the old API's numeric CODE stands for, else CODE. */
static const char *
code_name(const char *code)
{
	static const struct {
		const char *number;
		const char *name;
	} names[] = {
		{ "-101", "ILLEGAL_PARAM" },
		{ "-104", "ILLEGAL_PARAM_EMPTY" },
		{ "-121", "ILLEGAL_AUTH" },
		{ "-153", "SYSTEM_BUSY" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(names); i++)
		if (strcmp(code, names[i].number) == 0)
			return names[i].name;
	return code;
}

/* How one error code is classified; a trailing "*" matches a prefix. */
typedef struct {
	const char *code;
	M2tError kind;
	const char *hint;	/* for the operator, or NULL */
} CodeRule;

static const CodeRule code_rules[] = {
	/* The old API's only retryable code, and the gateway's throttling
	 * and server errors (PROTOCOLS.md A.6, B.3): may pass by itself. */
	{ "SYSTEM_BUSY", M2T_ERROR_TEMPFAIL, NULL },
	{ "Throttling*", M2T_ERROR_TEMPFAIL, NULL },
	{ "InternalError*", M2T_ERROR_TEMPFAIL, NULL },
	{ "ServiceUnavailable*", M2T_ERROR_TEMPFAIL, NULL },
	/* A retry signs with a fresh nonce, so this cures itself. */
	{ "SignatureNonceUsed", M2T_ERROR_TEMPFAIL, NULL },

	/* Credentials, permissions, clock or our own request are wrong:
	 * the mail is kept while the operator mends it. */
	{ "ILLEGAL_AUTH", M2T_ERROR_OPERATOR,
	  "check the AccessKey and aliUid" },
	{ "SignatureDoesNotMatch", M2T_ERROR_OPERATOR,
	  "check the AccessKey secret" },
	{ "IncompleteSignature", M2T_ERROR_OPERATOR, NULL },
	{ "InvalidAccessKeyId*", M2T_ERROR_OPERATOR,
	  "check the AccessKey ID" },
	{ "InvalidSecurityToken*", M2T_ERROR_OPERATOR,
	  "renew the STS security token" },
	{ "Forbidden*", M2T_ERROR_OPERATOR,
	  "the RAM policy does not allow this call" },
	{ "InvalidTimeStamp*", M2T_ERROR_OPERATOR,
	  "check the system clock" },
	{ "MissingParameter*", M2T_ERROR_OPERATOR, NULL },
	{ "InvalidParameter*", M2T_ERROR_OPERATOR, NULL },
	{ "InvalidVersion*", M2T_ERROR_OPERATOR, "check [api] version" },
	{ "InvalidAction*", M2T_ERROR_OPERATOR, "check [api] version" },
};

/* The rule for CODE, or NULL. */
static const CodeRule *
find_code_rule(const char *code)
{
	for (gsize i = 0; i < G_N_ELEMENTS(code_rules); i++) {
		const char *pattern = code_rules[i].code;
		gsize len = strlen(pattern);

		if (pattern[len - 1] == '*' ?
		    strncmp(code, pattern, len - 1) == 0 :
		    strcmp(code, pattern) == 0)
			return &code_rules[i];
	}
	return NULL;
}

/* The parameter an ILLEGAL_PARAM message names (owned), or NULL. */
static char *
illegal_param_name(const char *message)
{
	g_autofree char *lower = NULL;
	const char *start = message;
	const char *at;
	const char *end;

	if (message == NULL)
		return NULL;
	/* "illegal parameter, param is xxx" or "xxx must not be ..." */
	lower = g_ascii_strdown(message, -1);
	at = strstr(lower, "param is ");
	if (at != NULL)
		start = message + (at - lower) + strlen("param is ");
	while (*start == ' ')
		start++;
	end = start;
	while (g_ascii_isalnum(*end) || *end == '_' || *end == '.')
		end++;
	return end > start ? g_strndup(start, end - start) : NULL;
}

/* TRUE when PARAM is filled from the mail rather than the config. */
static gboolean
is_message_field(const char *param)
{
	static const char *const fields[] = {
		"title", "content", "secContent", "email", "attachments",
	};

	for (gsize i = 0; param != NULL && i < G_N_ELEMENTS(fields); i++)
		if (g_ascii_strcasecmp(param, fields[i]) == 0)
			return TRUE;
	return FALSE;
}

/* Set ERROR for the error CODE the API gave to ACTION. */
static void
set_code_error(const char *action, long status, const char *code,
	       const char *message, GError **error)
{
	g_autofree char *text = clean_message(message);
	const char *name = code_name(code);
	const CodeRule *rule = find_code_rule(name);
	M2tError kind;
	const char *hint = NULL;

	if (strcmp(name, "ILLEGAL_PARAM") == 0 ||
	    strcmp(name, "ILLEGAL_PARAM_EMPTY") == 0) {
		g_autofree char *param = illegal_param_name(message);

		/* A field from the mail cannot become a ticket: bounce.
		 * Any other field comes from the configuration, and only
		 * Add sends fields from the mail. */
		if (strcmp(action, "Add") == 0 && is_message_field(param)) {
			kind = M2T_ERROR_DATAERR;
		} else {
			kind = M2T_ERROR_OPERATOR;
			hint = "check the rule and [ticket] settings";
		}
	} else if (rule != NULL) {
		kind = rule->kind;
		hint = rule->hint;
	} else if (status >= 500) {
		kind = M2T_ERROR_TEMPFAIL;	/* a server error */
	} else {
		/* Only SYSTEM_BUSY is documented as retryable: an unknown
		 * code needs a person, and the mail is kept meanwhile. */
		kind = M2T_ERROR_OPERATOR;
	}
	g_set_error(error, M2T_ERROR, kind, "%s failed: %s: %s (HTTP %ld%s%s)",
		    action, name, text, status, hint ? "; " : "",
		    hint ? hint : "");
}

/* Set ERROR for an answer to ACTION that carries no code. */
static void
set_status_error(const char *action, long status, const char *what,
		 GError **error)
{
	/* A redirect is never followed: the endpoint is wrong. */
	M2tError kind = status >= 300 && status < 400 ? M2T_ERROR_OPERATOR
						      : M2T_ERROR_TEMPFAIL;

	g_set_error(error, M2T_ERROR, kind, "%s: %s (HTTP %ld)", action,
		    what, status);
}

/*
 * The JSON object of a successful answer to ACTION (owned, free with
 * cJSON_Delete), or NULL with ERROR classified as api.h says.
 */
cJSON *
api_read_answer(const char *action, long http_status, const char *body,
		gsize len, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autofree char *code = NULL;
	const char *message;
	cJSON *answer;
	gboolean http_ok = http_status >= 200 && http_status < 300;
	int success;

	if (body == NULL || len == 0) {
		if (http_ok)
			g_set_error(error, M2T_ERROR, M2T_ERROR_UNCERTAIN,
				    "%s: empty answer (HTTP %ld)", action,
				    http_status);
		else
			set_status_error(action, http_status, "empty answer",
					 error);
		return NULL;
	}
	answer = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(answer)) {
		cJSON_Delete(answer);
		/* A success status with a body nobody can read: the
		 * request may have been carried out. */
		if (http_ok) {
			g_set_error(error, M2T_ERROR, M2T_ERROR_UNCERTAIN,
				    "%s: the answer is not JSON (HTTP %ld)",
				    action, http_status);
			return NULL;
		}
		set_status_error(action, http_status,
				 "the answer is not JSON", error);
		return NULL;
	}

	code = scalar_text(member(answer, "code"));
	success = truth(member(answer, "success"));
	message = cJSON_GetStringValue(member(answer, "message"));

	/* Success: HTTP 2xx and a success code, or no code but success. */
	if (http_ok && (code != NULL ? strcmp(code, "200") == 0 ||
					strcmp(code, "SUCCESS") == 0
				     : success == 1))
		return answer;

	if (code != NULL && strcmp(code, "200") != 0 &&
	    strcmp(code, "SUCCESS") != 0)
		set_code_error(action, http_status, code, message, &local);
	else if (http_status >= 500)
		set_status_error(action, http_status, "server error", &local);
	else if (http_ok && success == 0)
		g_set_error(&local, M2T_ERROR, M2T_ERROR_OPERATOR,
			    "%s refused without a code: %s", action,
			    message ? message : "no message");
	else if (http_ok)
		set_status_error(action, http_status,
				 "the answer carries no code", &local);
	else
		g_set_error(&local, M2T_ERROR, M2T_ERROR_OPERATOR,
			    "%s refused (HTTP %ld)", action, http_status);
	cJSON_Delete(answer);
	g_propagate_error(error, g_steal_pointer(&local));
	return NULL;
}

/* Add: the new ticket's ID from a successful answer (owned). */
char *
api_read_add(const cJSON *answer, GError **error)
{
	g_autofree char *id = scalar_text(member(answer, "data"));

	/* The answer said success, so the ticket probably exists: the
	 * journal must look it up rather than make it again blindly. */
	if (id == NULL || *id == '\0' || strlen(id) > TICKET_ID_MAX ||
	    !g_utf8_validate(id, -1, NULL) ||
	    strpbrk(id, " \t\r\n") != NULL) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_UNCERTAIN,
			    "Add succeeded without a readable ticket ID");
		return NULL;
	}
	return g_steal_pointer(&id);
}

/* getOSSTempAuthor: fill AUTH from a successful answer. */
gboolean
api_read_oss_auth(const cJSON *answer, OssAuth *auth, GError **error)
{
	const cJSON *data = member(answer, "data");
	static const char *const required[] = {
		"accessId", "policy", "signature", "host",
	};
	g_autofree char *host = NULL;

	memset(auth, 0, sizeof *auth);
	for (gsize i = 0; i < G_N_ELEMENTS(required); i++) {
		const char *value =
			cJSON_GetStringValue(member(data, required[i]));

		if (value == NULL || *value == '\0') {
			g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
				    "getOSSTempAuthor: the answer lacks %s",
				    required[i]);
			return FALSE;
		}
	}
	auth->access_id = g_strdup(cJSON_GetStringValue(member(data,
							       "accessId")));
	auth->policy = g_strdup(cJSON_GetStringValue(member(data, "policy")));
	auth->signature = g_strdup(cJSON_GetStringValue(member(data,
							       "signature")));
	auth->dir = scalar_text(member(data, "dir"));
	if (auth->dir == NULL)
		auth->dir = g_strdup("");

	/* The documented host has a scheme; be kind to one without. */
	host = g_strdup(cJSON_GetStringValue(member(data, "host")));
	g_strstrip(host);
	auth->host = strstr(host, "://") != NULL ? g_steal_pointer(&host)
					       : g_strconcat("https://", host,
							     NULL);

	/* Unix seconds, as a string or a number; milliseconds tolerated. */
	auth->expire = scalar_int(member(data, "expire"), 0);
	if (auth->expire > G_GINT64_CONSTANT(100000000000))
		auth->expire /= 1000;
	return TRUE;
}

/* The rows of a QuestionList answer, in either documented shape. */
static const cJSON *
question_rows(const cJSON *answer)
{
	const cJSON *data = member(answer, "data");
	const cJSON *holders[] = { data, answer };

	/* The table's shape: data is the list. */
	if (cJSON_IsArray(data))
		return data;
	/* The example's shape: ListResult.QuestionDetail, at the top or
	 * (to be safe) inside data. */
	for (gsize i = 0; i < G_N_ELEMENTS(holders); i++) {
		const cJSON *list = member(holders[i], "ListResult");
		const cJSON *rows = member(list, "QuestionDetail");

		if (cJSON_IsArray(rows))
			return rows;
		if (cJSON_IsArray(list))
			return list;
	}
	return NULL;
}

/* The total a QuestionList answer gives, or -1. */
static gint64
question_total(const cJSON *answer)
{
	gint64 total = scalar_int(member(answer, "Count"), -1);

	if (total < 0)
		total = scalar_int(member(member(answer, "data"), "Count"),
				   -1);
	return total;
}

/* TRUE when a ticket made at A (ms) is a better match for an Add sent
 * at NEAR than one made at B: nearer, or as near and newer. */
static gboolean
is_nearer(gint64 a, gint64 b, gint64 near)
{
	guint64 to_a = a > near ? (guint64) a - near : (guint64) near - a;
	guint64 to_b = b > near ? (guint64) b - near : (guint64) near - b;

	return to_a < to_b || (to_a == to_b && a > b);
}

/*
 * QuestionList: look through one page of a successful answer for the
 * ticket titled TITLE of PRODUCT_ID (0: any product) made nearest
 * NEAR_MS that TAKEN (may be NULL) does not say belongs to another mail.
 */
gboolean
api_read_question_list(const cJSON *answer, const char *title,
		       gint64 product_id, gint64 near_ms,
		       ApiTicketTaken taken, gpointer taken_data,
		       char **found, gint64 *found_time, guint *rows,
		       gint64 *total, GError **error)
{
	const cJSON *list = question_rows(answer);
	const cJSON *row;

	*total = question_total(answer);
	*rows = 0;
	if (list == NULL) {
		/* An empty list may be left out altogether. */
		if (*total == 0)
			return TRUE;
		g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
			    "QuestionList: the answer has no list");
		return FALSE;
	}
	cJSON_ArrayForEach(row, list) {
		const char *row_title =
			cJSON_GetStringValue(member(row, "title"));
		gint64 row_product = scalar_int(member(row, "productId"), 0);
		gint64 added = scalar_int(member(row, "addTime"), 0);
		g_autofree char *id = scalar_text(member(row, "id"));

		(*rows)++;
		if (id == NULL || row_title == NULL ||
		    strcmp(row_title, title) != 0)
			continue;
		/* A row without productId passed the ProductIds filter. */
		if (product_id != 0 && row_product != 0 &&
		    row_product != product_id)
			continue;
		/* Of several tickets with our title, the one made nearest
		 * the time our Add left is the likeliest to be ours. */
		if (*found != NULL && !is_nearer(added, *found_time, near_ms))
			continue;
		if (taken != NULL && taken(id, taken_data))
			continue;
		g_free(*found);
		*found = g_steal_pointer(&id);
		*found_time = added;
	}
	return TRUE;
}

/* ---- Making calls --------------------------------------------------- */

/* Now in UTC as the signature wants it (owned). */
static char *
utc_timestamp(void)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();

	return g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
}

/*
 * Send ACTION with PARAMS (its own parameters; the common ones and the
 * signature are added here) and read the answer: the JSON object of a
 * success (owned), or NULL with ERROR.
 */
static cJSON *
api_call(Api *api, const char *action, GTree *params, GError **error)
{
	const Config *config = api->config;
	g_autofree char *nonce = g_uuid_string_random();
	g_autofree char *timestamp = utc_timestamp();
	g_autofree char *signature = NULL;
	g_autofree char *body = NULL;
	HttpResponse response = { 0 };
	gconstpointer data;
	gsize len;
	cJSON *answer;

	if (config->endpoint == NULL || config->access_key_id == NULL ||
	    config->access_key_secret == NULL) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_OPERATOR,
			    "%s: no endpoint or AccessKey configured", action);
		return NULL;
	}

	/* The common parameters (PROTOCOLS.md A.1), then the signature
	 * over all of them. */
	sign_params_set(params, "Action", action);
	sign_params_set(params, "Format", "JSON");
	sign_params_set(params, "Version", config->version != NULL ?
			config->version : DEFAULT_VERSION);
	sign_params_set(params, "AccessKeyId", config->access_key_id);
	sign_params_set(params, "SignatureMethod", "HMAC-SHA1");
	sign_params_set(params, "SignatureVersion", "1.0");
	sign_params_set(params, "SignatureNonce", nonce);
	sign_params_set(params, "Timestamp", timestamp);
	if (config->security_token != NULL && *config->security_token)
		sign_params_set(params, "SecurityToken",
				config->security_token);
	signature = sign_signature("POST", params, config->access_key_secret);
	sign_params_set(params, "Signature", signature);
	body = sign_canonical_query(params);

	log_debug("%s: sending", action);
	if (!http_post_form(config->endpoint, body, config->timeout,
			    &response, error)) {
		g_prefix_error(error, "%s: ", action);
		return NULL;
	}
	log_debug("%s: HTTP %ld", action, response.status);
	data = g_bytes_get_data(response.body, &len);
	answer = api_read_answer(action, response.status, data, len, error);
	http_response_clear(&response);
	return answer;
}

/* getOSSTempAuthor. */
gboolean
api_get_oss_auth(Api *api, OssAuth *auth, GError **error)
{
	g_autoptr(GTree) params = sign_params_new();
	cJSON *answer;
	gboolean ok;

	g_return_val_if_fail(api != NULL && auth != NULL, FALSE);
	answer = api_call(api, "getOSSTempAuthor", params, error);
	if (answer == NULL)
		return FALSE;
	ok = api_read_oss_auth(answer, auth, error);
	cJSON_Delete(answer);
	return ok;
}

/* Set NAME in PARAMS when VALUE is a non-empty string. */
static void
set_if(GTree *params, const char *name, const char *value)
{
	if (value != NULL && *value != '\0')
		sign_params_set(params, name, value);
}

/* Set NAME in PARAMS to the integer VALUE when it is not 0. */
static void
set_int_if(GTree *params, const char *name, gint64 value)
{
	char text[G_ASCII_DTOSTR_BUF_SIZE];

	if (value == 0)
		return;
	g_snprintf(text, sizeof text, "%" G_GINT64_FORMAT, value);
	sign_params_set(params, name, text);
}

/*
 * Add: create TICKET with ATTACHMENTS (the uploaded object keys joined
 * with ",", or NULL).  Returns the new ticket ID (owned).
 */
char *
api_add(Api *api, const Ticket *ticket, const char *attachments,
	GError **error)
{
	g_autoptr(GTree) params = sign_params_new();
	cJSON *answer;
	char *id;

	g_return_val_if_fail(api != NULL && ticket != NULL, NULL);
	if (ticket->product_id == 0 && ticket->question_id == 0) {
		g_set_error(error, M2T_ERROR, M2T_ERROR_OPERATOR,
			    "Add: rule %s gives neither a product nor a "
			    "common question", ticket->rule);
		return NULL;
	}
	set_int_if(params, "productId", ticket->product_id);
	set_int_if(params, "customerCommonQuestionId", ticket->question_id);
	set_if(params, "title", ticket->title);
	set_if(params, "content", ticket->content);
	set_if(params, "secContent", ticket->sec_content);
	set_if(params, "aliUid", ticket->ali_uid);
	set_if(params, "email", ticket->email);
	set_if(params, "phone", ticket->phone);
	set_if(params, "smsAlertTime", ticket->sms_alert_time);
	set_if(params, "attachments", attachments);

	answer = api_call(api, "Add", params, error);
	if (answer == NULL)
		return NULL;
	id = api_read_add(answer, error);
	cJSON_Delete(answer);
	return id;
}

/*
 * QuestionList: look for a ticket titled TITLE for TICKET's product
 * created between FROM_MS and TO_MS (Unix milliseconds).  TRUE when the
 * answer decides it (*TICKET_ID the match nearest NEAR_MS, owned, or
 * NULL).
 */
gboolean
api_find_ticket(Api *api, const Ticket *ticket, gint64 from_ms,
		gint64 to_ms, gint64 near_ms, ApiTicketTaken taken,
		gpointer taken_data, char **ticket_id, GError **error)
{
	g_autofree char *found = NULL;
	gint64 found_time = 0;

	g_return_val_if_fail(api != NULL && ticket != NULL, FALSE);
	g_return_val_if_fail(ticket->title != NULL && ticket_id != NULL,
			     FALSE);
	*ticket_id = NULL;

	/* Parameters in PascalCase, as the official SDK sends them. */
	for (guint page = 1; page <= QUESTION_PAGES; page++) {
		g_autoptr(GTree) params = sign_params_new();
		cJSON *answer;
		guint rows = 0;
		gint64 total = -1;
		gboolean ok;

		set_int_if(params, "AddStartTime", MAX(from_ms, 0));
		set_int_if(params, "AddEndTime", to_ms);
		set_int_if(params, "ProductIds", ticket->product_id);
		set_int_if(params, "PageSize", QUESTION_PAGE_SIZE);
		set_int_if(params, "PageStart", page);
		answer = api_call(api, "QuestionList", params, error);
		if (answer == NULL)
			return FALSE;
		ok = api_read_question_list(answer, ticket->title,
					    ticket->product_id, near_ms,
					    taken, taken_data, &found,
					    &found_time, &rows, &total,
					    error);
		cJSON_Delete(answer);
		if (!ok)
			return FALSE;

		/* The last page is short, or reaches the total. */
		if (rows < QUESTION_PAGE_SIZE ||
		    (total >= 0 &&
		     (gint64) page * QUESTION_PAGE_SIZE >= total)) {
			*ticket_id = g_steal_pointer(&found);
			return TRUE;
		}
	}
	g_set_error(error, M2T_ERROR, M2T_ERROR_TEMPFAIL,
		    "QuestionList: more than %d tickets in the time window",
		    QUESTION_PAGE_SIZE * QUESTION_PAGES);
	return FALSE;
}
