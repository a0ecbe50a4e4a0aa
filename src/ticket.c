/*
 * ticket.c - the Add parameters made from a mail.
 *
 * Entry points: ticket_build(), ticket_product_label(),
 * ticket_upload_count(), ticket_free().
 *
 * The title is the subject with white space collapsed, the reply and
 * forward prefixes of the languages customers write in removed (Re,
 * Fwd, FW, AW, WG, SV, VS, 回复, 答复, 转发, 回覆, 轉寄, with ":" or
 * "：", stacked, "Re[2]:"), and cut at [ticket] title_max_length
 * characters on a character boundary; without a subject, the first
 * line of the body.  The content is the body, followed by a note naming
 * every attachment that was not uploaded, with its size and why.  File
 * names are made safe for an OSS key and for the comma-separated
 * attachments parameter: no "/", "\", ",", control characters or
 * leading dots, at most SAFE_NAME_MAX bytes, extension kept, unique
 * within the ticket.
 */
#include "autoconfig.h"

#include <string.h>

#include "ticket.h"

#define SAFE_NAME_MAX 100	/* bytes */

/* S with runs of white space made one space, trimmed (owned). */
static char *
collapse_space(const char *s)
{
	GString *out = g_string_new(NULL);
	gboolean space = FALSE;

	for (const char *p = s; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (g_unichar_isspace(c) || c == 0x3000 ||
		    g_unichar_iscntrl(c)) {
			space = out->len > 0;
			continue;
		}
		if (space)
			g_string_append_c(out, ' ');
		space = FALSE;
		g_string_append_unichar(out, c);
	}
	return g_string_free(out, FALSE);
}

/* The first MAX characters of S, on a character boundary (owned). */
static char *
cut_chars(const char *s, guint max)
{
	if (g_utf8_strlen(s, -1) <= (glong) max)
		return g_strdup(s);
	return g_utf8_substring(s, 0, max);
}

/* The length of the reply or forward prefix at S ("Re: ", "AW:",
 * "Re[2]: ", "回复："), 0 when there is none. */
static gsize
prefix_length(const char *s)
{
	static const char *words[] = {
		"re", "fwd", "fw", "aw", "wg", "sv", "vs", "tr", "rv",
		"回复", "答复", "转发", "回覆", "答覆", "轉寄", "轉發", NULL
	};

	for (const char **w = words; *w != NULL; w++) {
		gsize n = strlen(*w);
		const char *p = s + n;

		if (g_ascii_strncasecmp(s, *w, n) != 0)
			continue;
		if (*p == '[' || *p == '(') {	/* Re[2]: */
			char close = *p == '[' ? ']' : ')';

			p++;
			while (g_ascii_isdigit(*p))
				p++;
			if (*p++ != close)
				continue;
		}
		while (*p == ' ')
			p++;
		if (*p == ':')
			p++;
		else if (g_str_has_prefix(p, "\xef\xbc\x9a"))	/* ： */
			p += 3;
		else
			continue;
		while (*p == ' ')
			p++;
		return p - s;
	}
	return 0;
}

/* S without its stacked reply and forward prefixes ("Re: Fwd: 回复："). */
static const char *
strip_prefixes(const char *s)
{
	gsize n;

	while ((n = prefix_length(s)) > 0)
		s += n;
	return s;
}

/* The title: subject without reply prefixes, else the body's first
 * line, else a placeholder; cut at MAX characters. */
static char *
make_title(const Message *message, guint max)
{
	g_autofree char *collapsed = collapse_space(message->subject);
	g_autofree char *title = g_strdup(strip_prefixes(collapsed));
	g_autofree char *cut = NULL;

	if (*title == '\0') {
		g_auto(GStrv) lines = g_strsplit(message->body, "\n", -1);

		for (char **l = lines; *l != NULL && *title == '\0'; l++) {
			g_free(title);
			title = collapse_space(*l);
		}
	}
	if (*title == '\0') {
		g_free(title);
		title = g_strdup("(no subject)");
	}
	cut = cut_chars(title, max);
	return g_strchomp(g_steal_pointer(&cut));
}

/* SIZE in the units a person reads ("512 bytes", "3.4 MB") (owned). */
static char *
human_size(gsize size)
{
	if (size < 1024)
		return g_strdup_printf("%" G_GSIZE_FORMAT " bytes", size);
	if (size < 1024 * 1024)
		return g_strdup_printf("%.1f KB", size / 1024.0);
	return g_strdup_printf("%.1f MB", size / (1024.0 * 1024.0));
}

/* NAME made safe for an object key and the attachments list (owned). */
static char *
safe_name(const char *name)
{
	GString *out = g_string_new(NULL);
	const char *dot;
	g_autofree char *ext = NULL;

	for (const char *p = name; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (c == '/' || c == '\\' || c == ',' || c == ';' ||
		    c == '"' || c == '\'' || c == '<' || c == '>' ||
		    c == '|' || c == '*' || c == '?' || c == ':' ||
		    g_unichar_iscntrl(c) || c == 0xfffd)
			c = '_';
		else if (g_unichar_isspace(c))
			c = ' ';
		g_string_append_unichar(out, c);
	}
	/* no leading dots or spaces: no hidden files, no "..". */
	while (out->len > 0 && (out->str[0] == '.' || out->str[0] == ' '))
		g_string_erase(out, 0, 1);
	while (out->len > 0 && out->str[out->len - 1] == ' ')
		g_string_truncate(out, out->len - 1);
	if (out->len == 0)
		g_string_assign(out, "attachment");

	if (out->len <= SAFE_NAME_MAX)
		return g_string_free(out, FALSE);

	/* Too long: keep a short extension and cut the stem. */
	dot = strrchr(out->str, '.');
	if (dot != NULL && strlen(dot) <= 10)
		ext = g_strdup(dot);
	else
		ext = g_strdup("");
	{
		gsize room = SAFE_NAME_MAX - strlen(ext);
		const char *end = out->str + room;

		while (end > out->str && (*end & 0xc0) == 0x80)
			end--;	/* back to a character boundary */
		g_string_truncate(out, end - out->str);
		g_string_append(out, ext);
	}
	return g_string_free(out, FALSE);
}

/* NAME, or NAME with "-2", "-3" before its extension, unused in SEEN. */
static char *
unique_name(const char *name, GHashTable *seen)
{
	const char *dot = strrchr(name, '.');
	gsize stem = (dot && dot != name) ? (gsize) (dot - name)
					  : strlen(name);
	char *candidate = g_strdup(name);

	for (int n = 2; g_hash_table_contains(seen, candidate); n++) {
		g_free(candidate);
		candidate = g_strdup_printf("%.*s-%d%s", (int) stem, name, n,
					    name + stem);
	}
	g_hash_table_add(seen, g_strdup(candidate));
	return candidate;
}

static void
ticket_file_free(TicketFile *file)
{
	g_free(file->name);
	g_free(file->reason);
	g_free(file);
}

/*
 * Inline pictures: a picture the HTML shows in place (it has a
 * Content-ID and no attachment disposition) that is under
 * LOGO_MAX_SIZE is taken for a logo or a signature icon, and is not
 * uploaded, so it cannot take one of the TICKET_MAX_FILES places; the
 * content still names it.  A pasted screenshot is bigger than that,
 * and an attached picture has an attachment disposition, so both are
 * uploaded.
 */
#define LOGO_MAX_SIZE (16 * 1024)

/* TRUE when A is a small picture shown inside the HTML (see above). */
static gboolean
is_logo(const MessageAttachment *a)
{
	return a->is_inline && a->content_id != NULL &&
	       g_str_has_prefix(a->content_type, "image/") &&
	       a->size < LOGO_MAX_SIZE;
}

/* Decide for every attachment whether it is uploaded. */
static GPtrArray *
plan_files(const Message *message)
{
	GPtrArray *files = g_ptr_array_new_with_free_func(
		(GDestroyNotify) ticket_file_free);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash,
							   g_str_equal,
							   g_free, NULL);
	guint uploads = 0;

	for (guint i = 0; i < message->attachments->len; i++) {
		const MessageAttachment *a = message->attachments->pdata[i];
		TicketFile *file = g_new0(TicketFile, 1);
		g_autofree char *safe = safe_name(a->name);

		file->attachment = a;
		file->name = unique_name(safe, seen);
		if (a->size == 0)
			file->reason = g_strdup("it is empty");
		else if (is_logo(a))
			file->reason = g_strdup("a small picture inside the "
						"text, such as a logo");
		else if (a->size > TICKET_MAX_FILE_SIZE)
			file->reason = g_strdup("it is larger than the 2 MB "
						"the ticket system accepts");
		else if (uploads == TICKET_MAX_FILES)
			file->reason = g_strdup("a ticket takes at most 3 "
						"attachments");
		else
			uploads++;
		file->upload = file->reason == NULL;
		g_ptr_array_add(files, file);
	}
	return files;
}

/* The body, then a note on every attachment left out (owned). */
static char *
make_content(const Message *message, const char *title, GPtrArray *files)
{
	GString *out = g_string_new(NULL);
	g_autofree char *body = g_strdup(message->body);
	gboolean noted = FALSE;

	g_strstrip(body);
	if (*body != '\0')
		g_string_append(out, body);
	else if (files->len > 0)
		g_string_append(out, "(The mail has no text; see its "
				"attachments.)");
	else
		g_string_append(out, title);

	for (guint i = 0; i < files->len; i++) {
		const TicketFile *file = files->pdata[i];
		g_autofree char *size = NULL;

		if (file->upload)
			continue;
		if (!noted)
			g_string_append(out, "\n\n--\nAttachments of the mail "
					"that are not on this ticket:");
		noted = TRUE;
		size = human_size(file->attachment->size);
		/* Names are on one line already (see message.h). */
		g_string_append_printf(out, "\n- %s (%s): %s",
				       file->attachment->name, size,
				       file->reason);
	}
	/* Nothing is left out without a word. */
	if (message->ignored_parts > 0)
		g_string_append(out, "\n\n--\nParts of the mail nested too "
				"deep in other parts were not read.");
	return g_string_free(out, FALSE);
}

/* The ticket for MESSAGE under RULE (borrowed); never fails. */
Ticket *
ticket_build(const Message *message, const Rule *rule, const Config *config)
{
	Ticket *ticket = g_new0(Ticket, 1);
	const char *sms = rule->sms_alert_time ? rule->sms_alert_time
					       : config->sms_alert_time;
	const char *email = message->reply_to_addr ? message->reply_to_addr
						   : message->from_addr;

	ticket->rule = g_strdup(rule->name);
	ticket->product_id = rule->product_id;
	ticket->question_id = rule->question_id;
	ticket->ali_uid = g_strdup(rule->ali_uid ? rule->ali_uid
						 : config->ali_uid);
	ticket->sms_alert_time = g_strdup(sms);
	ticket->phone = g_strdup(config->phone);
	ticket->email = g_strdup(email);
	ticket->title = make_title(message, config->title_max_length);
	ticket->files = plan_files(message);
	ticket->content = make_content(message, ticket->title, ticket->files);
	return ticket;
}

/* The product as a log value: "product:12" or "question:34". */
char *
ticket_product_label(const Ticket *ticket)
{
	if (ticket->product_id > 0)
		return g_strdup_printf("product:%" G_GINT64_FORMAT,
				       ticket->product_id);
	return g_strdup_printf("question:%" G_GINT64_FORMAT,
			       ticket->question_id);
}

/* How many files are uploaded. */
guint
ticket_upload_count(const Ticket *ticket)
{
	guint n = 0;

	for (guint i = 0; i < ticket->files->len; i++)
		n += ((TicketFile *) ticket->files->pdata[i])->upload;
	return n;
}

void
ticket_free(Ticket *ticket)
{
	if (ticket == NULL)
		return;
	g_free(ticket->rule);
	g_free(ticket->title);
	g_free(ticket->content);
	g_free(ticket->sec_content);
	g_free(ticket->ali_uid);
	g_free(ticket->email);
	g_free(ticket->phone);
	g_free(ticket->sms_alert_time);
	g_ptr_array_unref(ticket->files);
	g_free(ticket);
}
