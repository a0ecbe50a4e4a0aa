#!/bin/bash
# tests/cli.sh - the program as a mail server runs it, against the fake
# Alibaba Cloud service on loopback: modes, exit statuses, the ticket and
# the reply, automatic mail, loops, routing, quarantine, and that no
# secret reaches stderr or the log.
set -u
. "$(dirname "$0")/lib/common.sh"

[ -x "$M2T" ] || tap_skip_all "no $M2T"
command -v "$PYTHON3" >/dev/null || tap_skip_all "python3 is missing"

work=$(mktemp -d /tmp/m2t-cli.XXXXXX)
trap 'fake_stop; rm -rf "$work"' EXIT
fake_start "$work" || tap_skip_all "the fake service did not start"
write_config "$work"
# Everything the program writes to stderr, to look for secrets at the end.
all_err="$work/all-stderr"

# run ARGS... < MAIL: m2t_run, keeping stderr for the secret check.
run() {
	m2t_run "$work" --verbose "$@"
	printf '%s\n' "$M2T_ERR" >> "$all_err"
}

# py EXPR FILE: evaluate a Python expression on the JSON in FILE (j).
py() {
	"$PYTHON3" -c '
import json, sys
j = json.load(open(sys.argv[2]))
print(eval(sys.argv[1]))' "$1" "$2"
}

# mail NAME: write a mail from stdin to $work/NAME.eml.
mail() { cat > "$work/$1.eml"; }

tickets() { fake_state "$work" 'len(s["tickets"])'; }
replies() { count_files "$work/outbox" 'reply-*.eml'; }

mail plain <<'EOF'
From: Li Na <li.na@customer.test>
To: support@support.test
Subject: Cannot log in to the console
Message-ID: <plain-1@customer.test>
Date: Fri, 04 Dec 2026 10:00:00 +0800
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Since this morning the console says my password is wrong.
Please help.
EOF

# --- modes that do not read mail -------------------------------------
out=$("$M2T" --version)
tap_like "$out" '^mail2ticket [0-9]+\.[0-9]+' "--version prints the version"
out=$("$M2T" --help 2>&1)
tap_like "$out" '--dry-run' "--help lists --dry-run"

out=$("$M2T" --check-config --config="$work/mail2ticket.conf" 2>&1)
tap_is "$?" 0 "--check-config accepts a good file"
tap_like "$out" 'OK, 2 rules' "--check-config says OK and counts the rules"

printf '[api]\ntimeout = forever\n[rule:x]\nproduct_id = 1\n' \
	> "$work/bad.conf"
chmod 600 "$work/bad.conf"
out=$("$M2T" --check-config --config="$work/bad.conf" 2>&1)
tap_is "$?" 78 "--check-config exits 78 on a bad file"
tap_like "$out" 'bad.conf: \[api\] timeout: "forever"' \
	"--check-config names the file, group, key and value"
tap_like "$out" 'recipients is missing' "--check-config lists every problem"

sed 's/^access_key_secret = /access_key_secret: /' "$work/mail2ticket.conf" \
	> "$work/typo.conf"
chmod 600 "$work/typo.conf"
out=$("$M2T" --check-config --config="$work/typo.conf" 2>&1)
tap_like "$out" 'typo.conf: line [0-9]+ is not "key = value"' \
	"a line without = is named by its number"
tap_unlike "$out" 'fakesecret' "... never by its text, which may hold a secret"

cp "$work/mail2ticket.conf" "$work/open.conf"
chmod 644 "$work/open.conf"
out=$("$M2T" --check-config --config="$work/open.conf" 2>&1)
tap_is "$?" 78 "a secret in a file others can read is refused"
tap_like "$out" 'readable by group or others' "... and the message says so"
tap_unlike "$out" 'fakesecret' "... without showing the secret"

out=$("$M2T" --config="$work/mail2ticket.conf" \
	--test-rules=Support+Billing@Support.TEST)
tap_like "$out" 'rule support, productId 12, aliUid 1234567890123456' \
	"--test-rules shows the rule, product and owner"
"$M2T" --config="$work/mail2ticket.conf" --test-rules=x@else.test \
	>/dev/null
tap_is "$?" 69 "--test-rules exits 69 when no rule matches"

# --- dry run ---------------------------------------------------------
run --dry-run --sender=li.na@customer.test support@support.test \
	< "$work/plain.eml"
printf '%s' "$M2T_OUT" > "$work/dry.json"
tap_is "$M2T_STATUS" 0 "--dry-run exits 0"
tap_is "$(py '(j["action"], j["rule"], j["ticket"]["productId"])' \
	"$work/dry.json")" "('create', 'support', 12)" \
	"--dry-run shows action, rule and product"
tap_is "$(py 'j["ticket"]["title"]' "$work/dry.json")" \
	"Cannot log in to the console" "--dry-run shows the title"
tap_is "$(py 'j["reply"]["to"]' "$work/dry.json")" "li.na@customer.test" \
	"--dry-run shows who gets the reply"
tap_is "$(fake_state "$work" 'len(s["requests"])')" 0 \
	"--dry-run makes no request"

# --- the main job on the demo mail ----------------------------------
demo="$DATA/demo-customer.eml"
subject=$("$PYTHON3" -c '
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"),
                                   policy=email.policy.default)
print(" ".join(str(m["Subject"]).split()))' "$demo")
msgid=$(grep -i -m1 '^Message-ID:' "$demo" | sed 's/^[^<]*<//; s/>.*//')
run --sender=zhang.wei@customer.test support@support.test < "$demo"
tap_is "$M2T_STATUS" 0 "a customer's mail exits 0"
tap_is "$(tickets)" 1 "... and makes one ticket"
fake_ctl "$work" state > "$work/state.json"
tap_is "$(py 'j["tickets"][0]["params"]["title"]' "$work/state.json")" \
	"$subject" "... titled with the decoded subject"
tap_is "$(py 'j["tickets"][0]["params"]["productId"]' "$work/state.json")" \
	12 "... for the rule's product"
tap_is "$(py 'len(j["uploads"])' "$work/state.json")" 2 \
	"... with both attachments uploaded"
tap_is "$(py '",".join(u["key"] for u in j["uploads"])' "$work/state.json")" \
	"$(py 'j["tickets"][0]["params"]["attachments"]' "$work/state.json")" \
	"... and passed to Add by their keys"
ticket=$(py 'j["tickets"][0]["id"]' "$work/state.json")
tap_like "$M2T_ERR" "status=created" "the log line says created"
tap_like "$M2T_ERR" "ticket=$ticket" "... and names the ticket"
tap_is "$(replies)" 1 "one reply is sent"
reply=$(ls "$work"/outbox/reply-*.eml | head -1)
tap_like "$(grep -i '^Subject:' "$reply")" '.' "the reply has a subject"
tap_like "$(cat "$reply")" "$ticket" "the reply carries the ticket ID"
tap_like "$(cat "$reply")" "In-Reply-To: <$msgid>" \
	"the reply is In-Reply-To the customer's mail"
tap_like "$(cat "$reply")" 'Auto-Submitted: auto-replied' \
	"the reply says Auto-Submitted: auto-replied"
tap_is "$(tr '\n' ' ' < "${reply%.eml}.args")" \
	"-i -f <> -- zhang.wei@customer.test " \
	"sendmail gets a null envelope sender and the customer's address"

run --sender=zhang.wei@customer.test support@support.test < "$demo"
tap_is "$M2T_STATUS" 0 "the same mail again exits 0"
tap_is "$(tickets)/$(replies)" "1/1" "... with no second ticket or reply"
tap_like "$M2T_ERR" "status=duplicate" "... logged as a duplicate"

# Another mail that reuses the Message-ID is not taken for a redelivery.
sed 's/^Subject: .*/Subject: =?utf-8?B?5Y+m5LiA5Liq6Zeu6aKY?=/' "$demo" \
	> "$work/same-id.eml"
run --sender=zhang.wei@customer.test support@support.test \
	< "$work/same-id.eml"
tap_is "$M2T_STATUS/$(tickets)/$(replies)" "0/2/2" \
	"another mail with the same Message-ID gets its own ticket and reply"
tap_like "$M2T_ERR" "used by another mail" "... and the log says why"
run --sender=zhang.wei@customer.test support@support.test \
	< "$work/same-id.eml"
tap_is "$(tickets)/$(replies)" "2/2" "... and it too is made only once"

# --- automatic mail: a ticket, no reply ------------------------------
for kind in auto list bulk null; do
	sed "s/plain-1@/$kind-1@/" "$work/plain.eml" > "$work/$kind.eml"
done
sed -i '1i Auto-Submitted: auto-replied' "$work/auto.eml"
sed -i '1i List-Id: <customers.lists.customer.test>' "$work/list.eml"
sed -i '1i Precedence: bulk' "$work/bulk.eml"
before=$(replies)
for kind in auto list bulk; do
	run --sender=li.na@customer.test support@support.test \
		< "$work/$kind.eml"
	tap_is "$M2T_STATUS" 0 "$kind mail exits 0"
done
run --sender= support@support.test < "$work/null.eml"
tap_is "$M2T_STATUS" 0 "mail from the null sender exits 0"
tap_is "$(tickets)" 6 "automatic mail still becomes tickets"
tap_is "$(replies)" "$before" "... but gets no reply"
tap_like "$M2T_ERR" 'reason="no reply: null envelope sender"' \
	"the log line says why there was no reply"

# --- our own reply coming back is discarded --------------------------
sed 's/plain-1@/loop-1@/' "$work/plain.eml" |
	sed '1i X-Loop: support@support.test' > "$work/loop.eml"
run --sender=li.na@customer.test support@support.test < "$work/loop.eml"
tap_is "$M2T_STATUS" 0 "our own reply coming back exits 0"
tap_is "$(tickets)" 6 "... and makes no ticket"
tap_like "$M2T_ERR" 'status=discarded' "... logged as discarded"

# --- routing from the headers ---------------------------------------
sed 's/plain-1@/billing-1@/; s/^To: .*/To: Billing <billing@support.test>/' \
	"$work/plain.eml" > "$work/billing.eml"
run --sender=li.na@customer.test < "$work/billing.eml"
tap_is "$M2T_STATUS" 0 "without a recipient argument, To: routes the mail"
tap_is "$(fake_state "$work" 's["tickets"][-1]["params"].get("customerCommonQuestionId")')" \
	77 "... to the billing rule's common question"

# --- mail that bounces is kept first --------------------------------
sed 's/plain-1@/norule-1@/' "$work/plain.eml" > "$work/norule.eml"
run --sender=li.na@customer.test nobody@else.test < "$work/norule.eml"
tap_is "$M2T_STATUS" 69 "no rule for the recipient exits 69"
tap_is "$(printf '%s\n' "$M2T_ERR" | grep -c '^mail2ticket: no rule')" 1 \
	"... with one plain line on stderr"
tap_is "$(count_files "$work/quarantine" '*.eml')" 1 \
	"... after keeping a copy in the quarantine"
tap_like "$(cat "$work"/quarantine/*.why)" 'reason: no rule for recipient' \
	"... with a note of why"

sed "s|^dir = $work/quarantine|dir = /proc/no-quarantine|" \
	"$work/mail2ticket.conf" > "$work/noq.conf"
chmod 600 "$work/noq.conf"
"$M2T" --config="$work/noq.conf" --sender=li.na@customer.test \
	nobody@else.test < "$work/norule.eml" >/dev/null 2>"$work/stderr"
tap_is "$?" 75 "a mail that would bounce but cannot be kept is deferred"
tap_like "$(cat "$work/stderr")" '^mail2ticket: deferred, the quarantine cannot keep a copy' \
	"... and stderr says why it was deferred"

printf 'From: a@customer.test\nTo: support@support.test\n\n\n' \
	> "$work/empty.eml"
run support@support.test < "$work/empty.eml"
tap_is "$M2T_STATUS" 65 "a mail with nothing in it exits 65"

# --- failures that a retry may cure keep the mail -------------------
n=0
for mode in system_busy system_busy_alt http500 throttling illegal_auth \
	    not_json; do
	n=$((n + 1))
	sed "s/plain-1@/fail-$n@/" "$work/plain.eml" > "$work/fail.eml"
	fake_ctl "$work" set "{\"faults\": [{\"target\": \"Add\", \"mode\": \"$mode\"}]}" >/dev/null
	run --sender=li.na@customer.test support@support.test \
		< "$work/fail.eml"
	tap_is "$M2T_STATUS" 75 "$mode from Add exits 75"
	run --sender=li.na@customer.test support@support.test \
		< "$work/fail.eml"
	tap_is "$M2T_STATUS" 0 "... and the retry makes the ticket"
done
tap_is "$(tickets)" 13 "each failed mail became exactly one ticket"

fake_stop
sed 's/plain-1@/down-1@/' "$work/plain.eml" > "$work/down.eml"
run --sender=li.na@customer.test support@support.test < "$work/down.eml"
tap_is "$M2T_STATUS" 75 "a service that does not answer: exit 75"
tap_like "$M2T_ERR" 'cannot connect' "... saying it cannot connect"
fake_start "$work" --port "$FAKE_PORT"
run --sender=li.na@customer.test support@support.test < "$work/down.eml"
tap_is "$M2T_STATUS" 0 "... and the mail goes through once it is back"

# (Not through run: a command substitution would give fd 0 a pipe.)
"$M2T" --config="$work/mail2ticket.conf" support@support.test <&- \
	>/dev/null 2>"$work/stderr"
tap_is "$?" 75 "a closed standard input exits 75, nothing read"

mv "$work/mail2ticket.conf" "$work/moved.conf"
run support@support.test < "$work/plain.eml"
tap_is "$M2T_STATUS" 75 "a missing configuration file exits 75"
mv "$work/moved.conf" "$work/mail2ticket.conf"

# --- nothing secret, anywhere ----------------------------------------
tap_unlike "$(cat "$all_err" "$work"/quarantine/* "$work"/outbox/* \
	2>/dev/null)" 'fakesecret|Signature=' \
	"no secret or signature in stderr, the log, the quarantine or replies"

tap_done
