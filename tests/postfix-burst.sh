#!/bin/bash
# tests/postfix-burst.sh - a burst of mail through Postfix and
# mail2ticket while the service fails one request in five (make
# check-burst; minutes, not seconds, so not part of make check).
#
# BURST_MAILS (default 500) distinct customer mails, one in five with a
# small attachment, are submitted by SMTP to a private Postfix instance
# (tests/lib/postfix.sh) that delivers them through the mail2ticket pipe
# of filters/postfix/master.cf, 10 deliveries at once.  The fake service
# fails a fifth of all requests at random (seeded): SYSTEM_BUSY, an
# answer lost after the ticket was made, or HTTP 500, the mode changing
# every 3 s (BURST_MODES, default "system_busy drop_after_create
# http500", lists the modes).  mail2ticket retries a little itself and
# leaves the rest to Postfix (exit 75).  At the end, within BURST_WAIT
# seconds (default 600): one ticket per mail and no duplicate, one reply
# per ticket delivered back through Postfix, an empty queue, no bounce.
#
# Needs root and Postfix; otherwise prints "1..0 # SKIP reason".
set -u
. "$(dirname "$0")/lib/common.sh"
. "$top_srcdir/tests/lib/postfix.sh"

mails=${BURST_MAILS:-500}
wait_max=${BURST_WAIT:-600}
modes=${BURST_MODES:-system_busy drop_after_create http500}
parallel=10

pf_require_m2t

work=$(mktemp -d /tmp/m2t-pf-burst.XXXXXX) || exit 1
fake=$work/fake
m2t=$work/m2t
rotor=
mkdir "$fake" "$m2t" "$work/mails"
trap '[ -n "$rotor" ] && kill "$rotor" 2>/dev/null; fake_stop; pf_cleanup
	[ "${PF_KEEP:-0}" = 1 ] || rm -rf "$work"' EXIT
trap 'exit 130' INT TERM HUP
start=$SECONDS

# note TEXT: a TAP comment.
note() {
	echo "# $*"
}

# m2t_procs: how many deliveries through mail2ticket this instance runs
# now (a process forked by mail2ticket to run sendmail looks like
# mail2ticket until it execs: a process whose parent is one is not
# counted).
m2t_procs() {
	ps -e -o pid=,ppid=,comm=,args= 2>/dev/null |
		awk -v conf="--config=$m2t/mail2ticket.conf" '
		{ comm[$1] = $3; parent[$1] = $2 }
		$3 == "mail2ticket" && index($0, conf) { run[$1] = 1 }
		END {
			for (pid in run)
				if (comm[parent[pid]] != "mail2ticket")
					n++
			print n + 0
		}'
}

# --- the mails ------------------------------------------------------
# N distinct mails in $work/mails/NNNN.eml and, a line each,
# "message-id<TAB>sender<TAB>title" in $work/manifest.
"$PYTHON3" - "$mails" "$work/mails" "$work/manifest" <<'PY' ||
"""Write realistic, distinct customer mails for the burst."""
import email.policy
import random
import sys
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
import datetime

count, folder, manifest = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rng = random.Random(20261204)
people = [("Li Na", "li.na"), ("Zhang Wei", "zhang.wei"),
          ("王芳", "wang.fang"), ("Chen Jie", "chen.jie"),
          ("María López", "maria.lopez"), ("John Carter", "j.carter"),
          ("刘洋", "liu.yang"), ("Aiko Tanaka", "aiko.t"),
          ("Ops Team", "ops"), ("Priya Raman", "priya.r"),
          ("Jörg Müller", "joerg.mueller"), ("Sun Li", "sun.li")]
subjects = [
    "ECS instance {ref} does not start after resizing",
    "Invoice {ref} does not match the usage report",
    "RDS {ref}: slow queries since the minor version upgrade",
    "OSS bucket {ref} returns 403 for signed URLs",
    "SLB listener {ref} drops HTTPS connections",
    "Cannot renew the domain {ref}",
    "ICP filing {ref} stuck in review",
    "CDN {ref}: cache not refreshed after purge",
    "实例 {ref} 无法远程连接",
    "发票 {ref} 金额与账单不符",
    "Refund request for order {ref}",
    "Security alert on {ref}: please explain",
    "RAM user {ref} cannot log in to the console",
    "Snapshot {ref} failed with an internal error",
]
paragraphs = [
    "Since this morning the console shows an error whenever we try.",
    "We did not change anything on our side before this started.",
    "Our production traffic is affected, please treat this as urgent.",
    "The error message says the operation is not allowed right now.",
    "I attached the log from our side, in case it helps.",
    "我们已经尝试重启，但问题依旧存在。",
    "Could you please tell us what the cause is and how to avoid it?",
    "The region is cn-hangzhou, zone h.",
    "Thank you for your help.",
]
png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806"
                    "0000001f15c4890000000d49444154789c6360000002000100"
                    "05fe02fea7d6a4a20000000049454e44ae426082")
seen = set()
start = datetime.datetime(2026, 12, 4, 9, 0, tzinfo=datetime.timezone.utc)
with open(manifest, "w", encoding="utf-8") as out:
    for n in range(count):
        while True:
            ref = "%s-%06x" % (rng.choice(["i-bp1", "INV", "rm-", "ord"]),
                               rng.randrange(1 << 24))
            title = rng.choice(subjects).format(ref=ref)
            if title not in seen:
                seen.add(title)
                break
        name, user = rng.choice(people)
        sender = "%s%d@customer.test" % (user, n % 7)
        msgid = "burst.%04d.%08x@customer.test" % (n, rng.randrange(1 << 32))
        msg = EmailMessage()
        msg["From"] = formataddr((name, sender))
        msg["To"] = "Support <support@support.test>"
        msg["Subject"] = title
        msg["Date"] = format_datetime(start + datetime.timedelta(seconds=n))
        msg["Message-ID"] = "<%s>" % msgid
        body = "\n\n".join(["Hello,"] + rng.sample(paragraphs,
                                                   rng.randint(1, 4))
                           + ["Regards,\n%s" % name])
        msg.set_content(body)
        if n % 5 == 0:
            if rng.random() < 0.5:
                log = "".join("2026-12-04T09:%02d:%02d ERROR code=%d\n"
                              % (i // 60, i % 60, rng.randrange(1000))
                              for i in range(rng.randint(20, 80)))
                msg.add_attachment(log.encode(), maintype="text",
                                   subtype="plain",
                                   filename="error-%d.log" % n)
            else:
                msg.add_attachment(png, maintype="image", subtype="png",
                                   filename="截图-%d.png" % n)
        path = "%s/%04d.eml" % (folder, n)
        with open(path, "wb") as handle:
            handle.write(msg.as_bytes(policy=email.policy.SMTP))
        out.write("%s\t%s\t%s\n" % (msgid, sender, title))
PY
	pf_bail "cannot write the mails"

# --- the fake service, the configuration and the instance ----------
# No state file: saving the whole state after every request would make
# the fake, not mail2ticket, the bottleneck.
fake_start "$fake" --state-file "" || pf_bail "the fake service did not start"
PF_M2T_CMD="$M2T --config=$m2t/mail2ticket.conf"
PF_M2T_PROCESS_LIMIT=$parallel
pf_setup "$work/pf" 2>"$work/setup.err" ||
	pf_bail "pf_setup failed: $(tr '\n' ' ' <"$work/setup.err")"
pf_postconf "mail2ticket_destination_concurrency_limit = $parallel" \
	"mail2ticket_initial_destination_concurrency = $parallel" ||
	pf_bail "postconf failed"
write_config "$m2t"
sed -i -e "s|^sendmail = .*|sendmail = $PF_SENDMAIL|" \
	-e "s|^retry_budget = .*|retry_budget = 1|" "$m2t/mail2ticket.conf"
chown -R "$PF_USER:" "$m2t"
chmod 0700 "$m2t"
pf_start || pf_bail "pf_start failed"
note "Postfix on 127.0.0.1:$PF_PORT, fake on 127.0.0.1:$FAKE_PORT," \
	"$mails mails, $parallel deliveries at once, failing: $modes"

# One request in five fails; the way it fails changes every 3 s.
set -- $modes
fake_ctl "$fake" set "{\"fail_ratio\": 0.2, \"seed\": 1204,
	\"fail_mode\": \"$1\"}" >/dev/null || pf_bail "fake_ctl failed"
(
	while :; do
		for mode in $modes; do
			fake_ctl "$fake" set "{\"fail_mode\": \"$mode\"}" \
				>/dev/null 2>&1
			sleep 3
		done
	done
) >/dev/null 2>&1 &
rotor=$!

# --- the burst ------------------------------------------------------
# Submitted over a few SMTP sessions, as fast as Postfix takes them.
submitted=$("$PYTHON3" - "$PF_PORT" "$work/mails" "$work/manifest" <<'PY'
"""Submit every mail of the manifest; print how many were accepted."""
import smtplib
import sys

port, folder, manifest = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rows = [line.rstrip("\n").split("\t") for line in open(manifest,
                                                       encoding="utf-8")]
accepted, smtp = 0, None
for n, (msgid, sender, title) in enumerate(rows):
    if n % 50 == 0:
        if smtp:
            smtp.quit()
        smtp = smtplib.SMTP("127.0.0.1", port, "localhost", timeout=30)
    with open("%s/%04d.eml" % (folder, n), "rb") as handle:
        data = handle.read()
    try:
        smtp.sendmail(sender, ["support@support.test"], data)
        accepted += 1
    except smtplib.SMTPException as e:
        sys.stderr.write("mail %d refused: %s\n" % (n, e))
if smtp:
    smtp.quit()
print(accepted)
PY
)
tap_is "${submitted:-0}" "$mails" "Postfix accepted all $mails mails by SMTP"
[ "${submitted:-0}" -gt 0 ] || pf_bail "no mail could be submitted"
note "submitted in $((SECONDS - start))s"

# Wait until the queue is empty and every reply is in (bounded).
deadline=$((start + wait_max))
busiest=0
finished=no
while [ $SECONDS -lt "$deadline" ]; do
	procs=$(m2t_procs)
	[ "$procs" -gt "$busiest" ] && busiest=$procs
	if [ "$(pf_queue_count)" = 0 ] &&
	   [ "$(pf_outbox_count)" -ge "$mails" ] && pf_wait_empty 2; then
		finished=yes
		break
	fi
	sleep 1
done
took=$((SECONDS - start))
kill "$rotor" 2>/dev/null
wait "$rotor" 2>/dev/null
rotor=
tap_is "$finished" yes \
	"the queue emptied and the replies came in within ${wait_max}s"
note "run time ${took}s; queue now $(pf_queue_count)," \
	"sink $(pf_outbox_count), at most $busiest mail2ticket seen at once"
tap_ok "$([ "$busiest" -le "$parallel" ]; echo $?)" \
	"never more than $parallel deliveries at once (seen $busiest)"

# --- the counts -----------------------------------------------------
fake_ctl "$fake" state >"$work/state.json" || pf_bail "no state from the fake"
"$PYTHON3" - "$work/manifest" "$work/state.json" "$PF_DIR/outbox" \
	"$fake/fake.log" >"$work/counts" <<'PY' || pf_bail "cannot count"
"""Print key=value counts of tickets, replies and faults."""
import collections
import email
import email.policy
import glob
import json
import re
import sys

manifest, state_file, outbox, fake_log = sys.argv[1:5]
rows = [line.rstrip("\n").split("\t") for line in open(manifest,
                                                       encoding="utf-8")]
state = json.load(open(state_file, encoding="utf-8"))
titles = collections.Counter(t["params"].get("title")
                             for t in state["tickets"])
wanted = {title for _, _, title in rows}
ids = {t["id"] for t in state["tickets"]}

per_ticket = collections.Counter()
per_msgid = collections.Counter()
bounces = strays = 0
for path in glob.glob(outbox + "/*.eml"):
    with open(path, "rb") as handle:
        m = email.message_from_binary_file(handle,
                                           policy=email.policy.default)
    if str(m.get("From", "")).startswith("MAILER-DAEMON") or \
            m.get("X-Sink-Sender") != "<>":
        bounces += 1
        continue
    found = re.search(r"\[ticket (\S+)\]", str(m.get("Subject", "")))
    if not found or found.group(1) not in ids:
        strays += 1
        continue
    per_ticket[found.group(1)] += 1
    per_msgid[str(m.get("In-Reply-To", "")).strip("<> ")] += 1

faults = collections.Counter()
for line in open(fake_log, encoding="utf-8"):
    mode = re.search(r" action=(\S+) .* fault=(\S+) ", line)
    if mode and mode.group(2) != "-":
        faults["%s/%s" % (mode.group(1), mode.group(2))] += 1

print("tickets=%d" % len(state["tickets"]))
print("titles=%d" % len(titles))
print("duplicates=%d" % sum(n - 1 for n in titles.values() if n > 1))
print("duplicated=%s" % " | ".join(sorted(t for t, n in titles.items()
                                          if n > 1)[:3]))
print("missing=%d" % len(wanted - set(titles)))
print("unknown=%d" % len(set(titles) - wanted))
print("replies=%d" % sum(per_ticket.values()))
print("tickets_replied_once=%d"
      % sum(1 for i in ids if per_ticket[i] == 1))
print("mails_replied_once=%d"
      % sum(1 for msgid, _, _ in rows if per_msgid[msgid] == 1))
print("stray_replies=%d" % strays)
print("bounces=%d" % bounces)
print("uploads=%d" % len(state["uploads"]))
print("faults=%d" % sum(faults.values()))
print("fault_kinds=%s" % ",".join("%s:%d" % kv
                                  for kv in sorted(faults.items())))
for name in ("Add", "QuestionList", "getOSSTempAuthor", "oss"):
    print("count_%s=%d" % (name, state["counts"].get(name, 0)))
PY

# get KEY: a value from the counts.
get() {
	sed -n "s/^$1=//p" "$work/counts"
}

deferrals=$(grep -c 'relay=mail2ticket, .*status=deferred' "$PF_DIR/maillog")
log_bounces=$(grep -c 'status=bounced' "$PF_DIR/maillog")
asides=$(grep -c 'skipped, still being delivered' "$PF_DIR/maillog")
note "tickets created $(get tickets) for $mails mails;" \
	"duplicates $(get duplicates); missing $(get missing)"
note "replies delivered $(get replies); tickets replied exactly once" \
	"$(get tickets_replied_once); stray $(get stray_replies)"
note "faults injected $(get faults): $(get fault_kinds)"
note "requests: Add $(get count_Add), QuestionList $(get count_QuestionList)," \
	"getOSSTempAuthor $(get count_getOSSTempAuthor), OSS $(get count_oss);" \
	"uploads $(get uploads)"
note "Postfix: $deferrals deferrals (exit 75), $log_bounces bounces," \
	"$asides put aside while locked"

tap_is "$(get tickets)" "$mails" "tickets created: $(get tickets) of $mails"
tap_is "$(get duplicates)/$(get missing)/$(get unknown)" "0/0/0" \
	"no duplicate ticket, none missing, none unknown (per title)"
[ "$(get duplicates)" = 0 ] || note "duplicated, e.g.: $(get duplicated)"
tap_is "$(get replies)" "$mails" \
	"replies delivered to the sink: $(get replies)"
tap_is "$(get tickets_replied_once)" "$(get tickets)" \
	"each ticket ID replied exactly once: $(get tickets_replied_once)"
tap_is "$(get mails_replied_once)" "$mails" \
	"each mail answered once (In-Reply-To): $(get mails_replied_once)"
tap_is "$(pf_queue_count)" 0 "Postfix's queue is empty"
tap_is "$(get bounces)/$log_bounces/$(get stray_replies)" "0/0/0" \
	"no bounce in the sink or the log, no stray mail"
tap_ok "$([ "$(get faults)" -gt 0 ] && [ "$deferrals" -gt 0 ]; echo $?)" \
	"the fake failed $(get faults) requests, Postfix retried $deferrals"
tap_unlike "$(cat "$PF_DIR/maillog" "$fake/fake.log" \
	"$PF_DIR/outbox"/*.eml 2>/dev/null)" 'fakesecret|Signature=' \
	"no secret or signature in the logs or the sink"
tap_done
