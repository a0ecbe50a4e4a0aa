#!/bin/bash
# kinds.sh - the kinds of mail of issue 3, each a small mail of ours in
# tests/data/kinds, checked through `mail2ticket --dry-run`: the title,
# the content and the attachments a person would expect.

. "$(dirname "$0")/lib/common.sh"

dir=$(mktemp -d "${TMPDIR:-/tmp}/m2t-kinds.XXXXXX")
trap 'rm -rf "$dir"' EXIT
write_config "$dir"
K="$DATA/kinds"

# field MAIL EXPR: EXPR (Python, on the JSON object d; t is its ticket,
# a its attachments) for the dry run of MAIL.
field() {
	"$M2T" --config="$dir/mail2ticket.conf" --dry-run \
		support@support.test < "$K/$1" 2>/dev/null |
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
tap_is "$(field inline-logo-screenshot.eml '[(x["size"], x["upload"]) for x in a]')" \
	"[(2000, False), (20000, True)]" \
	"small inline logo not uploaded, pasted screenshot uploaded"
tap_done
