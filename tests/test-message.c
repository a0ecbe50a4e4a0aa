/*
 * test-message.c - message_parse() and spool_read() on the test mails.
 *
 * Each mail under tests/data has one row in the table below with what
 * a user would check: subject, sender, identifiers, recipients, phrases
 * the body must and must not hold, and the attachments.  The functions
 * after the table check what one row cannot: the digest across
 * deliveries, header access, attachment contents, failures, the spool.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "error.h"
#include "message.h"
#include "spool.h"

#define MAX_PHRASES 6
#define MAX_FILES 4

typedef struct {
	const char *name;
	const char *content_type;
	gsize size;
	gboolean is_inline;
	const char *content_id;
} WantFile;

typedef struct {
	const char *file;
	const char *subject;
	const char *from_addr;
	const char *from_name;
	const char *reply_to;
	const char *message_id;
	const char *return_path;
	const char *recipients;		/* space separated, in order */
	gboolean body_from_html;
	const char *body_has[MAX_PHRASES];
	const char *body_lacks[MAX_PHRASES];
	WantFile files[MAX_FILES];
} MailCase;

static const MailCase mails[] = {
	{
		.file = "plain-utf8.eml",
		.subject = "Cannot log in to the console – password reset "
			   "loops",
		.from_addr = "li.na@example.test",
		.from_name = "Li Na",
		.message_id = "6b1e7c2a-41f0-4d59-9a07-3c5d1e0f2b11@"
			      "example.test",
		.return_path = "li.na@example.test",
		.recipients = "support@support.test help@support.test "
			      "ops@support.test manager@example.test",
		.body_has = { "Hello,\n\nsince this morning",
			      "(“Login failed,\nerror 4031”)",
			      "Li Na – Müller & Söhne GmbH" },
	},
	{
		.file = "gb2312-qp.eml",
		.subject = "王喆：数据库实例“堃-prod”连接超时",
		.from_addr = "wang.zhe@example.cn.test",
		.from_name = "王喆",
		.message_id = "000801dab70f$1a2b3c40$4e5f6a70$@example.cn.test",
		.return_path = "wang.zhe@example.cn.test",
		.recipients = "support@support.test",
		.body_has = { "我是王喆。",
			      "数据库实例“堃-prod”频繁出现连接超时",
			      "实例规格：8核 32GB" },
		.body_lacks = { "=\n", "=E" },
	},
	{
		.file = "demo-customer.eml",
		.subject = "ECS 实例无法远程连接，控制台显示“运行中”",
		.from_addr = "zhang.wei@customer.test",
		.from_name = "张伟",
		.message_id = "202406041021370512346@customer.test",
		.return_path = "zhang.wei@customer.test",
		.recipients = "support@support.test",
		.body_has = { "ECS 实例 i-bp1f2a3b4c5d6e7f8g9h",
			      "3. 通过 VNC 登录",
			      "张伟\n运维工程师" },
		.body_lacks = { "<div", "line-height" },
		.files = {
			{ "控制台截图.png", "image/png", 74, FALSE, NULL },
			{ "服务器配置清单.pdf", "application/pdf", 142, FALSE,
			  NULL },
		},
	},
	{
		.file = "outlook-html.eml",
		.subject = "Snapshot policy not running since 1 June",
		.from_addr = "peter.novak@novak-logistics.test",
		.from_name = "Peter Novak",
		.message_id = "AM0PR07MB4411C3D2E1F0A9B8C7D6E5F4A3B2C1D0@"
			      "AM0PR07MB4411.eurprd07.prod.outlook.test",
		.return_path = "peter.novak@novak-logistics.test",
		.recipients = "support@support.test",
		.body_from_html = TRUE,
		.body_has = { "Dear support team,\n\nour nightly snapshot",
			      "\"Failed – quota exceeded\"",
			      "Affected disks:\n- d-2ze0a1b2c3d4e5f6g7h8 "
			      "(system)\n- d-2ze9h8g7f6e5d4c3b2a1 (data)",
			      "Best regards,\nPeter Novak\nNovak Logistics",
			      "Mail me <peter.novak@novak-logistics.test>" },
		.body_lacks = { "Cambria", "MsoNormal", "font-family",
				"shapedefaults", "<![", "&nbsp;" },
		.files = {
			{ "image001.png", "image/png", 74, TRUE,
			  "image001.png@01DAB5C1.6A2E3F40" },
		},
	},
	{
		.file = "html-single.eml",
		.subject = "Contact form: José Álvarez",
		.from_addr = "noreply@alvarez-hijos.test",
		.from_name = "Contact form",
		.reply_to = "jose@alvarez-hijos.test",
		.message_id = "k3Jq9sX0TfS7aB2cD4eF6gH8iJ0kL1mN@"
			      "web.alvarez-hijos.test",
		.return_path = "www-data@web.alvarez-hijos.test",
		.recipients = "support@support.test",
		.body_from_html = TRUE,
		.body_has = { "New request from the contact form\n\n",
			      "Name | José Álvarez\nCompany | Álvarez & Hijos",
			      "returns <AccessDenied> since",
			      "on Monday — could",
			      "our website <https://www.alvarez-hijos.test/"
			      "contact>" },
		.body_lacks = { "tracking", "Contact form</title>", "&amp;" },
	},
	{
		.file = "forwarded-rfc822.eml",
		.subject = "Fwd: Invoice 2024-05 for account 1234-5678",
		.from_addr = "k.tanaka@tanaka-shoji.test",
		.from_name = "Kenji Tanaka",
		.message_id = "CAF7k2pQ9+Xy3Zb8vT1nR5mW4sL6hJ0gD2fC9eB3aN7@"
			      "mail.tanaka-shoji.test",
		.return_path = "k.tanaka@tanaka-shoji.test",
		.recipients = "support@support.test",
		.body_has = { "charges us twice" },
		.body_lacks = { "total 1,234.56 USD" },
		.files = {
			{ "Invoice 2024-05 for account 1234-5678.eml",
			  "message/rfc822", 361, FALSE, NULL },
		},
	},
	{
		.file = "mbox-from.eml",
		.subject = "Load balancer health checks flapping",
		.from_addr = "alice@example.test",
		.from_name = "Alice Martin",
		.message_id = "87h6e3x2q1.fsf@laptop.example.test",
		.return_path = "alice@example.test",
		.recipients = "support@support.test",
		/* A body line starting "From " is not a new message. */
		.body_has = { "every few minutes.\nFrom the access logs",
			      "answer in 40 ms.\n\nAlice" },
	},
	{
		.file = "crlf.eml",
		.subject = "Re: [Ticket #1024] Backup job failing",
		.from_addr = "it@fabrikam.test",
		.from_name = "Fabrikam IT",
		.message_id = "DM6PR11MB3387A1B2C3D4E5F6@"
			      "DM6PR11MB3387.namprd11.prod.fabrikam.test",
		.return_path = "it@fabrikam.test",
		.recipients = "support@support.test",
		.body_has = { "02:00.\nLog excerpt:\n  ERROR snapshot",
			      "Regards,\nFabrikam IT" },
		.body_lacks = { "\r" },
	},
	{
		.file = "no-subject.eml",
		.subject = "",
		.from_addr = "bob@example.test",
		.message_id = "first-id@example.test",
		.return_path = "bob@example.test",
		.recipients = "support@support.test",
		.body_has = { "The VPN gateway vpn-01 rejects new clients." },
	},
	{
		.file = "raw-8bit.eml",
		.subject = "服务器告警：磁盘使用率 95%",
		.from_addr = "monitor@factory.test",
		.from_name = "监控系统",
		.message_id = "alert-20240614030005@factory.test",
		.return_path = "monitor@factory.test",
		.recipients = "support@support.test",
		.body_has = { "磁盘使用率已达 95%，日志见附件。" },
		.files = {
			{ "磁盘日志.txt", "text/plain", 42, FALSE, NULL },
		},
	},
	{
		.file = "auto-reply.eml",
		.subject = "自动回复: [Ticket #1031] 工单已受理",
		.from_addr = "chen.jing@example.test",
		.from_name = "Chen Jing",
		.message_id = "autoreply-20240617080002-4242@example.test",
		.return_path = "",
		.recipients = "support@support.test",
		.body_has = { "我正在休假，6月24日回来。" },
	},
	{
		.file = "signed.eml",
		.subject = "Signed: request for audit log export",
		.from_addr = "m.weber@bank.test",
		.from_name = "Michael Weber",
		.message_id = "0a1b2c3d-signed@bank.test",
		.return_path = "m.weber@bank.test",
		.recipients = "support@support.test",
		.body_has = { "export the ActionTrail audit logs" },
		.body_lacks = { "S/MIME", "smime" },
	},
	{
		.file = "empty-attachment.eml",
		.subject = "Error log attached (empty?)",
		.from_addr = "dev@startup.test",
		.from_name = "Dev Team",
		.message_id = "empty-attach-1@startup.test",
		.return_path = "dev@startup.test",
		.recipients = "support@support.test",
		.body_has = { "The export produced an empty error.log" },
		.files = {
			{ "error.log", "application/octet-stream", 0, FALSE,
			  NULL },
			{ "image.jpg", "image/jpeg", 22, TRUE, NULL },
		},
	},
	{
		.file = "apple-inline.eml",
		.subject = "CDN returns 403 for some files",
		.from_addr = "sophie@example.test",
		.from_name = "Sophie Laurent",
		.message_id = "9A8B7C6D-5E4F-4A3B-2C1D-0E9F8A7B6C5D@"
			      "example.test",
		.return_path = "sophie@example.test",
		.recipients = "support@support.test",
		/* The text around the pasted picture, joined. */
		.body_has = { "see the screenshot:\n\nOther files in the "
			      "same folder work fine.\n\nSophie" },
		.files = {
			{ "Screenshot 2024-06-20 at 17.40.03.png", "image/png",
			  74, TRUE, NULL },
		},
	},
	{
		.file = "blank-plain-alt.eml",
		.subject = "New employee account request",
		.from_addr = "hr@example.test",
		.from_name = "HR Portal",
		.message_id = "blank-plain-1@example.test",
		.return_path = "hr@example.test",
		.recipients = "support@support.test",
		.body_from_html = TRUE,
		.body_has = { "Please create a RAM user for Ana Costa "
			      "(starting 1 July).\n\nGroups: developers" },
		.body_lacks = { "<b>" },
	},
};

/* The test mail NAME spooled the way main.c does it. */
static GMimeStream *
spool_file(const char *name)
{
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data",
						      name, NULL);
	g_autoptr(GError) error = NULL;
	GMimeStream *stream;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	stream = spool_read(fd, 1024 * 1024, NULL, NULL, &error);
	close(fd);
	g_assert_no_error(error);
	return stream;
}

/* The mail in memory: TEXT of LEN bytes (-1: a string). */
static GMimeStream *
stream_of(const char *text, gssize len)
{
	return g_mime_stream_mem_new_with_buffer(text,
		len < 0 ? strlen(text) : (gsize) len);
}

/* Parse a stream; the parse must succeed. */
static Message *
parse_ok(GMimeStream *stream)
{
	g_autoptr(GError) error = NULL;
	Message *message = message_parse(stream, NULL, &error);

	g_assert_no_error(error);
	g_assert_nonnull(message);
	return message;
}

/* The parsed test mail NAME; *STREAM keeps the spool alive. */
static Message *
parse_file(const char *name, GMimeStream **stream)
{
	*stream = spool_file(name);
	return parse_ok(*stream);
}

/* A file's contents (owned). */
static char *
read_data(const char *name, gsize *len)
{
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data",
						      name, NULL);
	g_autoptr(GError) error = NULL;
	char *text = NULL;

	g_file_get_contents(path, &text, len, &error);
	g_assert_no_error(error);
	return text;
}

/* One table row: every field a user would look at. */
static void
test_mail(gconstpointer data)
{
	const MailCase *c = data;
	g_autoptr(GMimeStream) stream = NULL;
	g_autoptr(Message) m = parse_file(c->file, &stream);
	g_autoptr(GPtrArray) rcpts = g_ptr_array_new();
	g_autofree char *recipients = NULL;
	guint files = 0;

	g_assert_cmpstr(m->subject, ==, c->subject);
	g_assert_cmpstr(m->from_addr, ==, c->from_addr);
	g_assert_cmpstr(m->from_name, ==, c->from_name);
	g_assert_cmpstr(m->reply_to_addr, ==, c->reply_to);
	g_assert_cmpstr(m->message_id, ==, c->message_id);
	g_assert_cmpstr(m->return_path, ==, c->return_path);
	for (guint i = 0; i < m->header_recipients->len; i++)
		g_ptr_array_add(rcpts, m->header_recipients->pdata[i]);
	g_ptr_array_add(rcpts, NULL);
	recipients = g_strjoinv(" ", (char **) rcpts->pdata);
	g_assert_cmpstr(recipients, ==, c->recipients);

	/* The body: valid UTF-8, LF only, with and without phrases. */
	g_assert_true(g_utf8_validate(m->body, -1, NULL));
	g_assert_true(g_utf8_validate(m->subject, -1, NULL));
	g_assert_cmpint(m->body_from_html, ==, c->body_from_html);
	for (guint i = 0; i < MAX_PHRASES && c->body_has[i]; i++)
		if (strstr(m->body, c->body_has[i]) == NULL)
			g_error("%s: body lacks \"%s\"; body:\n%s", c->file,
				c->body_has[i], m->body);
	for (guint i = 0; i < MAX_PHRASES && c->body_lacks[i]; i++)
		if (strstr(m->body, c->body_lacks[i]) != NULL)
			g_error("%s: body holds \"%s\"; body:\n%s", c->file,
				c->body_lacks[i], m->body);

	/* The attachments, in mail order. */
	while (files < MAX_FILES && c->files[files].name != NULL)
		files++;
	g_assert_cmpuint(m->attachments->len, ==, files);
	for (guint i = 0; i < files; i++) {
		const MessageAttachment *a = m->attachments->pdata[i];
		const WantFile *want = &c->files[i];

		g_assert_cmpstr(a->name, ==, want->name);
		g_assert_cmpstr(a->content_type, ==, want->content_type);
		g_assert_cmpuint(a->size, ==, want->size);
		g_assert_cmpint(a->is_inline, ==, want->is_inline);
		g_assert_cmpstr(a->content_id, ==, want->content_id);
	}
	g_assert_cmpuint(strlen(m->digest), ==, 64);
}

/* Replies: In-Reply-To and References as they are in the mail. */
static void
test_threading(void)
{
	g_autoptr(GMimeStream) stream = NULL;
	g_autoptr(Message) m = parse_file("crlf.eml", &stream);

	g_assert_cmpstr(m->in_reply_to, ==, "<ticket-1024-3@support.test>");
	g_assert_nonnull(strstr(m->references, "<ticket-1024-0@support.test>"));
	g_assert_nonnull(strstr(m->references, "<ticket-1024-3@support.test>"));
}

/* Auto-replies: the headers the screening step looks at. */
static void
test_headers(void)
{
	g_autoptr(GMimeStream) stream = NULL;
	g_autoptr(Message) m = parse_file("auto-reply.eml", &stream);
	g_autofree char *auto_submitted = message_header(m, "auto-submitted");
	g_autofree char *type = message_header(m, "Content-Type");
	g_autofree char *subject = message_header(m, "Subject");

	g_assert_cmpstr(auto_submitted, ==, "auto-replied");
	g_assert_true(message_has_header(m, "X-Autoreply"));
	g_assert_true(message_has_header(m, "precedence"));
	g_assert_false(message_has_header(m, "List-Id"));
	g_assert_null(message_header(m, "List-Id"));
	g_assert_nonnull(type);
	g_assert_true(g_str_has_prefix(type, "text/plain"));
	g_assert_cmpstr(subject, ==, "自动回复: [Ticket #1031] 工单已受理");
}

/* A raw 8-bit header value comes back as UTF-8. */
static void
test_header_raw_8bit(void)
{
	g_autoptr(GMimeStream) stream = NULL;
	g_autoptr(Message) m = parse_file("raw-8bit.eml", &stream);
	g_autofree char *subject = message_header(m, "Subject");

	g_assert_cmpstr(subject, ==, "服务器告警：磁盘使用率 95%");
}

/* The same mail delivered again, with other delivery headers, keeps
 * its digest; another body does not. */
static void
test_digest_deliveries(void)
{
	gsize len;
	g_autofree char *mail = read_data("plain-utf8.eml", &len);
	g_autofree char *again = g_strconcat(
		"Received: from relay.support.test by mx2.support.test;\n"
		"\tTue, 4 Jun 2024 09:15:09 +0800\n"
		"Delivered-To: archive@support.test\n"
		"X-Original-To: archive@support.test\n", mail, NULL);
	g_autofree char *changed = g_strdup(mail);
	g_autoptr(GMimeStream) s1 = stream_of(mail, (gssize) len);
	g_autoptr(GMimeStream) s2 = stream_of(again, -1);
	g_autoptr(GMimeStream) s3 = NULL;
	g_autoptr(Message) m1 = parse_ok(s1);
	g_autoptr(Message) m2 = parse_ok(s2);
	g_autoptr(Message) m3 = NULL;
	char *hello = strstr(changed, "Hello,");

	g_assert_nonnull(hello);
	hello[0] = 'J';
	s3 = stream_of(changed, (gssize) len);
	m3 = parse_ok(s3);

	g_assert_cmpstr(m1->digest, ==, m2->digest);
	g_assert_cmpstr(m1->digest, !=, m3->digest);
	/* The new delivery headers are visible, first. */
	g_assert_cmpstr(m2->header_recipients->pdata[0], ==,
			"archive@support.test");
}

/* A leading mbox From line is not part of the mail's digest. */
static void
test_digest_from_line(void)
{
	gsize len;
	g_autofree char *mail = read_data("mbox-from.eml", &len);
	const char *after = strchr(mail, '\n') + 1;
	g_autoptr(GMimeStream) s1 = stream_of(mail, (gssize) len);
	g_autoptr(GMimeStream) s2 = stream_of(after, -1);
	g_autoptr(Message) m1 = parse_ok(s1);
	g_autoptr(Message) m2 = parse_ok(s2);

	g_assert_true(g_str_has_prefix(mail, "From alice@example.test "));
	g_assert_cmpstr(m1->digest, ==, m2->digest);
	g_assert_cmpstr(m1->subject, ==, m2->subject);
}

/* Attachments are decoded on demand, byte for byte. */
static void
test_attachment_data(void)
{
	g_autoptr(GMimeStream) stream = NULL;
	g_autoptr(Message) m = parse_file("demo-customer.eml", &stream);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) png = NULL;
	g_autoptr(GBytes) pdf = NULL;
	gsize size;
	const char *data;

	g_assert_cmpuint(m->attachments->len, ==, 2);
	png = message_attachment_data(m->attachments->pdata[0], &error);
	g_assert_no_error(error);
	data = g_bytes_get_data(png, &size);
	g_assert_cmpuint(size, ==, 74);
	g_assert_cmpmem(data, 8, "\x89PNG\r\n\x1a\n", 8);

	pdf = message_attachment_data(m->attachments->pdata[1], &error);
	g_assert_no_error(error);
	data = g_bytes_get_data(pdf, &size);
	g_assert_cmpuint(size, ==, 142);
	g_assert_true(g_str_has_prefix(data, "%PDF-1.4"));
}

/* An attached message comes out whole, its size as announced. */
static void
test_attached_message_data(void)
{
	g_autoptr(GMimeStream) stream = NULL;
	g_autoptr(Message) m = parse_file("forwarded-rfc822.eml", &stream);
	const MessageAttachment *a = m->attachments->pdata[0];
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes = message_attachment_data(a, &error);
	g_autofree char *text = NULL;

	g_assert_no_error(error);
	g_assert_cmpuint(g_bytes_get_size(bytes), ==, a->size);
	text = g_strndup(g_bytes_get_data(bytes, NULL),
			 g_bytes_get_size(bytes));
	g_assert_nonnull(strstr(text, "Subject: Invoice 2024-05"));
	g_assert_nonnull(strstr(text, "total 1,234.56 USD"));
}

/* A zero-byte attachment gives empty data, not an error. */
static void
test_empty_attachment_data(void)
{
	g_autoptr(GMimeStream) stream = NULL;
	g_autoptr(Message) m = parse_file("empty-attachment.eml", &stream);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bytes =
		message_attachment_data(m->attachments->pdata[0], &error);

	g_assert_no_error(error);
	g_assert_nonnull(bytes);
	g_assert_cmpuint(g_bytes_get_size(bytes), ==, 0);
}

/* Fallback charsets from the options decide raw 8-bit text. */
static void
test_fallback_option(void)
{
	const char *latin[] = { "utf-8", "windows-1252", NULL };
	const MessageOptions options = { .fallback_charsets = latin };
	static const char mail[] =
		"From: a@example.test\nTo: b@example.test\n"
		"Subject: Caf\xe9 \x93quoted\x94\n\nK\xe4se\n";
	g_autoptr(GMimeStream) s1 = stream_of(mail, -1);
	g_autoptr(GMimeStream) s2 = stream_of(mail, -1);
	g_autoptr(GError) error = NULL;
	g_autoptr(Message) chosen = message_parse(s1, &options, &error);
	g_autoptr(Message) plain = parse_ok(s2);

	g_assert_no_error(error);
	g_assert_cmpstr(chosen->subject, ==, "Café “quoted”");
	g_assert_cmpstr(chosen->body, ==, "Käse");
	/* With the defaults, gb18030 comes first: still valid UTF-8. */
	g_assert_true(g_utf8_validate(plain->subject, -1, NULL));
	g_assert_true(g_utf8_validate(plain->body, -1, NULL));
}

/* Adjacent encoded words, the first padded: the whole subject. */
static void
test_padded_words(void)
{
	g_autoptr(GMimeStream) s = stream_of(
		"From: a@example.test\n"
		"Subject: =?UTF-8?B?RUNTIA==?=\n =?UTF-8?B?5a6e5L6L5ZGK6K2m?=\n"
		"\nbody\n", -1);
	g_autoptr(Message) m = parse_ok(s);

	g_assert_cmpstr(m->subject, ==, "ECS 实例告警");
}

/* Encoded words split inside a UTF-8 character, in the subject (B,
 * the first padded) and in the sender's name (Q). */
static void
test_split_words(void)
{
	g_autoptr(GMimeStream) stream = NULL;
	g_autoptr(Message) m = parse_file("kinds/split-utf8-word.eml",
					  &stream);

	g_assert_cmpstr(m->subject, ==, "数据库备份失败");
	g_assert_cmpstr(m->from_name, ==, "张伟");
	g_assert_cmpstr(m->from_addr, ==, "zhang.wei@customer.test");
}

/* A raw Latin-1 file name in a mail whose text is Latin-1: read as
 * Latin-1, not as the GB18030 that the fallbacks would try first. */
static void
test_raw_name_charset_hint(void)
{
	g_autoptr(GMimeStream) s = stream_of(
		"From: a@example.test\nSubject: prices\nMIME-Version: 1.0\n"
		"Content-Type: multipart/mixed; boundary=b\n\n"
		"--b\nContent-Type: text/plain; charset=iso-8859-1\n\n"
		"Gr\xfc\xdf" "e\n"
		"--b\nContent-Type: application/pdf\n"
		"Content-Disposition: attachment; "
		"filename=\"Preis\xfc" "bersicht M\xe4rz.pdf\"\n\n"
		"%PDF-1.4\n"
		"--b--\n", -1);
	g_autoptr(Message) m = parse_ok(s);
	const MessageAttachment *a;

	g_assert_cmpstr(m->body, ==, "Grüße");
	g_assert_cmpuint(m->attachments->len, ==, 1);
	a = m->attachments->pdata[0];
	g_assert_cmpstr(a->name, ==, "Preisübersicht März.pdf");
}

/* A first line of junk before the headers is skipped, with a warning. */
static void
test_junk_first_line(void)
{
	g_autoptr(GMimeStream) s = stream_of(
		"---- Original email message ----\n"
		"From: Form <form@example.test>\nSubject: contact\n\nhi\n",
		-1);
	g_autoptr(Message) m = parse_ok(s);

	g_assert_cmpstr(m->subject, ==, "contact");
	g_assert_cmpstr(m->from_addr, ==, "form@example.test");
	g_assert_cmpstr(m->body, ==, "hi");
	g_assert_cmpuint(m->warnings->len, >=, 1);
}

/* What is not a mail fails as a data error; nothing else fails. */
static void
test_not_a_mail(void)
{
	static const char *inputs[] = {
		"",
		"\n\n\n",
		"just a line of text\nand another one\n",
		"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(inputs); i++) {
		g_autoptr(GMimeStream) s = stream_of(inputs[i], i == 3 ? 16
								       : -1);
		g_autoptr(GError) error = NULL;
		Message *m = message_parse(s, NULL, &error);

		g_assert_null(m);
		g_assert_error(error, M2T_ERROR, M2T_ERROR_DATAERR);
	}
}

/* Headers only, no body at all: a mail with an empty body. */
static void
test_headers_only(void)
{
	g_autoptr(GMimeStream) s = stream_of("From: x@example.test\n"
					     "Subject: only headers\n", -1);
	g_autoptr(Message) m = parse_ok(s);

	g_assert_cmpstr(m->subject, ==, "only headers");
	g_assert_cmpstr(m->body, ==, "");
	g_assert_cmpuint(m->attachments->len, ==, 0);
	g_assert_null(m->message_id);
	g_assert_null(m->return_path);
}

/* Write LEN bytes of DATA into a new pipe; the read end is returned and
 * the writer runs in a thread (a pipe holds only 64 KiB). */
typedef struct {
	int fd;
	const char *data;
	gsize len;
} PipeWriter;

static gpointer
pipe_writer(gpointer user_data)
{
	PipeWriter *w = user_data;
	gsize done = 0;

	while (done < w->len) {
		ssize_t n = write(w->fd, w->data + done, w->len - done);

		if (n < 0 && errno == EINTR)
			continue;
		g_assert_cmpint(n, >, 0);
		done += (gsize) n;
	}
	close(w->fd);
	return NULL;
}

/* Past the maximum size: a data error, the pipe drained, the head kept
 * for the quarantine. */
static void
test_spool_too_big(void)
{
	const gsize len = 300 * 1024;
	g_autofree char *data = g_malloc(len);
	PipeWriter writer;
	GThread *thread;
	int fds[2];
	g_autoptr(GError) error = NULL;
	g_autoptr(GMimeStream) truncated = NULL;
	GMimeStream *stream;
	char head[16];

	memset(data, 'x', len);
	memcpy(data, "Subject: big\n\n", 14);
	g_assert_cmpint(pipe(fds), ==, 0);
	writer = (PipeWriter) { fds[1], data, len };
	thread = g_thread_new("writer", pipe_writer, &writer);
	stream = spool_read(fds[0], 100 * 1024, NULL, &truncated, &error);
	g_thread_join(thread);
	close(fds[0]);

	g_assert_null(stream);
	g_assert_error(error, M2T_ERROR, M2T_ERROR_DATAERR);
	g_assert_nonnull(truncated);
	g_assert_cmpint(g_mime_stream_length(truncated), ==, 100 * 1024);
	g_assert_cmpint(g_mime_stream_read(truncated, head, 14), ==, 14);
	g_assert_cmpmem(head, 14, "Subject: big\n\n", 14);
}

/* Within the limit: the whole input, seekable, at offset 0; and the
 * quarantine copy is identical and private. */
static void
test_spool_and_save(void)
{
	gsize len;
	g_autofree char *mail = read_data("demo-customer.eml", &len);
	g_autofree char *dir = g_dir_make_tmp("m2t-test-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "copy.eml", NULL);
	g_autofree char *copy = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GMimeStream) stream = NULL;
	g_autoptr(Message) m = NULL;
	PipeWriter writer;
	GThread *thread;
	GStatBuf st;
	gsize copy_len;
	int fds[2];

	g_assert_cmpint(pipe(fds), ==, 0);
	writer = (PipeWriter) { fds[1], mail, len };
	thread = g_thread_new("writer", pipe_writer, &writer);
	stream = spool_read(fds[0], len, dir, NULL, &error);
	g_thread_join(thread);
	close(fds[0]);
	g_assert_no_error(error);
	g_assert_cmpint(g_mime_stream_tell(stream), ==, 0);
	g_assert_cmpint(g_mime_stream_length(stream), ==, (gint64) len);

	/* Parse first: saving must not depend on the stream position. */
	m = parse_ok(stream);
	g_assert_true(spool_save(stream, path, &error));
	g_assert_no_error(error);
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	g_file_get_contents(path, &copy, &copy_len, &error);
	g_assert_no_error(error);
	g_assert_cmpmem(copy, copy_len, mail, len);

	/* The temporary spool file left no name behind. */
	g_assert_cmpint(g_unlink(path), ==, 0);
	g_assert_cmpint(g_rmdir(dir), ==, 0);
}

int
main(int argc, char **argv)
{
	int status;

	g_test_init(&argc, &argv, NULL);
	g_mime_init();

	for (gsize i = 0; i < G_N_ELEMENTS(mails); i++) {
		g_autofree char *path = g_strdup_printf("/message/mail/%s",
							mails[i].file);

		g_test_add_data_func(path, &mails[i], test_mail);
	}
	g_test_add_func("/message/threading", test_threading);
	g_test_add_func("/message/headers", test_headers);
	g_test_add_func("/message/header-raw-8bit", test_header_raw_8bit);
	g_test_add_func("/message/digest/deliveries", test_digest_deliveries);
	g_test_add_func("/message/digest/from-line", test_digest_from_line);
	g_test_add_func("/message/attachment-data", test_attachment_data);
	g_test_add_func("/message/attached-message-data",
			test_attached_message_data);
	g_test_add_func("/message/empty-attachment-data",
			test_empty_attachment_data);
	g_test_add_func("/message/fallback-option", test_fallback_option);
	g_test_add_func("/message/padded-words", test_padded_words);
	g_test_add_func("/message/split-words", test_split_words);
	g_test_add_func("/message/raw-name-charset-hint",
			test_raw_name_charset_hint);
	g_test_add_func("/message/junk-first-line", test_junk_first_line);
	g_test_add_func("/message/not-a-mail", test_not_a_mail);
	g_test_add_func("/message/headers-only", test_headers_only);
	g_test_add_func("/spool/too-big", test_spool_too_big);
	g_test_add_func("/spool/read-and-save", test_spool_and_save);

	status = g_test_run();
	g_mime_shutdown();
	return status;
}
