#!/bin/bash
# kinds.sh - the kinds of mail of issue 3, each a small mail of ours in
# tests/data/kinds, checked through `mail2ticket --dry-run`: the title,
# the content and the attachments a person would expect.

. "$(dirname "$0")/lib/common.sh"

dir=$(mktemp -d "${TMPDIR:-/tmp}/m2t-kinds.XXXXXX")
trap 'fake_stop; rm -rf "$dir"' EXIT
write_config "$dir"
K="$DATA/kinds"

# field MAIL EXPR: EXPR (Python, on the JSON object d; t is its ticket,
# a its attachments) for the dry run of MAIL (in tests/data/kinds, or
# ../NAME for tests/data), run in the C locale of a mail server.
field() {
	LC_ALL=C "$M2T" --config="${CONF:-$dir/mail2ticket.conf}" \
		--dry-run support@support.test < "$K/$1" 2>/dev/null |
	"$PYTHON3" -c '
import json, sys
d = json.loads(sys.stdin.readline())
t, a = d["ticket"], d["attachments"]
print(eval(sys.argv[1]))' "$2"
}

tap_is "$(field gb2312-holds-gbk.eml 't["title"]')" "朱镕基" \
	"gb2312 label holding GBK: title"
tap_is "$(field gb2312-holds-gbk.eml 't["content"]')" "朱镕基的邮件" \
	"gb2312 label holding GBK: content"
tap_is "$(field iso2022jp-no-charset.eml 't["content"]')" "こんにちは" \
	"ISO-2022-JP without charset"
tap_is "$(field raw-sjis-subject.eml 't["title"]')" "ツール" \
	"raw Shift_JIS subject in a Japanese mail"
tap_is "$(field uuencode.eml 't["title"]')" "report" \
	"stacked reply prefixes stripped"
tap_is "$(field uuencode.eml '[(x["name"], x["size"]) for x in a]')" \
	"[('report.txt', 12)]" "uuencoded block becomes an attachment"
tap_unlike "$(field uuencode.eml 't["content"]')" "begin 644" \
	"uuencoded block leaves the text"
tap_is "$(field forwarded-inline.eml 't["title"]')" "服务器无法登录" \
	"Fwd: stripped from an encoded subject"
tap_like "$(field forwarded-inline.eml 't["content"].replace("\n", " ")')" \
	"From: Ops <ops@customer.test>.*Subject: Server down.*The server is down" \
	"forwarded message unwrapped under a header block"
tap_is "$(field forwarded-inline.eml '[x["name"] for x in a]')" \
	"['log.txt', 'Old report.eml']" \
	"forwarded files are attachments; a message meant as a file is SUBJECT.eml"
tap_is "$(field attached-message-crlf.eml '[(x["name"], x["size"]) for x in a]')" \
	"[('Disk full on db-prod-3, please check the backup job.eml', 482)]" \
	"an attached message: its subject on one line as name, its size as in the mail"
tap_is "$(field 8bit-content-type.eml '[(x["name"], x["content_type"]) for x in a]')" \
	"[('shot.png', 'application/octet-stream')]" \
	"a Content-Type with 8-bit bytes becomes application/octet-stream"
tap_is "$(field blank-name.eml '[x["name"] for x in a]')" "['image.png']" \
	"a file name of blanks and controls only: a name made from the type"
tap_is "$(field nul-byte.eml 't["content"]')" "First line.

Second paragraph." "a NUL byte in a text without charset does not end the text"
tap_like "$(field deep-nesting.eml 't["content"]')" "nested too deep" \
	"parts nested past the parser's limit are said to be left out"
tap_is "$(field inline-logo-screenshot.eml '[(x["size"], x["upload"]) for x in a]')" \
	"[(2000, False), (20000, True)]" \
	"small inline logo not uploaded, pasted screenshot uploaded"
# --- charsets ---------------------------------------------------------
tap_is "$(field gb2312-holds-gb18030.eml 't["title"]')" "𠮷田的订单" \
	"gb2312 label holding GB18030 four-byte characters: title"
tap_is "$(field gb2312-holds-gb18030.eml 't["content"]')" \
	"客户：𠮷田，联系人：王㛃。" \
	"gb2312 label holding GB18030 four-byte characters: content"
tap_is "$(field big5.eml 't["title"] + "|" + t["content"]')" \
	"伺服器無法連線|您好，我們的伺服器從昨天開始無法連線。" "Big5"
tap_is "$(field euc-kr.eml 't["title"] + "|" + t["content"]')" \
	"서버 접속 불가|안녕하세요. 서버에 접속할 수 없습니다." "EUC-KR"
tap_is "$(field koi8-r.eml 't["title"] + "|" + t["content"]')" \
	"Сервер не отвечает|Здравствуйте! Сервер не отвечает с утра." \
	"KOI8-R"
tap_is "$(field windows-1251.eml 't["title"] + "|" + t["content"]')" \
	"Ошибка оплаты|Счёт № 42 оплачен дважды — прошу вернуть деньги." \
	"windows-1251 (Russian)"
tap_is "$(field windows-1250.eml 't["title"] + "|" + t["content"]')" \
	"Błąd logowania|Zażółć gęślą jaźń: serwer nie działa." \
	"windows-1250 (Polish, quoted-printable)"
tap_is "$(field windows-1252.eml 't["title"] + "|" + t["content"]')" \
	"Facture € – “urgent”|Le montant de 120 € est “incorrect” – merci." \
	"windows-1252: euro sign, dashes and quotes"
tap_is "$(field utf-7.eml 't["title"] + "|" + t["content"]')" \
	"价格 €|价格是 5 €，对吗？" "UTF-7"
tap_is "$(field invalid-bytes.eml 't["content"]')" \
	"안녕하세요 �� 감사합니다

Grüße aus München: die Rechnung �� ist falsch." \
	"invalid bytes become U+FFFD, the rest of the text stays"
tap_is "$(field invalid-bytes.eml '[(x["name"], x["size"]) for x in a]')" \
	"[('log.txt', 6)]" "... and the mail's attachment is still there"

# --- headers ----------------------------------------------------------
tap_is "$(field split-utf8-word.eml 't["title"]')" "数据库备份失败" \
	"encoded words split inside a UTF-8 character"
tap_is "$(field mixed-charset-subject.eml 't["title"]')" \
	"服务器 Café down" "a subject of a GB2312 and a Latin-1 word"
tap_is "$(field ../no-subject.eml 't["title"]')" "Forgot the subject, \
sorry. The VPN gateway vpn-01 rejects new clients." \
	"no subject: the title is the first line of the body"
tap_is "$(field ../no-subject.eml 'd["message_id"]')" \
	"first-id@example.test" "two Message-IDs: the first one is used"
tap_is "$(field no-message-id.eml 'd["message_id"]')" "None" \
	"no Message-ID: message_id is null"
tap_is "$(field bare-lf.eml 't["content"]')" "first line
second line
third line

last line" "CRLF and bare LF line ends mixed: LF only, no line lost"
tap_is "$(field ../mbox-from.eml 't["title"]')" \
	"Load balancer health checks flapping" "a leading mbox From line"
tap_like "$(field ../mbox-from.eml 't["content"].split("\n")[0]')" "^Hi,$" \
	"... is not part of the text"

# --- bodies -----------------------------------------------------------
out=$(field ../outlook-html.eml 't["content"]')
tap_like "$out" "^Dear support team,

our nightly snapshot policy" "Outlook HTML only: the text"
tap_unlike "$out" "mso|MsoNormal|o:p|<!|endif|font-family|&nbsp;" \
	"... without conditional comments, Word styles or <o:p>"
tap_is "$(field ../blank-plain-alt.eml 't["content"]')" \
	"Please create a RAM user for Ana Costa (starting 1 July).

Groups: developers, readonly" "an empty text part beside HTML: the HTML"
tap_like "$(field ../html-single.eml 't["content"]')" \
	"^New request from the contact form" \
	"a single text/html part is the body"
tap_is "$(field ../html-single.eml 'len(a)')" "0" "... not an attachment"
tap_is "$(field alt-disagree.eml 't["content"]')" \
	"Please reset the password of user alice." \
	"text and HTML that disagree: the text"
tap_is "$(field forwarded-only.eml 't["content"]')" \
	"---------- Forwarded message ----------
From: Monitor <monitor@customer.test>
Date: Wed, 8 May 2024 03:10:00 +0800
Subject: Disk alarm on db-02

Disk /data on db-02 is 97% full." \
	"only a forwarded message: its text under a header block"
tap_is "$(field forwarded-only.eml 'len(a)')" "0" "... and no attachment"

# --- attachments ------------------------------------------------------
tap_is "$(field rfc2231-names.eml '[x["name"] for x in a]')" \
	"['服务器配置清单（第二版）.xlsx', '运维日志.txt']" \
	"RFC 2231 continuations with a language; RFC 2047 in a quoted name"
tap_is "$(field raw-8bit-names.eml '[(x["name"], x["size"]) for x in a]')" \
	"[('检测报告.pdf', 9), ('𠮷田日志.txt', 3)]" \
	"raw 8-bit UTF-8 and GB18030 file names in the C locale"
tap_is "$(field no-name.eml '[x["name"] for x in a]')" \
	"['attachment.pdf', 'image.png']" "no file name: one made from the type"
tap_is "$(field ../empty-attachment.eml \
	'[(x["name"], x["upload"]) for x in a]')" \
	"[('error.log', False), ('image.jpg', True)]" \
	"a zero-byte part is not uploaded"
tap_like "$(field ../empty-attachment.eml 't["content"]')" \
	"not on this ticket:
- error.log \(0 bytes\): it is empty$" "... and the content says so"
tap_is "$(field unsafe-names.eml 't["content"].split("\n")[-1]')" \
	"- logs/2024/bad tab line bell.txt (0 bytes): it is empty" \
	"control characters in a file name do not break the content"
tap_is "$(field ../signed.eml 'len(a)')" "0" "S/MIME signature: no attachment"
tap_is "$(field smime-in-mixed.eml '[x["name"] for x in a]')" \
	"['request.csr']" "S/MIME signed part inside a mixed one: no smime.p7s"
tap_is "$(field pgp-signed.eml '[x["name"] for x in a]')" "['vpn.conf']" \
	"PGP signature: no signature.asc"

# winmail.dat, made by tests/make-tnef.py, needs libytnef.
if grep -q '^#define HAVE_YTNEF 1' "$top_builddir/autoconfig.h"; then
	tap_is "$(field winmail.eml 't["content"]')" \
		"The backup server reboots every night at 02:00.
The log is attached." "winmail.dat: its body is the content"
	tap_is "$(field winmail.eml '[(x["name"], x["size"]) for x in a]')" \
		"[('backup.log', 28)]" "... and its file the attachment"
else
	tap_ok 0 "winmail.dat: its body # SKIP built without libytnef"
	tap_ok 0 "winmail.dat: its file # SKIP built without libytnef"
fi

# --- the title --------------------------------------------------------
tap_is "$(field long-title.eml 't["title"]')" \
	"华东2（上海）地域的 云服务器 ECS 实例无法启动，请尽快处理" \
	"title: white space collapsed"
mkdir "$dir/short"
write_config "$dir/short" "[ticket]
title_max_length = 13"
tap_is "$(CONF=$dir/short/mail2ticket.conf field long-title.eml 't["title"]')" \
	"华东2（上海）地域的 云服" \
	"title: cut at title_max_length characters"

# --- a delivery: file names as uploaded, the key without Message-ID ---
if fake_start "$dir"; then
	write_config "$dir"
	LC_ALL=C "$M2T" --config="$dir/mail2ticket.conf" \
		--sender=zhou.jie@customer.test support@support.test \
		< "$K/unsafe-names.eml" 2>/dev/null
	names=$(fake_state "$dir" '"|".join(
		u["key"].split("/")[-1] for u in s["uploads"])')
	long=$(printf '很%.0s' $(seq 31))
	tap_is "$names" "C__Users_wang_.._report_final.pdf|$long.docx" \
		"unsafe and long file names made safe, cut, extension kept"
	tap_ok "$(fake_state "$dir" 'int(not all(
		len(u["key"].split("/")[-1].encode()) <= 100 and
		not any(c in u["key"].split("/")[-1] for c in "/\\\\,\t\n\x07")
		for u in s["uploads"]))')" \
		"... at most 100 bytes, no / \\ , or controls"
	for _ in 1 2; do
		LC_ALL=C "$M2T" --config="$dir/mail2ticket.conf" \
			--sender=tom@customer.test support@support.test \
			< "$K/no-message-id.eml" 2>/dev/null
	done
	tap_like "$(cat "$dir"/journal/*.entry)" "key=digest:[0-9a-f]{64}" \
		"no Message-ID: the journal key is the digest"
	tap_is "$(fake_state "$dir" 'len(s["tickets"])')" 2 \
		"... and the same mail again makes no second ticket"

	# The attached message as it stands in the mail, with LF line
	# ends; the line break before the boundary is the boundary's.
	LC_ALL=C "$M2T" --config="$dir/mail2ticket.conf" \
		--sender=li.na@customer.test support@support.test \
		< "$K/attached-message-crlf.eml" 2>/dev/null
	want=$("$PYTHON3" -c '
import hashlib, sys
raw = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n")
inner = raw.split(b"Content-Disposition: attachment\n\n", 1)[1]
inner = inner.split(b"\n--b1--", 1)[0]
print(len(inner), hashlib.md5(inner).hexdigest())' "$K/attached-message-crlf.eml")
	tap_is "$(fake_state "$dir" '"%d %s" % (s["uploads"][-1]["size"],
		s["uploads"][-1]["md5"])')" "$want" \
		"an attached message is uploaded as it stands in the mail, LF"
else
	tap_ok 1 "the fake service did not start"
fi
tap_done
