#!/bin/bash
# tests/concurrent.sh - deliveries that run at once, as Postfix runs
# several pipes: the same mail delivered by eight processes together
# makes one ticket and one reply; eight different mails with the same
# title make eight tickets, and a lost answer among them is looked up
# without taking another mail's ticket.
set -u
. "$(dirname "$0")/lib/common.sh"

[ -x "$M2T" ] || tap_skip_all "no $M2T"
command -v "$PYTHON3" >/dev/null || tap_skip_all "python3 is missing"

work=$(mktemp -d /tmp/m2t-concurrent.XXXXXX)
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill -9 "$pid" 2>/dev/null
	done
	fake_stop
	rm -rf "$work"
}
trap cleanup EXIT
fake_start "$work" || tap_skip_all "the fake service did not start"
write_config "$work" '
[journal]
lock_wait = 10'
sed 's/^lock_wait = .*/lock_wait = 1/' "$work/mail2ticket.conf" \
	> "$work/impatient.conf"
chmod 600 "$work/impatient.conf"
outbox="$work/outbox"

# fake_set JSON, fake_json: change the fake's settings, print its
# state; with curl when there is one, as fake_ctl is slower.
if command -v curl >/dev/null; then
	fake_set() {
		curl -sf -o /dev/null -d "$1" \
			"http://127.0.0.1:$FAKE_PORT/_control"
	}
	fake_json() { curl -sf "http://127.0.0.1:$FAKE_PORT/_state"; }
else
	fake_set() { fake_ctl "$work" set "$1" > /dev/null; }
	fake_json() { fake_ctl "$work" state; }
fi

# Reads the fake's state on stdin; argv: the outbox, then Message-ID
# local parts.  Prints, for those mails:
#   tickets=N   tickets in the fake (all of them)
#   adds=N      Add requests the fake received
#   replies=N   replies in the outbox to those mails
#   own=N       replies naming a ticket that holds that mail's text
#   distinct=N  different tickets the replies name
cat > "$work/check.py" <<'EOF'
import email, email.policy, glob, json, re, sys
s = json.load(sys.stdin)
outbox, ids = sys.argv[1], sys.argv[2:]
by_id = {t["id"]: t for t in s["tickets"]}
replies = own = 0
named = set()
for path in glob.glob(outbox + "/reply-*.eml"):
    with open(path, "rb") as handle:
        reply = email.message_from_binary_file(handle,
                                               policy=email.policy.default)
    mail = str(reply["In-Reply-To"] or "").strip("<> ").split("@")[0]
    if mail not in ids:
        continue
    replies += 1
    found = re.search(r"\[ticket (\S+)\]", str(reply["Subject"]))
    ticket = by_id.get(found.group(1)) if found else None
    if ticket is None:
        continue
    named.add(ticket["id"])
    if ("This is mail %s." % mail) in ticket["params"].get("content", ""):
        own += 1
print("tickets=%d adds=%d replies=%d own=%d distinct=%d"
      % (len(s["tickets"]), s["counts"]["Add"], replies, own, len(named)))
EOF

# facts ID...: check.py's line for the mails ID...
facts() {
	fake_json | "$PYTHON3" "$work/check.py" "$outbox" "$@"
}

# fact NAME LINE: the value of NAME=... in LINE.
fact() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# mail ID: a short mail with Message-ID <ID@customer.test>, saying
# "This is mail ID.", titled "Printer on fire" like every other.
mail() {
	cat > "$work/$1.eml" <<MAIL
From: Li Na <li.na@customer.test>
To: support@support.test
Subject: Printer on fire
Message-ID: <$1@customer.test>
Date: Fri, 04 Dec 2026 10:00:00 +0800
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

This is mail $1.
MAIL
}

# at_once CONF ID...: deliver each mail ID at the same moment, one
# process each (an ID given twice is delivered twice); sets statuses
# (the exit statuses, in order).
at_once() {
	local conf=$1 id i
	shift
	rm -f "$work/go"
	pids=()
	for id in "$@"; do
		(
			until [ -e "$work/go" ]; do sleep 0.01; done
			exec "$M2T" --config="$conf" --verbose \
				--sender=li.na@customer.test \
				support@support.test < "$work/$id.eml" \
				> /dev/null 2>> "$work/$id.log"
		) &
		pids+=($!)
	done
	touch "$work/go"
	statuses=
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}"
		statuses="$statuses $?"
	done
	pids=()
	statuses=${statuses# }
}

# deliver_once ID: one delivery of mail ID; sets status.
deliver_once() {
	"$M2T" --config="$work/mail2ticket.conf" --verbose \
		--sender=li.na@customer.test support@support.test \
		< "$work/$1.eml" > /dev/null 2>> "$work/$1.log"
	status=$?
}

# redeliver ID: deliver ID until it exits 0 (at most 5 times); status.
redeliver() {
	local n
	for n in 1 2 3 4 5; do
		deliver_once "$1"
		[ "$status" -eq 0 ] && return
	done
}

# count_in FILE PATTERN: lines of FILE matching PATTERN.
count_in() {
	grep -c -- "$2" "$1" 2>/dev/null || true
}

# ---- one mail, eight deliveries at once -------------------------------

# The fake is slow on Add so that the deliveries overlap: while the
# first makes the ticket, the other seven wait for its journal entry.
mail same
fake_set '{"faults": [{"target": "Add", "mode": "slow", "delay": 1}]}'
at_once "$work/mail2ticket.conf" same same same same same same same same
tap_is "$statuses" "0 0 0 0 0 0 0 0" \
	"one mail delivered by 8 processes at once: every one exits 0"
line=$(facts same)
tap_is "$(fact tickets "$line")/$(fact adds "$line")" "1/1" \
	"... one ticket, from one Add"
tap_is "$(fact replies "$line")/$(fact own "$line")" "1/1" \
	"... one reply, naming that ticket"
tap_is "$(count_in "$work/same.log" 'status=created')/$(count_in \
	"$work/same.log" 'status=duplicate')" "1/7" \
	"... logged once as created, 7 times as a duplicate"

# When the lock wait runs out, the delivery is deferred, and the mail
# server's retry finds the work done.
mail impatient
fake_set '{"faults": [{"target": "Add", "mode": "slow", "delay": 2}]}'
at_once "$work/impatient.conf" impatient impatient impatient impatient \
	impatient impatient impatient impatient
tap_like "$statuses" '^[0 ]*75[075 ]*$' \
	"lock_wait shorter than the first delivery: those waiting exit 75"
tap_is "$(count_in "$work/impatient.log" 'status=created')" 1 \
	"... and one makes the ticket"
tap_like "$(cat "$work/impatient.log")" \
	'another delivery of this mail is in progress' "... saying why"
deferred=0
for s in $statuses; do
	if [ "$s" -eq 75 ]; then
		deferred=$((deferred + 1))
		redeliver impatient
		[ "$status" -eq 0 ] || break
	fi
done
tap_is "$status" 0 "... the $deferred deferred deliveries later exit 0"
line=$(facts impatient)
tap_is "$(fact replies "$line")/$(fact own "$line")/$(fact distinct "$line")" \
	"1/1/1" "... with one ticket and one reply for the mail"
tap_is "$(fact tickets "$line")" 2 "... and no second ticket in the fake"

# ---- eight mails, one title, at once ---------------------------------

# The first Add to arrive makes its ticket but its answer is lost; the
# others are slow, so that all eight are on their way together.
ids="m1 m2 m3 m4 m5 m6 m7 m8"
for id in $ids; do
	mail "$id"
done
fake_set '{"faults": [{"target": "Add", "mode": "drop_after_create"},
	{"target": "Add", "mode": "slow", "delay": 0.5, "count": -1}]}'
at_once "$work/mail2ticket.conf" $ids
fake_set '{"faults": []}'
tap_is "$(printf '%s\n' $statuses | sort | uniq -c | tr -s ' \n' ' ')" \
	" 7 0 1 75 " \
	"8 mails with one title at once: 7 exit 0, the lost answer 75"
for id in $ids; do
	grep -q 'status=deferred' "$work/$id.log" && lost=$id
done
redeliver "$lost"
tap_is "$status" 0 "... its next delivery exits 0"
tap_like "$(cat "$work/$lost.log")" 'status=adopted' \
	"... adopting the ticket its Add made"
line=$(facts $ids)
tap_is "$(fact tickets "$line")" 10 "... 8 new tickets in the fake"
tap_is "$(fact replies "$line")/$(fact distinct "$line")" "8/8" \
	"... 8 replies, each naming a different ticket"
tap_is "$(fact own "$line")" 8 \
	"... each the ticket that holds that mail's text: none adopted wrongly"

# ---- lost answers of one title, looked up later -----------------------

# Two mails with the same title lose their Add's answer a second apart;
# the older is redelivered first and must take its own ticket, not the
# newer one.
mail old
mail new
fake_set '{"faults": [{"target": "Add", "mode": "drop_after_create",
	"count": 2}]}'
deliver_once old
first=$status
sleep 1
deliver_once new
tap_is "$first/$status/$(fact tickets "$(facts old new)")" "75/75/12" \
	"two lost answers a second apart, one title: two tickets made"
redeliver old
redeliver new
tap_like "$(cat "$work/old.log")" 'status=adopted' \
	"... the older mail, redelivered first, adopts a ticket"
tap_like "$(cat "$work/new.log")" 'status=adopted' \
	"... so does the newer one"
line=$(facts old new)
tap_is "$(fact own "$line")/$(fact distinct "$line")/$(fact tickets "$line")" \
	"2/2/12" "... each its own, and no ticket made twice"

tap_done
