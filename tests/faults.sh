#!/bin/bash
# tests/faults.sh - issue 4's fault matrix.  A customer's mail with two
# attachments meets every fault the fake service can produce at every
# stage where it applies (getOSSTempAuthor, the first and the second
# upload, Add, QuestionList while a lost Add is looked up, and the reply
# handed to sendmail), then a kill -9 at every stage boundary.  Each case
# delivers the mail, lets it fail, delivers it again until it exits 0 and
# checks what a mail admin would: one ticket, one reply, and no upload
# repeated once the journal had recorded it.  Retries happen only in the
# mail server ([api] retry_budget = 0) except in the last part, which
# shows the retries inside one run.
set -u
. "$(dirname "$0")/lib/common.sh"

[ -x "$M2T" ] || tap_skip_all "no $M2T"
command -v "$PYTHON3" >/dev/null || tap_skip_all "python3 is missing"

work=$(mktemp -d /tmp/m2t-faults.XXXXXX)
background=
cleanup() {
	[ -n "$background" ] && kill -9 "$background" 2>/dev/null
	fake_stop
	[ -n "${KEEP:-}" ] || rm -rf "$work"	# KEEP=1: look at it after
}
trap cleanup EXIT
fake_start "$work" || tap_skip_all "the fake service did not start"
write_config "$work"
outbox="$work/outbox"
journal="$work/journal"

# Variants of the configuration: a short timeout for the slow faults,
# a retry budget for the retries inside one run.  The main one waits
# long, so that a delivery killed on a slow request is still waiting
# when the kill comes, however loaded the machine.
sed 's/^timeout = .*/timeout = 1/' "$work/mail2ticket.conf" \
	> "$work/short.conf"
sed -i 's/^timeout = .*/timeout = 20/' "$work/mail2ticket.conf"
sed 's/^retry_budget = .*/retry_budget = 10/' "$work/mail2ticket.conf" \
	> "$work/budget.conf"
chmod 600 "$work"/*.conf

# What the summary line counts.
cases=0
deliveries=0
tickets=0
replies=0

# ---- helpers ----------------------------------------------------------

# fake_set JSON, fake_reset, fake_json: change the fake's settings,
# make it forget everything (so that its state stays small), print its
# state; with curl when there is one, as fake_ctl is slower.
if command -v curl >/dev/null; then
	fake_set() {
		curl -sf -o /dev/null -d "$1" \
			"http://127.0.0.1:$FAKE_PORT/_control"
	}
	fake_reset() {
		curl -sf -o /dev/null -X POST \
			"http://127.0.0.1:$FAKE_PORT/_reset"
	}
	fake_json() { curl -sf "http://127.0.0.1:$FAKE_PORT/_state"; }
else
	fake_set() { fake_ctl "$work" set "$1" > /dev/null; }
	fake_reset() { fake_ctl "$work" reset > /dev/null; }
	fake_json() { fake_ctl "$work" state; }
fi

# fault TARGET MODE [KEY=JSON...]: one fault, as the fake takes it.
fault() {
	local target=$1 mode=$2 pair extra=
	shift 2
	for pair in "$@"; do
		extra="$extra, \"${pair%%=*}\": ${pair#*=}"
	done
	echo "{\"target\": \"$target\", \"mode\": \"$mode\"$extra}"
}

# set_faults FAULT...: the fake meets these faults, in this order.
set_faults() {
	fake_set "{\"faults\": [$(IFS=,; echo "$*")]}"
}

# Reads the fake's state on stdin and prints, for the mail whose journal
# entry is argv[2], what happened since argv[1] (Unix seconds):
#   tickets=N         tickets made
#   same=yes|no       the one ticket is the one the journal records, and
#                     it carries the recorded uploads in file order
#   files=A,B         successful uploads of the first and second file
#   left=N            faults not used up
#   gota= oss= add= ql=   requests of each kind
#   busy=N            requests the fake is still working on
cat > "$work/check.py" <<'EOF'
import collections, json, os, sys
s = json.load(sys.stdin)
since = float(sys.argv[1])
entry = {}
if len(sys.argv) > 2 and os.path.exists(sys.argv[2]):
    for line in open(sys.argv[2], encoding="utf-8"):
        key, eq, value = line.rstrip("\n").partition("=")
        if eq:
            entry[key] = value
made = [t for t in s["tickets"] if t["add_time_ms"] >= since * 1000]
requests = [r for r in s["requests"] if r["time"] >= since]
kinds = collections.Counter(r["action"] for r in requests)
per_name = collections.Counter()
for u in s["uploads"]:
    if u["time"] >= since:
        per_name[u["filename"]] += u["count"]
keys = [entry.get("upload.%d" % i) for i in range(2)]
names = [k.rsplit("/", 1)[-1] if k else "?" for k in keys]
same = (len(made) == 1 and made[0]["id"] == entry.get("ticket") and
        made[0]["params"].get("attachments") == ",".join(map(str, keys)))
busy = [r for r in s["requests"]
        if r["status"] is None and r["fault"] in (None, "slow")]
print("tickets=%d same=%s files=%s left=%d gota=%d oss=%d add=%d ql=%d "
      "busy=%d" % (len(made), "yes" if same else "no",
                   ",".join(str(per_name[n]) for n in names),
                   len(s["settings"]["faults"]) +
                   (1 if s["settings"]["fail_every"] else 0),
                   kinds["getOSSTempAuthor"], kinds["oss"], kinds["Add"],
                   kinds["QuestionList"], len(busy)))
EOF

# facts SINCE [ID]: check.py's line for mail ID.
facts() {
	fake_json | "$PYTHON3" "$work/check.py" "$1" "$(entry_of "${2:-}")"
}

# fact NAME LINE: the value of NAME=... in LINE.
fact() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# entry_of ID: the journal entry of mail ID (may not exist yet).
entry_of() {
	local f
	for f in "$journal"/*.entry; do
		if grep -qx "key=message-id:$1@customer.test" "$f" 2>/dev/null
		then
			echo "$f"
			return
		fi
	done
	echo "$journal/none"
}

# stage_of ID: the stage the journal records for mail ID, or "none".
stage_of() {
	local f
	f=$(entry_of "$1")
	sed -n 's/^stage=//p' "$f" 2>/dev/null | grep . || echo none
}

# replies_to ID: how many replies to mail ID sendmail was given.
replies_to() {
	grep -l -s "^In-Reply-To: <$1@customer.test>" "$outbox"/reply-*.eml |
		wc -l
}

# replied ID: sendmail was given a reply to mail ID.
replied() {
	[ "$(replies_to "$1")" -ge 1 ]
}

# new_mail ID: the demo mail (two attachments) with Message-ID <ID@...>.
new_mail() {
	sed "s/^Message-ID: .*/Message-ID: <$1@customer.test>/" \
		"$DATA/demo-customer.eml" > "$work/$1.eml"
}

# deliver ID [CONF]: one delivery of mail ID, as Postfix's pipe would;
# sets status; the log lines go to $work/ID.log.
deliver() {
	"$M2T" --config="${2:-$work/mail2ticket.conf}" --verbose \
		--sender=zhang.wei@customer.test support@support.test \
		< "$work/$1.eml" > /dev/null 2>> "$work/$1.log"
	status=$?
	deliveries=$((deliveries + 1))
}

# redeliver ID: deliver ID again until it exits 0, the way the mail
# server's queue would (at most 5 times); sets status and tries.
redeliver() {
	tries=0
	while [ "$tries" -lt 5 ]; do
		tries=$((tries + 1))
		deliver "$1"
		[ "$status" -eq 0 ] && return
	done
}

# wait_until COMMAND...: wait up to 10 s for COMMAND to succeed.
wait_until() {
	local i
	for i in $(seq 200); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

# fake_idle: the fake finished every request it was given.
fake_idle() {
	[ "$(fact busy "$(facts 0)")" = 0 ]
}

# end_state NAME ID LINE FILES: LINE (from facts) shows one ticket for
# mail ID with the recorded uploads, and FILES successful uploads of
# each file (e.g. "1,1"; "2,1" when the fault hit the first upload after
# OSS stored it but before the journal recorded it); one reply was sent.
end_state() {
	local name=$1 id=$2 line=$3 want_files=$4
	local got
	got="$(fact tickets "$line")/$(fact same "$line")/$(replies_to "$id")"
	tap_is "$got" "1/yes/1" \
		"$name: one ticket, the recorded one, one reply"
	tap_is "$(fact files "$line")" "$want_files" \
		"$name: no upload repeated once recorded ($want_files)"
	tally "$id" "$line"
}

# tally ID LINE: add the tickets LINE (from facts) shows and the replies
# to mail ID to the summary.
tally() {
	tickets=$((tickets + $(fact tickets "$2")))
	replies=$((replies + $(replies_to "$1")))
}

# ---- the matrix -------------------------------------------------------

# put_fault STAGE MODE: make the fake meet MODE at STAGE (slow: 2 s).
put_fault() {
	local stage=$1 mode=$2
	case $stage in
	getOSSTempAuthor|Add)
		set_faults "$(fault "$stage" "$mode" delay=2)" ;;
	oss1)
		set_faults "$(fault oss "$mode" delay=2)" ;;
	oss2)
		# The third request is the second upload (getOSSTempAuthor,
		# first upload, second upload).
		fake_set "{\"fail_every\": 3, \"fail_mode\": \"$mode\",
			\"fail_delay\": 2}" ;;
	QuestionList)
		# A lost answer to Add first, so that the next run looks.
		set_faults "$(fault Add drop_after_create)" \
			"$(fault QuestionList "$mode" delay=2)" ;;
	esac
}

# first_status STAGE MODE: the exit status the first delivery must give.
first_status() {
	case $1/$2 in
	oss*/expired) echo 0 ;;		# renewed within the run
	Add/illegal_param) echo 65 ;;	# the mail's content is refused
	*) echo 75 ;;
	esac
}

# uploads_for STAGE MODE: successful uploads of each file at the end.
uploads_for() {
	case $1/$2 in
	oss1/slow|oss1/drop_after_create) echo 2,1 ;;
	oss2/slow|oss2/drop_after_create) echo 1,2 ;;
	*) echo 1,1 ;;
	esac
}

# matrix_case STAGE MODE: one cell of the matrix.
matrix_case() {
	local stage=$1 mode=$2 id="fault-$1-$2" since conf line want
	local name="$mode at $stage"

	cases=$((cases + 1))
	new_mail "$id"
	since=$(date +%s.%N)
	conf="$work/mail2ticket.conf"
	[ "$mode" = slow ] && conf="$work/short.conf"
	put_fault "$stage" "$mode"
	deliver "$id" "$conf"
	want=$(first_status "$stage" "$mode")
	tap_is "$status" "$want" "$name: the first delivery exits $want"
	[ "$stage" = oss2 ] && fake_set '{"fail_every": 0}'
	[ "$mode" = slow ] && wait_until fake_idle

	if [ "$want" = 65 ]; then
		line=$(facts "$since" "$id")
		tap_is "$(fact tickets "$line")/$(replies_to "$id")" "0/0" \
			"$name: no ticket, no reply"
		tally "$id" "$line"
		tap_is "$(grep -l -s "^message-id: $id@" \
			"$work"/quarantine/*.why | wc -l)" 1 \
			"$name: a copy is in the quarantine before the bounce"
		return
	fi
	if [ "$stage" = QuestionList ]; then
		deliver "$id" "$conf"
		[ "$mode" = slow ] && wait_until fake_idle
		tap_is "$status" 75 \
			"$name: the lookup that fails defers the mail"
		tap_like "$(cat "$work/$id.log")" \
			'cannot tell yet whether the earlier Add made' \
			"$name: ... and the log says why"
	fi
	[ "$status" -ne 0 ] && redeliver "$id"
	tap_is "$status" 0 "$name: a later delivery exits 0"
	line=$(facts "$since" "$id")
	tap_is "$(fact left "$line")" 0 "$name: the fault was met"
	case $stage/$mode in
	oss*/expired)
		tap_is "$(fact gota "$line")" 2 \
			"$name: the authorisation was renewed once" ;;
	QuestionList/*|Add/drop_after_create|Add/slow)
		tap_like "$(cat "$work/$id.log")" 'status=adopted' \
			"$name: the ticket the lost Add made is adopted" ;;
	Add/drop|Add/not_json)
		tap_like "$(cat "$work/$id.log")" \
			'the earlier Add made no ticket: creating it' \
			"$name: looked up, none found, created" ;;
	esac
	end_state "$name" "$id" "$line" "$(uploads_for "$stage" "$mode")"
}

modes="system_busy system_busy_alt illegal_auth illegal_param http500
	http503 throttling not_json slow drop drop_after_create"
for stage in getOSSTempAuthor oss1 oss2 Add QuestionList; do
	fake_reset
	for mode in $modes; do
		matrix_case "$stage" "$mode"
	done
	case $stage in
	oss*) matrix_case "$stage" expired ;;
	esac
done

# ILLEGAL_PARAM on a field from the configuration is the operator's.
id=fault-Add-illegal_param-config
cases=$((cases + 1))
new_mail "$id"
since=$(date +%s.%N)
set_faults "$(fault Add illegal_param param='"productId"')"
deliver "$id"
tap_is "$status" 75 "illegal_param on productId at Add: exits 75"
redeliver "$id"
tap_is "$status" 0 "... and a later delivery exits 0"
end_state "illegal_param on productId" "$id" "$(facts "$since" "$id")" 1,1

# sendmail deferring the reply: the retry sends only the reply.
id=fault-reply-75
cases=$((cases + 1))
new_mail "$id"
since=$(date +%s.%N)
echo 75 > "$outbox/status"
deliver "$id"
tap_is "$status" 75 "sendmail exiting 75: the delivery exits 75"
tap_is "$(stage_of "$id")" created "... with the ticket recorded"
rm -f "$outbox/status"
redeliver "$id"
tap_is "$status" 0 "... and a later delivery exits 0"
tap_like "$(cat "$work/$id.log")" 'status=replied' \
	"... sending only the reply"
end_state "sendmail exiting 75" "$id" "$(facts "$since" "$id")" 1,1

# sendmail refusing the reply for good: logged, the ticket stands.
id=fault-reply-69
cases=$((cases + 1))
new_mail "$id"
since=$(date +%s.%N)
echo 69 > "$outbox/status"
deliver "$id"
rm -f "$outbox/status"
line=$(facts "$since" "$id")
tap_is "$status/$(fact tickets "$line")/$(replies_to "$id")" "0/1/0" \
	"sendmail exiting 69: exit 0, one ticket, no reply"
tap_like "$(cat "$work/$id.log")" 'refused for good' "... logged"
tally "$id" "$line"

# ---- kill -9 at each stage boundary -----------------------------------

# start ID: deliver mail ID in the background; sets background.
start() {
	"$M2T" --config="$work/mail2ticket.conf" --verbose \
		--sender=zhang.wei@customer.test support@support.test \
		< "$work/$1.eml" > /dev/null 2>> "$work/$1.log" &
	background=$!
	deliveries=$((deliveries + 1))
}

# crash: kill -9 the background delivery.
crash() {
	kill -9 "$background"
	wait "$background" 2>/dev/null
	background=
}

# fake_got KIND N: the fake has received N requests of KIND since $since.
fake_got() {
	[ "$(fact "$1" "$(facts "$since")")" -ge "$2" ]
}

# at_stage ID STAGE: the journal of mail ID records STAGE.
at_stage() {
	[ "$(stage_of "$1")" = "$2" ]
}

# kill_case NAME ID FILES WHEN...: kill -9 the delivery of mail ID once
# WHEN... holds, then redeliver and check the end state.
kill_case() {
	local name=$1 id=$2 files=$3
	shift 3
	if ! wait_until "$@"; then
		tap_ok 1 "$name: reached"
		echo "#   $(facts "$since" "$id") stage=$(stage_of "$id")"
	else
		tap_ok 0 "$name: reached"
	fi
	crash
	wait_until fake_idle
	redeliver "$id"
	tap_is "$status" 0 "$name: the next delivery exits 0"
	end_state "$name" "$id" "$(facts "$since" "$id")" "$files"
}

# The fake is slow (8 s: room for a loaded machine) on the request
# after the boundary, for the test to see the boundary and kill the
# delivery there.
fake_reset

# Killed while the first upload is on its way: OSS stores it, the
# journal never hears of it, so the next run uploads it again.
id=kill-upload1
cases=$((cases + 1))
new_mail "$id"
since=$(date +%s.%N)
set_faults "$(fault oss slow delay=8)"
start "$id"
kill_case "kill -9 during the first upload" "$id" 2,1 fake_got oss 1

# Killed after the first upload was recorded: it is not sent again.
id=kill-upload2
cases=$((cases + 1))
new_mail "$id"
since=$(date +%s.%N)
fake_set '{"fail_every": 3, "fail_mode": "slow", "fail_delay": 8}'
start "$id"
wait_until fake_got oss 2
fake_set '{"fail_every": 0}'
kill_case "kill -9 after the first upload is recorded" "$id" 1,2 \
	at_stage "$id" uploading

# Killed while Add is on its way (uploads recorded, Add sent): the
# ticket is made, and the next run must adopt it, not make another.
id=kill-add
cases=$((cases + 1))
new_mail "$id"
since=$(date +%s.%N)
set_faults "$(fault Add slow delay=8)"
start "$id"
wait_until fake_got add 1
kill_case "kill -9 while Add is on its way" "$id" 1,1 \
	at_stage "$id" submitting
tap_like "$(cat "$work/$id.log")" 'status=adopted' \
	"kill -9 while Add is on its way: the ticket is adopted"

# Killed while the lost Add is being looked up.
id=kill-lookup
cases=$((cases + 1))
new_mail "$id"
since=$(date +%s.%N)
set_faults "$(fault Add drop_after_create)" \
	"$(fault QuestionList slow delay=8)"
deliver "$id"
start "$id"
kill_case "kill -9 during the lookup" "$id" 1,1 fake_got ql 1
tap_like "$(cat "$work/$id.log")" 'status=adopted' \
	"kill -9 during the lookup: the ticket is adopted"

# child_of PID: a child process of PID, if there is one.
child_of() {
	local stat pid comm state ppid
	for stat in /proc/[0-9]*/stat; do
		read -r pid comm state ppid _ < "$stat" 2>/dev/null || continue
		if [ "$ppid" = "$1" ]; then
			echo "$pid"
			return
		fi
	done
}

# sendmail_busy: the background delivery has handed the whole reply to
# sendmail: a child of it runs, and it no longer holds the child's stdin.
sendmail_busy() {
	local child pipe
	child=$(child_of "$background")
	[ -n "$child" ] || return 1
	pipe=$(readlink "/proc/$child/fd/0") || return 1
	case $pipe in pipe:*) ;; *) return 1 ;; esac
	! ls -l "/proc/$background/fd" 2>/dev/null | grep -qF "$pipe"
}

# Killed while sendmail holds the reply: sendmail sends it anyway, and
# the next run must not send a second one.
id=kill-reply
cases=$((cases + 1))
new_mail "$id"
since=$(date +%s.%N)
echo 2 > "$outbox/delay"
start "$id"
tap_ok "$(wait_until sendmail_busy; echo $?)" \
	"kill -9 while sendmail holds the reply: reached"
crash
rm -f "$outbox/delay"
wait_until replied "$id"
redeliver "$id"
tap_is "$status" 0 \
	"kill -9 while sendmail holds the reply: the next delivery exits 0"
end_state "kill -9 while sendmail holds the reply" "$id" \
	"$(facts "$since" "$id")" 1,1
tap_like "$(cat "$work/$id.log")" 'not sending it again' \
	"kill -9 while sendmail holds the reply: the log says so"

# ---- the lookup that cannot decide -----------------------------------

# A lost Add whose lookup keeps failing: after the patience the journal
# allows (the first Add long ago), the ticket is made again, and the
# log says a duplicate is possible.
id=lookup-gives-up
cases=$((cases + 1))
new_mail "$id"
since=$(date +%s.%N)
set_faults "$(fault Add drop)" "$(fault QuestionList http503 count=-1)"
deliver "$id"
entry=$(entry_of "$id")
old=$(( ($(date +%s) - 2 * 3600) * 1000 ))
sed -i "s/^submitted=.*/submitted=$old/" "$entry"
deliver "$id"
fake_set '{"faults": []}'
tap_is "$status" 0 "a lookup that keeps failing: the ticket is made"
tap_like "$(cat "$work/$id.log")" 'duplicate is possible' \
	"... and the log says a duplicate is possible"
line=$(facts "$since" "$id")
tap_is "$(fact tickets "$line")/$(replies_to "$id")" "1/1" \
	"... one ticket (the first Add made none), one reply"
tally "$id" "$line"

# ---- retries inside one run -------------------------------------------

# Every second request fails: within the budget one run gets through.
id=retry-every-2
cases=$((cases + 1))
new_mail "$id"
since=$(date +%s.%N)
fake_set '{"fail_every": 2, "fail_mode": "http500"}'
deliver "$id" "$work/budget.conf"
fake_set '{"fail_every": 0}'
tap_is "$status" 0 "fail_every 2 with retry_budget 10: one run exits 0"
line=$(facts "$since" "$id")
tap_is "$(fact oss "$line")/$(fact add "$line")" "4/2" \
	"... the fake saw each failed upload and Add once more"
tap_is "$(fact tickets "$line")/$(replies_to "$id")" "1/1" \
	"... one ticket, one reply"
tally "$id" "$line"

# A lost Add inside one run is looked up before it is sent again.
id=retry-drop
cases=$((cases + 1))
new_mail "$id"
since=$(date +%s.%N)
set_faults "$(fault Add drop)"
deliver "$id" "$work/budget.conf"
line=$(facts "$since" "$id")
tap_is "$status/$(fact ql "$line")/$(fact add "$line")" "0/1/2" \
	"Add dropped, budget 10: looked up, sent again, exit 0"
tap_is "$(fact tickets "$line")/$(replies_to "$id")" "1/1" \
	"... one ticket, one reply"
tally "$id" "$line"

id=retry-drop-after-create
cases=$((cases + 1))
new_mail "$id"
since=$(date +%s.%N)
set_faults "$(fault Add drop_after_create)"
deliver "$id" "$work/budget.conf"
line=$(facts "$since" "$id")
tap_is "$status/$(fact ql "$line")/$(fact add "$line")" "0/1/1" \
	"Add's answer lost, budget 10: looked up in the run, exit 0"
tap_is "$(fact tickets "$line")/$(replies_to "$id")" "1/1" \
	"... the ticket adopted, one reply"
tally "$id" "$line"

# With no budget the same fault ends the run at once.
id=retry-none
cases=$((cases + 1))
new_mail "$id"
since=$(date +%s.%N)
set_faults "$(fault Add system_busy)"
deliver "$id"
line=$(facts "$since" "$id")
tap_is "$status/$(fact add "$line")" "75/1" \
	"SYSTEM_BUSY with retry_budget 0: exit 75 after one Add"
redeliver "$id"
end_state "SYSTEM_BUSY with retry_budget 0" "$id" \
	"$(facts "$since" "$id")" 1,1

# ---- nothing secret ---------------------------------------------------
tap_unlike "$(cat "$work"/*.log "$work"/quarantine/* 2>/dev/null)" \
	'fakesecret|Signature=' "no secret or signature in the logs"

echo "# fault matrix: $cases cases, $deliveries deliveries," \
	"$tickets tickets, $replies replies"
tap_done
