/*
 * screen.c - is this mail automatic, or our own coming back?
 *
 * Entry points: screen_message(), screen_clear().  The rules follow
 * RFC 3834 section 2 and the loop headers other helpdesks use
 * (PROTOCOLS.md D).  Each rule returns the reason it matched, which is
 * what the log and the dry-run show.
 */
#include "autoconfig.h"

#include <string.h>

#include "screen.h"

/* The loop header stamped on every reply; see reply.c. */
#define LOOP_HEADER "X-Loop"

/* TRUE when header NAME of MESSAGE has one of the words in VALUES. */
static gboolean
header_has_word(const Message *message, const char *name,
		const char *const *values)
{
	g_autofree char *value = message_header(message, name);
	g_auto(GStrv) words = NULL;

	if (value == NULL)
		return FALSE;
	words = g_strsplit_set(value, " ,;\t", -1);
	for (char **w = words; *w != NULL; w++)
		for (const char *const *v = values; *v != NULL; v++)
			if (g_ascii_strcasecmp(*w, *v) == 0)
				return TRUE;
	return FALSE;
}

/* TRUE when ADDRESS's local part marks a robot (RFC 3834 section 2). */
static gboolean
is_robot_address(const char *address)
{
	g_autofree char *local = NULL;
	const char *at;

	if (address == NULL)
		return FALSE;
	at = strrchr(address, '@');
	local = at ? g_ascii_strdown(address, at - address)
		   : g_ascii_strdown(address, -1);
	return !strcmp(local, "mailer-daemon") ||
	       !strcmp(local, "postmaster") ||
	       g_str_has_prefix(local, "owner-") ||
	       g_str_has_suffix(local, "-request") ||
	       g_str_has_prefix(local, "noreply") ||
	       g_str_has_prefix(local, "no-reply") ||
	       g_str_has_prefix(local, "do-not-reply") ||
	       g_str_has_prefix(local, "donotreply");
}

/* Why MESSAGE must get no reply, or NULL when it may (static). */
static const char *
automatic_reason(const Message *message, const char *envelope_sender)
{
	static const char *const bulk[] = { "bulk", "junk", "list", NULL };
	static const char *const suppress[] = { "all", "autoreply", "oof",
						NULL };
	static const char *const loops[] = {
		"X-OTRS-Loop", "X-RT-Loop-Prevention", "RT-Loop-Prevention",
		"X-Autoreply", "X-Autorespond", "X-Auto-Reply", NULL,
	};
	static const char *const lists[] = {
		"List-Id", "List-Unsubscribe", "List-Post", "List-Help",
		"List-Owner", "List-Subscribe", "Mailing-List", NULL,
	};
	g_autofree char *auto_submitted = NULL;
	g_autofree char *content_type = NULL;

	if (envelope_sender != NULL && *envelope_sender == '\0')
		return "null envelope sender";
	if (message->return_path != NULL && *message->return_path == '\0')
		return "null envelope sender";

	auto_submitted = message_header(message, "Auto-Submitted");
	if (auto_submitted != NULL) {
		g_strstrip(auto_submitted);
		if (g_ascii_strncasecmp(auto_submitted, "no", 2) != 0 ||
		    g_ascii_isalnum(auto_submitted[2]) ||
		    auto_submitted[2] == '-')
			return "Auto-Submitted";
	}
	if (header_has_word(message, "Precedence", bulk))
		return "Precedence bulk, junk or list";
	for (const char *const *h = lists; *h != NULL; h++)
		if (message_has_header(message, *h))
			return "mailing list";
	for (const char *const *h = loops; *h != NULL; h++)
		if (message_has_header(message, *h))
			return "another system's auto-reply header";
	if (header_has_word(message, "X-Auto-Response-Suppress", suppress))
		return "X-Auto-Response-Suppress";

	content_type = message_header(message, "Content-Type");
	if (content_type != NULL &&
	    g_ascii_strncasecmp(content_type, "multipart/report", 16) == 0)
		return "delivery report";
	if (is_robot_address(envelope_sender) ||
	    is_robot_address(message->from_addr))
		return "sender is a mail robot";
	return NULL;
}

/* TRUE when MESSAGE carries our loop header for REPLY_FROM. */
static gboolean
is_own_reply(const Message *message, const char *reply_from)
{
	GMimeHeaderList *headers;
	int count;

	if (reply_from == NULL)
		return FALSE;
	headers = g_mime_object_get_header_list(GMIME_OBJECT(message->mime));
	count = g_mime_header_list_get_count(headers);
	for (int i = 0; i < count; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(headers, i);
		g_autofree char *value = NULL;

		if (g_ascii_strcasecmp(g_mime_header_get_name(h), LOOP_HEADER))
			continue;
		value = g_strdup(g_mime_header_get_value(h));
		if (value != NULL &&
		    g_ascii_strcasecmp(g_strstrip(value), reply_from) == 0)
			return TRUE;
	}
	return FALSE;
}

/* Screen MESSAGE; see screen.h. */
void
screen_message(const Message *message, const char *envelope_sender,
	       const char *reply_from, const Config *config, Screening *out)
{
	const char *why;
	const char *to;

	memset(out, 0, sizeof(*out));

	/* Our own reply, bounced or forwarded back: answering loops. */
	if (is_own_reply(message, reply_from)) {
		out->discard = TRUE;
		out->discard_reason = g_strdup("our own reply came back "
					       "(X-Loop)");
		return;
	}
	/* Mail merely From the bridge's address (a web form sends such
	 * mail, with the customer in Reply-To) is not a loop: it becomes a
	 * ticket, and is never answered to that address (below). */

	/* Mail that gets a ticket but no reply. */
	to = message->reply_to_addr ? message->reply_to_addr
				    : message->from_addr;
	if (!config->reply_enabled)
		why = "replies are disabled";
	else if ((why = automatic_reason(message, envelope_sender)) != NULL)
		;
	else if (to == NULL || strchr(to, '@') == NULL)
		why = "no address to reply to";
	else if (reply_from != NULL && !g_ascii_strcasecmp(to, reply_from))
		why = "the reply would go to the bridge itself";

	if (why != NULL)
		out->no_reply_reason = g_strdup(why);
	else
		out->reply_to = g_strdup(to);
}

void
screen_clear(Screening *screening)
{
	g_clear_pointer(&screening->discard_reason, g_free);
	g_clear_pointer(&screening->reply_to, g_free);
	g_clear_pointer(&screening->no_reply_reason, g_free);
}
