/*
 * test-html.c - html_to_text(): HTML mail bodies as plain text.
 *
 * Table-driven: each case is an HTML snippet and the exact text it must
 * give.  A few cases below the table check properties instead (valid
 * UTF-8 from broken input, deep nesting, big input).
 */
#include <string.h>

#include <glib.h>

#include "html.h"

typedef struct {
	const char *name;
	const char *html;
	const char *want;
} HtmlCase;

static const HtmlCase cases[] = {
	{ "empty", "", "" },
	{ "plain-text", "just text", "just text" },
	{ "entities",
	  "<p>Fish &amp; chips &lt;b&gt; &quot;q&quot; &#8364;5 &euro;6 "
	  "&#x4e2d;&#25991; caf&eacute;</p>",
	  "Fish & chips <b> \"q\" €5 €6 中文 café" },
	{ "whitespace-collapsed",
	  "<div>  many\n\n   spaces\tand\r\nlines  </div>",
	  "many spaces and lines" },
	{ "nbsp-as-space", "<p>1&nbsp;June&nbsp;&nbsp;2024</p>",
	  "1 June 2024" },
	{ "style-script-title-head-dropped",
	  "<html><head><title>Title</title><style>p{color:red}</style>"
	  "<script>var x = 1;</script></head><body><p>Visible</p>"
	  "<script type=\"text/javascript\">alert('no')</script>"
	  "<noscript>no</noscript></body></html>",
	  "Visible" },
	{ "comments-dropped", "<p>a<!-- hidden -->b</p>", "ab" },
	{ "paragraphs-blank-line", "<p>One</p><p>Two</p>", "One\n\nTwo" },
	{ "br-kept", "<p>line 1<br>line 2<br/>line 3</p>",
	  "line 1\nline 2\nline 3" },
	{ "double-br-blank-line", "a<br><br>b", "a\n\nb" },
	{ "many-br-one-blank-line", "a<br><br><br><br><br>b", "a\n\nb" },
	{ "divs-lines", "<div>one</div><div>two</div><div><br></div>"
	  "<div>three</div>", "one\ntwo\n\nthree" },
	{ "headings", "<h1>Title</h1>text<h2>Sub</h2>more",
	  "Title\n\ntext\n\nSub\n\nmore" },
	{ "unordered-list", "<ul><li>one</li><li>two</li></ul>",
	  "- one\n- two" },
	{ "ordered-list", "<p>Steps:</p><ol><li>first<li>second</ol>",
	  "Steps:\n\n1. first\n2. second" },
	{ "nested-list",
	  "<ul><li>a<ul><li>a1</li><li>a2</li></ul></li><li>b</li></ul>",
	  "- a\n  - a1\n  - a2\n- b" },
	{ "link-with-text",
	  "See <a href=\"https://example.com/doc\">the docs</a>.",
	  "See the docs <https://example.com/doc>." },
	{ "link-same-as-text",
	  "<a href=\"https://www.example.com/\">www.example.com</a>",
	  "www.example.com" },
	{ "mailto-same-as-text",
	  "<a href=\"mailto:ops@example.test\">ops@example.test</a>",
	  "ops@example.test" },
	{ "mailto-other-text",
	  "<a href=\"mailto:ops@example.test?subject=hi\">Mail us</a>",
	  "Mail us <ops@example.test>" },
	{ "anchor-link-ignored", "<a href=\"#top\">Top</a>", "Top" },
	{ "image-alt", "<p>Logo: <img src=\"cid:x\" alt=\"ACME\"> end</p>",
	  "Logo: ACME end" },
	{ "image-without-alt", "<p>a<img src=\"x.png\">b</p>", "ab" },
	{ "table-cells",
	  "<table><tr><th>Name</th><td>Value</td></tr>"
	  "<tr><td>CPU</td><td>100%</td></tr></table>",
	  "Name | Value\nCPU | 100%" },
	{ "table-empty-cells", "<table><tr><td></td><td>x</td><td></td>"
	  "<td>y</td></tr></table>", "x | y" },
	{ "nested-tables",
	  "<table><tr><td><table><tr><td>inner a</td><td>inner b</td></tr>"
	  "</table></td><td>outer</td></tr></table>",
	  "inner a | inner b\nouter" },
	{ "pre-kept",
	  "<p>Log:</p><pre>  ERROR  a\n    at b\r\n</pre><p>end</p>",
	  "Log:\n\n  ERROR  a\n    at b\n\nend" },
	{ "outlook-conditional-comments",
	  "<!--[if gte mso 9]><xml><o:OfficeDocumentSettings>"
	  "</o:OfficeDocumentSettings></xml><![endif]-->"
	  "<p class=MsoNormal>Hello<o:p></o:p></p>"
	  "<!--[if gte vml 1]><v:shape><v:imagedata src=\"cid:i\"/>"
	  "</v:shape><![endif]--><![if !vml]><img alt=\"Logo\"><![endif]>",
	  "Hello\nLogo" },
	{ "outlook-paragraphs",
	  "<p class=MsoNormal>Dear team,<o:p></o:p></p>"
	  "<p class=MsoNormal><o:p>&nbsp;</o:p></p>"
	  "<p class=MsoNormal>the backup failed.<o:p></o:p></p>"
	  "<p class=MsoNormal>Regards,<o:p></o:p></p>",
	  "Dear team,\n\nthe backup failed.\nRegards," },
	{ "blockquote", "<p>He wrote:</p><blockquote>quoted</blockquote>ok",
	  "He wrote:\n\nquoted\n\nok" },
	{ "unclosed-tags", "<div><p>open <b>bold <i>both", "open bold both" },
	{ "declared-charset-ignored",
	  "<html><head><meta charset=\"gb2312\"></head>"
	  "<body>中文 text</body></html>", "中文 text" },
	{ "trimmed", "\n\n<p>  padded  </p>\n\n", "padded" },
};

/* One table case: the exact text. */
static void
test_case(gconstpointer data)
{
	const HtmlCase *c = data;
	g_autofree char *got = html_to_text(c->html, strlen(c->html));

	g_assert_cmpstr(got, ==, c->want);
}

/* Invalid UTF-8 and NUL bytes in the input: valid UTF-8 out. */
static void
test_invalid_utf8(void)
{
	static const char html[] = "<p>bad \xff\xfe bytes \xe4\xb8 cut"
				   "\0 nul \xe4\xb8\xad ok</p>";
	g_autofree char *got = html_to_text(html, sizeof(html) - 1);

	g_assert_true(g_utf8_validate(got, -1, NULL));
	g_assert_nonnull(strstr(got, "bad"));
	g_assert_nonnull(strstr(got, "\xe4\xb8\xad ok"));
}

/* Nesting far deeper than any stack would take recursively. */
static void
test_deep_nesting(void)
{
	const guint depth = 100000;
	GString *html = g_string_new("<p>before</p>");
	g_autofree char *got = NULL;

	for (guint i = 0; i < depth; i++)
		g_string_append(html, "<div><span>");
	g_string_append(html, "deep");
	for (guint i = 0; i < depth; i++)
		g_string_append(html, "</span></div>");
	g_string_append(html, "<p>after</p>");
	got = html_to_text(html->str, html->len);
	g_string_free(html, TRUE);

	g_assert_cmpstr(got, ==, "before\n\ndeep\n\nafter");
}

/* A big document: every paragraph is there, in order. */
static void
test_big(void)
{
	const guint count = 20000;
	GString *html = g_string_new(NULL);
	g_autofree char *got = NULL;
	g_autofree char *last = NULL;

	for (guint i = 0; i < count; i++)
		g_string_append_printf(html, "<p>para %u &amp; <b>bold</b></p>",
				       i);
	got = html_to_text(html->str, html->len);
	g_string_free(html, TRUE);

	last = g_strdup_printf("para %u & bold", count - 1);
	g_assert_true(g_str_has_prefix(got, "para 0 & bold\n\npara 1 & bold"));
	g_assert_true(g_str_has_suffix(got, last));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *path = g_strdup_printf("/html/%s",
							cases[i].name);

		g_test_add_data_func(path, &cases[i], test_case);
	}
	g_test_add_func("/html/invalid-utf8", test_invalid_utf8);
	g_test_add_func("/html/deep-nesting", test_deep_nesting);
	g_test_add_func("/html/big", test_big);
	return g_test_run();
}
