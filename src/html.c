/*
 * html.c - HTML mail bodies as readable plain text.
 *
 * Entry point: html_to_text().  libxml2's HTML parser builds a tree
 * (forgiving, offline, entities decoded); the tree is then walked
 * without recursion, following the parent and sibling links, so that
 * deeply nested mail cannot exhaust the stack.  The text is laid out
 * roughly the way a browser shows it: white space collapsed outside
 * <pre>, block elements on lines of their own, paragraphs and headings
 * set off by one blank line, list items prefixed with "- " (or their
 * number), table cells separated by " | ", links followed by their
 * address in angle brackets when it says more than the link text.
 *
 * Outlook's HTML gets some care: its <p class=MsoNormal> paragraphs
 * have no margins, so they are single lines; a block holding only a
 * no-break space is its way of writing an empty line; <o:p> and other
 * prefixed Office tags are inline.  No-break spaces are otherwise
 * collapsed like spaces.
 *
 * Limits: no CSS is applied (display:none text is kept); <![if ...]>
 * markers of Outlook's "downlevel-revealed" conditionals are removed
 * from the text, their content kept, which is what a non-Outlook
 * client shows; only the first 8 MiB of HTML are read (a bigger tree
 * would cost hundreds of megabytes).
 */
#include "autoconfig.h"

#include <string.h>

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include "html.h"

/* HTML past this many bytes is not read: the tree of a huge document
 * costs some thirty times its size in memory. */
#define HTML_MAX_INPUT (8 * 1024 * 1024)

/* How an element affects the layout. */
typedef enum {
	KIND_INLINE,
	KIND_SKIP,		/* dropped with everything inside */
	KIND_BLOCK,		/* on lines of its own */
	KIND_PARAGRAPH,		/* set off by a blank line */
	KIND_BREAK,		/* <br> */
	KIND_LIST,		/* ul, ol, menu, dir */
	KIND_ITEM,		/* li */
	KIND_ROW,		/* tr */
	KIND_CELL,		/* td, th */
	KIND_PRE,
	KIND_LINK,
	KIND_IMAGE,
} Kind;

static const struct {
	const char *name;
	Kind kind;
} element_kinds[] = {
	{ "head", KIND_SKIP }, { "style", KIND_SKIP },
	{ "script", KIND_SKIP }, { "title", KIND_SKIP },
	{ "noscript", KIND_SKIP }, { "template", KIND_SKIP },
	{ "xml", KIND_SKIP }, { "object", KIND_SKIP },
	{ "select", KIND_SKIP },
	{ "p", KIND_PARAGRAPH }, { "h1", KIND_PARAGRAPH },
	{ "h2", KIND_PARAGRAPH }, { "h3", KIND_PARAGRAPH },
	{ "h4", KIND_PARAGRAPH }, { "h5", KIND_PARAGRAPH },
	{ "h6", KIND_PARAGRAPH }, { "blockquote", KIND_PARAGRAPH },
	{ "dl", KIND_PARAGRAPH },
	{ "div", KIND_BLOCK }, { "address", KIND_BLOCK },
	{ "article", KIND_BLOCK }, { "aside", KIND_BLOCK },
	{ "center", KIND_BLOCK }, { "dd", KIND_BLOCK },
	{ "dt", KIND_BLOCK }, { "details", KIND_BLOCK },
	{ "fieldset", KIND_BLOCK }, { "figcaption", KIND_BLOCK },
	{ "figure", KIND_BLOCK }, { "footer", KIND_BLOCK },
	{ "form", KIND_BLOCK }, { "header", KIND_BLOCK },
	{ "hr", KIND_BLOCK }, { "main", KIND_BLOCK },
	{ "nav", KIND_BLOCK }, { "section", KIND_BLOCK },
	{ "summary", KIND_BLOCK }, { "table", KIND_BLOCK },
	{ "caption", KIND_BLOCK }, { "thead", KIND_BLOCK },
	{ "tbody", KIND_BLOCK }, { "tfoot", KIND_BLOCK },
	{ "body", KIND_BLOCK }, { "html", KIND_BLOCK },
	{ "br", KIND_BREAK },
	{ "ul", KIND_LIST }, { "ol", KIND_LIST },
	{ "menu", KIND_LIST }, { "dir", KIND_LIST },
	{ "li", KIND_ITEM },
	{ "tr", KIND_ROW },
	{ "td", KIND_CELL }, { "th", KIND_CELL },
	{ "pre", KIND_PRE }, { "listing", KIND_PRE },
	{ "xmp", KIND_PRE }, { "plaintext", KIND_PRE },
	{ "a", KIND_LINK },
	{ "img", KIND_IMAGE },
};

/* A list being written: its item counter, 0 for a bulleted list. */
typedef struct {
	guint number;
} ListLevel;

/* The text being written, and what is owed before the next word. */
typedef struct {
	GString *out;
	guint newlines;		/* line breaks owed, at most 2 */
	gboolean space;		/* a space owed */
	gboolean separator;	/* a cell separator owed */
	char *prefix;		/* a list item's marker owed */
	guint pre;		/* depth of <pre> elements */
	GArray *lists;		/* ListLevel */
	GArray *links;		/* gsize: where each open link's text
				 * starts in out */
	GArray *blocks;		/* BlockStart of each open block */
	guint nbsp_runs;	/* texts seen that were only spaces, with
				 * at least one no-break space */
} Writer;

/* What the writer had written when a block element began. */
typedef struct {
	gsize len;
	guint nbsp_runs;
} BlockStart;

/* TRUE for Word's <p class=MsoNormal> and kin (Outlook's HTML). */
static gboolean
is_word_paragraph(const xmlNode *node)
{
	xmlChar *class = xmlGetProp(node, (const xmlChar *) "class");
	gboolean word = class != NULL &&
		g_ascii_strncasecmp((const char *) class, "Mso", 3) == 0;

	xmlFree(class);
	return word;
}

/* The layout kind of element NODE. */
static Kind
element_kind(const xmlNode *node)
{
	const char *name = (const char *) node->name;

	if (name == NULL)
		return KIND_INLINE;
	/* Office's namespaced tags (o:p, w:sdt; renamed o-p, w-sdt by
	 * rename_prefixed_tags) are inline, except VML shapes, which
	 * only repeat the picture that follows them. */
	if (g_str_has_prefix(name, "v-"))
		return KIND_SKIP;
	for (gsize i = 0; i < G_N_ELEMENTS(element_kinds); i++) {
		if (g_ascii_strcasecmp(name, element_kinds[i].name) != 0)
			continue;
		/* Word's paragraphs have no margins: one line each. */
		if (element_kinds[i].kind == KIND_PARAGRAPH &&
		    is_word_paragraph(node))
			return KIND_BLOCK;
		return element_kinds[i].kind;
	}
	return KIND_INLINE;
}

/* Owe at least N line breaks (1: a new line, 2: a blank line). */
static void
want_newlines(Writer *w, guint n)
{
	w->newlines = MAX(w->newlines, MIN(n, 2));
}

/* Write what is owed before the next visible text. */
static void
flush_pending(Writer *w)
{
	if (w->out->len == 0) {
		w->newlines = 0;
		w->space = w->separator = FALSE;
	}
	if (w->newlines > 0) {
		/* A break already written counts towards those owed. */
		guint have = 0;

		while (have < w->out->len && have < 2 &&
		       w->out->str[w->out->len - 1 - have] == '\n')
			have++;
		for (guint i = have; i < w->newlines; i++)
			g_string_append_c(w->out, '\n');
		w->newlines = 0;
		w->space = w->separator = FALSE;
	}
	if (w->prefix != NULL) {
		g_string_append(w->out, w->prefix);
		g_clear_pointer(&w->prefix, g_free);
		w->space = w->separator = FALSE;
	}
	if (w->separator && w->out->len > 0 &&
	    w->out->str[w->out->len - 1] != '\n')
		g_string_append(w->out, " | ");
	else if (w->space && w->out->len > 0 &&
		 w->out->str[w->out->len - 1] != '\n' &&
		 w->out->str[w->out->len - 1] != ' ')
		g_string_append_c(w->out, ' ');
	w->space = w->separator = FALSE;
}

/* TRUE for the white space a browser collapses (NBSP included). */
static gboolean
is_collapsible(const char *p, gsize *len)
{
	if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
	    *p == '\f' || *p == '\v') {
		*len = 1;
		return TRUE;
	}
	if ((guchar) p[0] == 0xc2 && (guchar) p[1] == 0xa0) {
		*len = 2;
		return TRUE;
	}
	return FALSE;
}

/* Write TEXT with white space collapsed. */
static void
write_flowing(Writer *w, const char *text)
{
	const char *p = text;
	gboolean visible = FALSE;
	gboolean nbsp = FALSE;

	while (*p != '\0') {
		gsize n;
		const char *start = p;

		if (is_collapsible(p, &n)) {
			while (is_collapsible(p, &n)) {
				nbsp |= n == 2;
				p += n;
			}
			w->space = TRUE;
			continue;
		}
		while (*p != '\0' && !is_collapsible(p, &n))
			p++;
		flush_pending(w);
		g_string_append_len(w->out, start, p - start);
		visible = TRUE;
	}
	/* A lone &nbsp; is how mailers write an empty line. */
	if (!visible && nbsp)
		w->nbsp_runs++;
}

/* Write TEXT as it is (inside <pre>), with CRLF made LF. */
static void
write_preformatted(Writer *w, const char *text)
{
	if (*text == '\0')
		return;
	flush_pending(w);
	for (const char *p = text; *p != '\0'; p++)
		if (*p != '\r')
			g_string_append_c(w->out, *p);
		else if (p[1] != '\n')
			g_string_append_c(w->out, '\n');
}

/*
 * Text without Outlook's "downlevel-revealed" markers (<![if !vml]>,
 * <![endif]>), which the parser keeps as text (owned).
 */
static char *
strip_conditional_markers(const char *text)
{
	GString *out;
	const char *p = text;

	if (strstr(text, "<![") == NULL)
		return g_strdup(text);
	out = g_string_new(NULL);
	while (*p != '\0') {
		const char *mark = strstr(p, "<![");
		const char *end;

		if (mark == NULL || (end = strchr(mark, '>')) == NULL) {
			g_string_append(out, p);
			break;
		}
		if (strncmp(mark + 3, "if", 2) != 0 &&
		    strncmp(mark + 3, "endif", 5) != 0) {
			g_string_append_len(out, p, mark + 3 - p);
			p = mark + 3;
			continue;
		}
		g_string_append_len(out, p, mark - p);
		p = end + 1;
	}
	return g_string_free(out, FALSE);
}

/* Write the text node NODE. */
static void
write_text(Writer *w, const xmlNode *node)
{
	g_autofree char *text = NULL;

	if (node->content == NULL)
		return;
	text = strip_conditional_markers((const char *) node->content);
	if (w->pre > 0)
		write_preformatted(w, text);
	else
		write_flowing(w, text);
}

/* The value of attribute NAME of NODE, or NULL (owned). */
static char *
attribute(const xmlNode *node, const char *name)
{
	xmlChar *value = xmlGetProp(node, (const xmlChar *) name);
	char *copy;

	if (value == NULL)
		return NULL;
	copy = g_strdup((const char *) value);
	xmlFree(value);
	return copy;
}

/* URL without its scheme, "www." and trailing "/", for comparing. */
static const char *
bare_address(const char *url, gsize *len)
{
	const char *p = url;
	const char *colon = strstr(p, "://");

	if (colon != NULL)
		p = colon + 3;
	else if (g_ascii_strncasecmp(p, "mailto:", 7) == 0)
		p += 7;
	if (g_ascii_strncasecmp(p, "www.", 4) == 0)
		p += 4;
	*len = strcspn(p, "?");
	if (g_ascii_strncasecmp(url, "mailto:", 7) != 0)
		*len = strlen(p);
	while (*len > 0 && p[*len - 1] == '/')
		(*len)--;
	return p;
}

/* TRUE when the link's visible TEXT already says where HREF goes. */
static gboolean
text_names_href(const char *text, const char *href)
{
	gsize tlen, hlen;
	const char *t = bare_address(text, &tlen);
	const char *h = bare_address(href, &hlen);

	return tlen == hlen && g_ascii_strncasecmp(t, h, tlen) == 0;
}

/* After a link: its address, when the text does not already say it. */
static void
finish_link(Writer *w, const xmlNode *node, gsize start)
{
	g_autofree char *href = attribute(node, "href");
	g_autofree char *text = NULL;

	if (href == NULL)
		return;
	g_strstrip(href);
	if (*href == '\0' || *href == '#' ||
	    g_ascii_strncasecmp(href, "javascript:", 11) == 0 ||
	    g_ascii_strncasecmp(href, "cid:", 4) == 0)
		return;
	text = g_strstrip(g_strdup(w->out->str + MIN(start, w->out->len)));
	if (text_names_href(text, href))
		return;
	w->space = *text != '\0';
	flush_pending(w);
	/* A mail address reads better without its scheme. */
	if (g_ascii_strncasecmp(href, "mailto:", 7) == 0)
		g_string_append_printf(w->out, "<%.*s>",
				       (int) strcspn(href + 7, "?"), href + 7);
	else
		g_string_append_printf(w->out, "<%s>", href);
}

/* What entering element NODE writes or owes. */
static void
enter_element(Writer *w, const xmlNode *node, Kind kind)
{
	if (kind == KIND_BLOCK || kind == KIND_PARAGRAPH) {
		BlockStart start = { w->out->len, w->nbsp_runs };

		g_array_append_val(w->blocks, start);
	}
	switch (kind) {
	case KIND_BLOCK:
		want_newlines(w, 1);
		break;
	case KIND_PARAGRAPH:
		want_newlines(w, 2);
		break;
	case KIND_BREAK:
		/* Each <br> is one more line break, unlike blocks. */
		flush_pending(w);
		g_string_append_c(w->out, '\n');
		w->space = FALSE;
		break;
	case KIND_LIST: {
		ListLevel level = { 0 };

		if (g_ascii_strcasecmp((const char *) node->name, "ol") == 0)
			level.number = 1;
		g_array_append_val(w->lists, level);
		want_newlines(w, 1);
		break;
	}
	case KIND_ITEM: {
		ListLevel *level = NULL;
		guint depth = w->lists->len;
		g_autofree char *indent = NULL;

		if (depth > 0)
			level = &g_array_index(w->lists, ListLevel, depth - 1);
		/* Two spaces per level, up to a sensible depth. */
		indent = g_strnfill(2 * (MIN(depth, 8) - MIN(depth, 1)), ' ');
		want_newlines(w, 1);
		g_free(w->prefix);
		if (level != NULL && level->number > 0)
			w->prefix = g_strdup_printf("%s%u. ", indent,
						    level->number++);
		else
			w->prefix = g_strconcat(indent, "- ", NULL);
		break;
	}
	case KIND_ROW:
		want_newlines(w, 1);
		break;
	case KIND_CELL:
		w->separator = TRUE;
		break;
	case KIND_PRE:
		want_newlines(w, 2);
		w->pre++;
		break;
	case KIND_LINK: {
		gsize start = w->out->len;

		g_array_append_val(w->links, start);
		break;
	}
	case KIND_IMAGE: {
		g_autofree char *alt = attribute(node, "alt");

		if (alt != NULL) {
			w->space = TRUE;
			write_flowing(w, alt);
			w->space = TRUE;
		}
		break;
	}
	case KIND_INLINE:
	case KIND_SKIP:
		break;
	}
}

/* What leaving element NODE writes or owes. */
static void
leave_element(Writer *w, const xmlNode *node, Kind kind)
{
	/* A block holding nothing but a no-break space is an empty line:
	 * leave a blank line where it stood. */
	if (kind == KIND_BLOCK || kind == KIND_PARAGRAPH) {
		BlockStart start = g_array_index(w->blocks, BlockStart,
						 w->blocks->len - 1);

		g_array_set_size(w->blocks, w->blocks->len - 1);
		if (start.len == w->out->len &&
		    start.nbsp_runs != w->nbsp_runs)
			want_newlines(w, 2);
	}
	switch (kind) {
	case KIND_BLOCK:
	case KIND_ROW:
		want_newlines(w, 1);
		break;
	case KIND_PARAGRAPH:
		want_newlines(w, 2);
		break;
	case KIND_LIST:
		g_array_set_size(w->lists, w->lists->len - 1);
		want_newlines(w, 1);
		break;
	case KIND_ITEM:
		g_clear_pointer(&w->prefix, g_free);
		want_newlines(w, 1);
		break;
	case KIND_PRE:
		w->pre--;
		want_newlines(w, 2);
		break;
	case KIND_LINK: {
		gsize start = g_array_index(w->links, gsize,
					    w->links->len - 1);

		g_array_set_size(w->links, w->links->len - 1);
		finish_link(w, node, start);
		break;
	}
	case KIND_CELL:
		w->space = TRUE;
		break;
	case KIND_BREAK:
	case KIND_IMAGE:
	case KIND_INLINE:
	case KIND_SKIP:
		break;
	}
}

/* Walk the tree under ROOT in document order, without recursion. */
static void
walk(Writer *w, xmlNode *root)
{
	xmlNode *node = root;

	while (node != NULL) {
		gboolean descend = FALSE;

		if (node->type == XML_ELEMENT_NODE) {
			Kind kind = element_kind(node);

			if (kind != KIND_SKIP) {
				enter_element(w, node, kind);
				descend = node->children != NULL;
				if (!descend)
					leave_element(w, node, kind);
			}
		} else if (node->type == XML_TEXT_NODE ||
			   node->type == XML_CDATA_SECTION_NODE) {
			write_text(w, node);
		}
		/* Comments (Outlook's <!--[if mso]> included), processing
		 * instructions and the rest write nothing. */

		if (descend) {
			node = node->children;
			continue;
		}
		/* Climb until a next sibling, leaving each element. */
		while (node != root && node->next == NULL) {
			node = node->parent;
			if (node->type == XML_ELEMENT_NODE)
				leave_element(w, node, element_kind(node));
		}
		if (node == root)
			break;
		node = node->next;
	}
}

/* OUT with runs of blank lines cut to one and the ends trimmed. */
static char *
tidy(GString *out)
{
	GString *tidied = g_string_sized_new(out->len);
	guint newlines = 0;
	const char *p = out->str;

	/* Trailing blanks of every line go, then extra empty lines. */
	while (*p != '\0') {
		const char *eol = strchr(p, '\n');
		gsize len = eol ? (gsize) (eol - p) : strlen(p);

		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0) {
			newlines++;
		} else {
			if (tidied->len > 0)
				g_string_append(tidied,
						newlines > 1 ? "\n\n" : "\n");
			g_string_append_len(tidied, p, len);
			newlines = 1;
		}
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	return g_string_free(tidied, FALSE);
}

/* HTML of LEN bytes as valid UTF-8 without NUL bytes (owned). */
static char *
clean_input(const char *html, gsize len)
{
	g_autofree char *copy = NULL;
	gsize n = 0;

	if (len > HTML_MAX_INPUT)
		len = HTML_MAX_INPUT;
	if (memchr(html, '\0', len) == NULL &&
	    g_utf8_validate(html, (gssize) len, NULL))
		return g_strndup(html, len);
	copy = g_malloc(len + 1);
	for (gsize i = 0; i < len; i++)
		if (html[i] != '\0')
			copy[n++] = html[i];
	copy[n] = '\0';
	return g_utf8_make_valid(copy, (gssize) n);
}

/*
 * HTML with "<o:p" made "<o-p" in every tag name: libxml2 drops the
 * prefix, and Word's empty <o:p> would become a paragraph.
 */
static void
rename_prefixed_tags(char *html)
{
	for (char *p = strchr(html, '<'); p != NULL; p = strchr(p, '<')) {
		p++;
		if (*p == '/')
			p++;
		while (g_ascii_isalpha(*p))
			p++;
		if (*p == ':' && g_ascii_isalpha(p[1]) &&
		    g_ascii_isalpha(p[-1]))
			*p = '-';
	}
}

/* The text of HTML (LEN bytes of UTF-8); always valid UTF-8, owned. */
char *
html_to_text(const char *html, gsize len)
{
	g_autofree char *input = NULL;
	g_autofree char *text = NULL;
	htmlDocPtr doc;
	Writer w = { 0 };
	xmlNode *root;

	if (html == NULL || len == 0)
		return g_strdup("");
	input = clean_input(html, len);
	if (*input == '\0')
		return g_strdup("");
	rename_prefixed_tags(input);

	/* The declared encoding is ignored: the caller gives UTF-8. */
	doc = htmlReadMemory(input, (int) strlen(input), NULL, "UTF-8",
			     HTML_PARSE_RECOVER | HTML_PARSE_NOERROR |
			     HTML_PARSE_NOWARNING | HTML_PARSE_NONET |
			     HTML_PARSE_IGNORE_ENC | XML_PARSE_HUGE);
	if (doc == NULL)
		return g_strdup("");
	root = xmlDocGetRootElement(doc);

	w.out = g_string_new(NULL);
	w.lists = g_array_new(FALSE, FALSE, sizeof(ListLevel));
	w.links = g_array_new(FALSE, FALSE, sizeof(gsize));
	w.blocks = g_array_new(FALSE, FALSE, sizeof(BlockStart));
	if (root != NULL)
		walk(&w, root);
	xmlFreeDoc(doc);

	text = tidy(w.out);
	g_string_free(w.out, TRUE);
	g_array_unref(w.lists);
	g_array_unref(w.links);
	g_array_unref(w.blocks);
	g_free(w.prefix);
	return g_utf8_make_valid(text, -1);
}
