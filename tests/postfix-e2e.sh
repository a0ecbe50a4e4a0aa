#!/bin/bash
# tests/postfix-e2e.sh - mail2ticket behind a real Postfix.
#
# A private Postfix instance (tests/lib/postfix.sh) takes mail by SMTP on
# 127.0.0.1 and delivers support.test through the pipe service of
# filters/postfix/master.cf to the real program, which talks to the fake
# Alibaba Cloud service on loopback and sends its reply back through the
# same Postfix to the customer's sink mailbox.  Checked: the demo mail
# becomes one ticket and one reply; a busy, broken, misconfigured or
# absent service keeps each mail deferred in the queue (never bounced)
# until it is mended, then the mail becomes exactly one ticket and one
# reply; no secret reaches the Postfix log, the mailboxes or this
# script's output; the pipe user owns the configuration and journal.
#
# Needs root and Postfix; otherwise prints "1..0 # SKIP reason".
set -u
. "$(dirname "$0")/lib/common.sh"
. "$top_srcdir/tests/lib/postfix.sh"

pf_require_m2t

work=$(mktemp -d /tmp/m2t-pf-e2e.XXXXXX) || exit 1
fake=$work/fake
m2t=$work/m2t
mkdir "$fake" "$m2t"
trap 'fake_stop; pf_cleanup; [ "${PF_KEEP:-0}" = 1 ] || rm -rf "$work"' EXIT
trap 'exit 130' INT TERM HUP
# A copy of everything this script prints, searched for secrets at the
# end.
exec > >(tee "$work/tap.out")
start=$SECONDS

# header FILE NAME: the decoded, unfolded header NAME of the mail FILE.
header() {
	"$PYTHON3" -c '
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"),
                                   policy=email.policy.default)
v = m[sys.argv[2]]
print(" ".join(str(v).split()) if v is not None else "")' "$1" "$2"
}

# tickets_titled TITLE: how many tickets the fake holds with that title.
tickets_titled() {
	fake_ctl "$fake" state | "$PYTHON3" -c '
import json, sys
s = json.load(sys.stdin)
print(sum(1 for t in s["tickets"] if t["params"].get("title") == sys.argv[1]))
' "$1"
}

# replies_to MSGID: the sink's files answering the Message-ID MSGID.
replies_to() {
	grep -l -i -x -F "In-Reply-To: <$1>" "$PF_DIR/outbox"/*.eml \
		2>/dev/null
}

# defer_reasons: the delay reason of each deferred recipient, a line
# each.
defer_reasons() {
	postqueue -c "$PF_ETC" -j | "$PYTHON3" -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m["queue_name"] == "deferred":
        for r in m["recipients"]:
            print(r.get("delay_reason", ""))'
}

# queue_id MSGID: the Postfix queue ID of the mail with that Message-ID.
queue_id() {
	sed -n "s/.*: \([0-9A-F]*\): message-id=<$1>\$/\1/p" \
		"$PF_DIR/maillog" | head -n 1
}

# plain_reason REASON WORDS: REASON (from defer_reasons) is what pipe(8)
# says of an exit 75, with one line of output from mail2ticket that
# matches the ERE WORDS.  pipe(8) turns newlines and tabs into spaces
# (and other control characters into "_"), so a second line shows as a
# second "mail2ticket: ".
plain_reason() {
	local head="temporary failure. Command output: mail2ticket: "
	case $1 in
	"$head"*) ;;
	*) echo "#   not from mail2ticket's exit 75: '$1'"; return 1 ;;
	esac
	case ${1#"$head"} in
	*"mail2ticket: "* | *_\[*)
		echo "#   not one plain line: '$1'"; return 1 ;;
	esac
	printf '%s' "$1" | grep -Eiq -- "$2" ||
		{ echo "#   no '$2' in '$1'"; return 1; }
}

# bounces: mail from the mailer-daemon stored by the sink, and bounces
# in the log.
bounces() {
	grep -l -x 'From: MAILER-DAEMON.*' "$PF_DIR/outbox"/*.eml 2>/dev/null
	grep 'status=bounced' "$PF_DIR/maillog" 2>/dev/null
}

# --- the fake service, the configuration and the instance ----------
fake_start "$fake" || pf_bail "the fake service did not start"
PF_M2T_CMD="$M2T --config=$m2t/mail2ticket.conf"
pf_setup "$work/pf" 2>"$work/setup.err" ||
	pf_bail "pf_setup failed: $(tr '\n' ' ' <"$work/setup.err")"
write_config "$m2t"
sed -i "s|^sendmail = .*|sendmail = $PF_SENDMAIL|" "$m2t/mail2ticket.conf"
chown -R "$PF_USER:" "$m2t"
chmod 0700 "$m2t"
pf_start
tap_ok $? "a private Postfix on 127.0.0.1:$PF_PORT, pipe user $PF_USER"
[ "$tap_failed" = 0 ] || pf_bail "pf_start failed"

# --- the demo mail --------------------------------------------------
# As the customer's mail client sends it: without the headers the
# receiving server added (Postfix bounces a mail that already carries
# the Delivered-To it is about to add, as a loop).
awk 'body { print; next }
	/^$/ { body = 1; print; next }
	/^(Return-Path|Delivered-To|Received):/ { skip = 1; next }
	skip && /^[ \t]/ { next }
	{ skip = 0; print }' "$DATA/demo-customer.eml" >"$work/demo.eml"
chmod 0644 "$work/demo.eml"
subject=$(header "$work/demo.eml" Subject)
msgid=$(header "$work/demo.eml" Message-ID | tr -d '<>')

pf_send zhang.wei@customer.test support@support.test "$work/demo.eml"
tap_ok $? "the demo mail is accepted by SMTP for support@support.test"
pf_wait_empty 30 && pf_wait_outbox 1 10
tap_ok $? "... and leaves the queue, and a mail reaches the sink"

fake_ctl "$fake" state >"$work/state.json"
tap_is "$(fake_state "$fake" 'len(s["tickets"])')" 1 \
	"the demo mail made one ticket"
tap_is "$(fake_state "$fake" 's["tickets"][0]["params"]["title"]')" \
	"$subject" "... titled with its decoded subject"
tap_is "$(fake_state "$fake" 'len(s["uploads"])')" 2 \
	"... with its two attachments uploaded"
ticket=$(fake_state "$fake" 's["tickets"][0]["id"]')
tap_like "$(pf_log)" \
	'to=<support@support.test>, relay=mail2ticket, .*status=sent' \
	"Postfix logs the delivery through the mail2ticket pipe as sent"

reply=$(replies_to "$msgid")
tap_is "$(printf '%s\n' "$reply" | grep -c .)" 1 \
	"one reply answers the demo mail"
reply=$(printf '%s\n' "$reply" | head -n 1)
if [ -n "$reply" ]; then
	tap_is "$(head -n 2 "$reply" | tr '\n' ' ')" \
		"X-Sink-Sender: <> X-Sink-Recipient: <zhang.wei@customer.test> " \
		"... sent by Postfix to the customer with a null sender"
	tap_like "$(header "$reply" Subject)" "\[ticket $ticket\]" \
		"... its subject names the ticket ($ticket)"
	tap_is "$(header "$reply" Auto-Submitted)" "auto-replied" \
		"... it says Auto-Submitted: auto-replied"
else
	for what in sender subject auto-submitted; do
		tap_ok 1 "... reply $what (no reply)"
	done
fi

# --- a service that fails: deferred, then delivered once -------------
# fail MODE: make the service fail that way until mend MODE.
fail() {
	if [ "$1" = down ]; then
		fake_stop
	else
		fake_ctl "$fake" set "{\"faults\": [{\"target\": \"*\",
			\"mode\": \"$1\", \"count\": -1}]}" >/dev/null
	fi
}

# mend MODE: undo fail MODE (the fake comes back on the same port).
mend() {
	if [ "$1" = down ]; then
		fake_start "$fake" --port "$FAKE_PORT"
	else
		fake_ctl "$fake" set '{"faults": []}' >/dev/null
	fi
}

# What the defer reason must say, per failure.
declare -A says=(
	[system_busy]='busy'
	[http500]='500'
	[illegal_auth]='ILLEGAL_AUTH|credentials|auth'
	[not_json]='JSON'
	[down]='connect'
)

n=0
for mode in system_busy http500 illegal_auth not_json down; do
	n=$((n + 1))
	mail=$work/fault-$mode.eml
	id="pf-e2e-$n.$mode@customer.test"
	title="Invoice $n: the billing page fails ($mode)"
	printf '%s\n' "From: Li Na <li.na@customer.test>" \
		"To: support@support.test" "Subject: $title" \
		"Message-ID: <$id>" "Date: $(date -R)" "MIME-Version: 1.0" \
		"Content-Type: text/plain; charset=utf-8" "" \
		"The billing page shows an error since this morning." \
		"Case $n." >"$mail"
	chmod 0644 "$mail"
	outbox=$(pf_outbox_count)

	fail "$mode"
	pf_send li.na@customer.test support@support.test "$mail" &&
		pf_wait_deferred 1 20
	tap_ok $? "$mode: the mail stays in Postfix's queue, deferred"
	reasons=$(defer_reasons)
	tap_is "$(printf '%s\n' "$reasons" | grep -c .)" 1 \
		"$mode: one deferred recipient, one reason"
	plain_reason "$reasons" "${says[$mode]}"
	tap_ok $? "$mode: the reason is one plain line from mail2ticket"
	echo "#   reason: $reasons"
	qid=$(queue_id "$id")
	tap_like "$(grep -F "${qid:-none}: to=<support@support.test>," \
		"$PF_DIR/maillog" | grep relay=mail2ticket)" \
		'dsn=4\.3\.0, status=deferred \(temporary failure\.' \
		"$mode: Postfix logs it deferred as a temporary failure (exit 75)"
	tap_is "$(bounces | grep -c .)/$(pf_outbox_count)" "0/$outbox" \
		"$mode: nothing is bounced or sent to the customer"

	mend "$mode" || pf_bail "$mode: the fake did not come back"
	pf_flush && pf_wait_empty 30 && pf_wait_outbox $((outbox + 1)) 10
	tap_ok $? "$mode mended: after a flush the queue is empty"
	tap_is "$(tickets_titled "$title")" 1 \
		"$mode mended: exactly one ticket for the mail"
	tap_is "$(replies_to "$id" | grep -c .)" 1 \
		"$mode mended: exactly one reply to the customer"
done
tap_is "$(fake_state "$fake" 'len(s["tickets"])')" 6 \
	"six mails, six tickets in all"

# --- what stays behind ---------------------------------------------
tap_is "$(bounces | grep -c .)" 0 "no bounce at all"
tap_is "$(count_files "$m2t/quarantine" '*')" 0 "nothing quarantined"
tap_is "$(stat -c '%U %a' "$m2t/mail2ticket.conf")" "$PF_USER 600" \
	"the configuration file is the pipe user's, mode 600"
entries=$(find "$m2t/journal" -type f -name '*.entry' | wc -l)
others=$(find "$m2t/journal" -type f \( ! -user "$PF_USER" -o \
	! -perm 600 \) | wc -l)
tap_is "$entries/$others" "6/0" \
	"the journal: an entry per mail, every file the pipe user's, mode 600"
tap_is "$(stat -c '%U %a' "$m2t/journal")" "$PF_USER 700" \
	"... in a folder only the pipe user can open"

echo "# took $((SECONDS - start))s"
tap_unlike "$(cat "$PF_DIR/maillog" "$PF_DIR/outbox"/*.eml \
	"$fake/fake.log" "$work/tap.out" 2>/dev/null)" \
	'fakesecret|Signature=' \
	"no secret or signature in the Postfix log, the mailboxes or this output"
tap_done
