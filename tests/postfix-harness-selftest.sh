#!/bin/bash
# postfix-harness-selftest.sh: proves tests/lib/postfix.sh with a dummy
# pipe command instead of mail2ticket.  Prints TAP; skips the whole
# script ("1..0 # SKIP reason", exit 0) when no instance can run here:
# not root, Postfix not installed, or no pipe user and none can be made.
#
# The dummy records its argv, stdin, uid and environment in
# DIR/dummy/runs, exits with the status in DIR/dummy/status and, when
# DIR/dummy/reply-to names an address, first sends a reply there through
# DIR/bin/sendmail with a null envelope sender (the way mail2ticket will).

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

. "$top/tests/lib/postfix.sh"

if ! reason=$(pf_can_run); then
	echo "1..0 # SKIP $reason"
	exit 0
fi

testno=0
failed=0
# Print one TAP result: ok NAME when the last status ($1) is 0.
tap() {
	local rc=$1
	shift
	testno=$((testno + 1))
	if [ "$rc" = 0 ]; then
		echo "ok $testno - $*"
	else
		echo "not ok $testno - $*"
		failed=$((failed + 1))
	fi
}

# Print text as TAP diagnostics.
diag() {
	sed 's/^/# /'
}

work=$(mktemp -d /tmp/pf-selftest.XXXXXX) || exit 99
trap 'pf_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM HUP
PF_DIR=$work # so that pf_cleanup can remove it even if pf_setup fails
dummy=$work/dummy

# Write the dummy pipe command and its control files.
make_dummy() {
	mkdir -p "$dummy/runs"
	cat >"$dummy/fake-m2t" <<EOF
#!/bin/sh
# Dummy mail2ticket: record the run, maybe reply, exit as told.
d=$dummy
n=\$(date +%s%N).\$\$
printf '%s\n' "\$@" >"\$d/runs/\$n.argv"
cat >"\$d/runs/\$n.msg"
id -u >"\$d/runs/\$n.uid"
env >"\$d/runs/\$n.env"
rcpt=\$(cat "\$d/reply-to" 2>/dev/null)
if [ -n "\$rcpt" ]; then
	printf '%s\n' "From: Ticket desk <desk@support.test>" \\
		"To: <\$rcpt>" "Subject: [ticket T-1] received" \\
		"Auto-Submitted: auto-replied" "" "Ticket T-1 was created." |
	$work/bin/sendmail -i -f '<>' -- "\$rcpt" ||
		{ echo "reply not sent"; exit 75; }
fi
echo "\$n" >"\$d/runs/\$n.done"
exit \$(cat "\$d/status")
EOF
	chmod 0755 "$dummy/fake-m2t"
	: >"$dummy/conf"
	echo 0 >"$dummy/status"
	chown -R "$PF_USER:" "$dummy"
	chmod 0755 "$dummy"
}

# Print the number of finished dummy runs.
runs() {
	find "$dummy/runs" -name '*.argv' 2>/dev/null | wc -l
}

# Wait up to $2 seconds for at least $1 dummy runs.
wait_runs() {
	local deadline=$((SECONDS + ${2:-15}))
	while [ $SECONDS -lt "$deadline" ]; do
		[ "$(runs)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# Print the path prefix of the newest dummy run.
last_run() {
	ls -1 "$dummy/runs"/*.argv | sort | tail -n 1 | sed 's/\.argv$//'
}

# Write a small test message to $1 with subject $2.
make_msg() {
	printf '%s\n' "From: Alice <alice@customer.test>" \
		"To: <x@support.test>" "Subject: $2" \
		"Message-ID: <$RANDOM.$2@customer.test>" "" "Body of $2." >"$1"
	chmod 0644 "$1"
}

# Check that the newest run's argv equals the given lines.
argv_is() {
	local want got
	want=$(printf '%s\n' "$@")
	got=$(cat "$(last_run).argv")
	if [ "$want" != "$got" ]; then
		{ echo "want:"; echo "$want"; echo "got:"; echo "$got"; } | diag
		return 1
	fi
}

echo "1..17"
start=$SECONDS
PF_USER=${PF_USER:-m2ttest}
PF_M2T_CMD="$dummy/fake-m2t --config=$dummy/conf"
pf_setup "$work" && make_dummy
tap $? "pf_setup builds the instance (port $PF_PORT, user $PF_USER)"
[ $failed -eq 0 ] || { echo "Bail out! pf_setup failed"; exit 1; }

pf_start && [ -n "$(pf__master_pid)" ]
tap $? "pf_start starts master and smtpd answers on 127.0.0.1:$PF_PORT"
[ $failed -eq 0 ] || { echo "Bail out! pf_start failed"; pf_log | diag; exit 1; }

# 3: plain mail reaches the dummy with the right argv.
make_msg "$work/m1" plain
pf_send alice@customer.test x@support.test "$work/m1" &&
	wait_runs 1 && pf_wait_empty 15 &&
	argv_is "--config=$dummy/conf" "--sender=alice@customer.test" \
		-- x@support.test
tap $? "mail to x@support.test runs the pipe with --sender and recipient"

# 4: headers from flags D, O, R; runs as the pipe user with the port.
run=$(last_run)
grep -qx 'Return-Path: <alice@customer.test>' "$run.msg" &&
	grep -qx 'Delivered-To: x@support.test' "$run.msg" &&
	grep -qx 'X-Original-To: x@support.test' "$run.msg" &&
	grep -qx 'Subject: plain' "$run.msg"
tap $? "stdin carries Return-Path, Delivered-To and X-Original-To"

uid=$(cat "$run.uid")
[ "$uid" = "$(id -u "$PF_USER")" ] && [ "$uid" != 0 ] &&
	[ "$uid" != "$(id -u postfix)" ] &&
	grep -qx "M2T_SMTP_PORT=$PF_PORT" "$run.env"
tap $? "pipe runs as $PF_USER (uid $uid) with M2T_SMTP_PORT exported"

# 6: the null sender arrives as an empty --sender=.
make_msg "$work/m2" nullsender
pf_send '<>' x@support.test "$work/m2" && wait_runs 2 &&
	pf_wait_empty 15 &&
	argv_is "--config=$dummy/conf" "--sender=" -- x@support.test &&
	grep -qx 'Return-Path: <>' "$(last_run).msg"
tap $? "null-sender mail arrives as --sender= (empty)"

# 7: flags h and q: the domain is folded, a quoted local part kept.
make_msg "$work/m3" quoting
pf_send bob@customer.test '"Sales Desk"@Support.TEST' "$work/m3" &&
	wait_runs 3 && pf_wait_empty 15 &&
	argv_is "--config=$dummy/conf" "--sender=bob@customer.test" \
		-- '"Sales Desk"@support.test'
tap $? "recipient domain folded to lower case, quoted local part kept"

# 8-9: exit 75 defers; after exit 0 and a flush the queue empties.
echo 75 >"$dummy/status"
before=$(runs)
make_msg "$work/m4" tempfail
pf_send carol@customer.test x@support.test "$work/m4" &&
	pf_wait_deferred 1 15 && [ "$(runs)" -gt "$before" ] &&
	[ "$(pf_queue_count)" = 1 ]
tap $? "exit 75 leaves the message deferred in the queue"

echo 0 >"$dummy/status"
pf_flush && pf_wait_empty 15 &&
	grep -q 'to=<x@support.test>, relay=mail2ticket.*status=sent' \
		"$work/maillog" &&
	grep -q 'to=<x@support.test>, relay=mail2ticket.*status=deferred' \
		"$work/maillog"
tap $? "after exit 0 and pf_flush the message is delivered, queue empty"

# 10-11: exit 65 bounces to the sender, whose bounce lands in the outbox.
echo 65 >"$dummy/status"
outbox_before=$(pf_outbox_count)
make_msg "$work/m5" permfail
pf_send dave@customer.test x@support.test "$work/m5" &&
	pf_wait_outbox $((outbox_before + 1)) 15 && pf_wait_empty 15
tap $? "exit 65 bounces and the bounce is delivered to the outbox"

bounce=$(grep -l 'X-Sink-Recipient: <dave@customer.test>' \
	"$work/outbox"/*.eml | head -n 1)
[ -n "$bounce" ] && grep -qx 'X-Sink-Sender: <>' "$bounce" &&
	grep -q 'Subject: Undelivered Mail Returned to Sender' "$bounce" &&
	grep -q 'Subject: permfail' "$bounce" &&
	grep -q 'status=bounced' "$work/maillog"
tap $? "the bounce has a null sender and returns the original message"

# 12: the dummy replies through DIR/bin/sendmail (SMTP, null sender).
echo 0 >"$dummy/status"
echo erin@customer.test >"$dummy/reply-to"
outbox_before=$(pf_outbox_count)
make_msg "$work/m6" reply
pf_send erin@customer.test x@support.test "$work/m6" &&
	pf_wait_outbox $((outbox_before + 1)) 15 && pf_wait_empty 15
reply=$(grep -l 'Subject: \[ticket T-1\] received' "$work/outbox"/*.eml |
	head -n 1)
[ -n "$reply" ] && grep -qx 'X-Sink-Sender: <>' "$reply" &&
	grep -qx 'X-Sink-Recipient: <erin@customer.test>' "$reply" &&
	grep -qx 'Return-Path: <>' "$reply"
tap $? "a reply sent by the pipe through smtp-sendmail lands with sender <>"
rm -f "$dummy/reply-to"

# 13: $PF_SENDMAIL reaches the instance from an empty environment too
# (mail2ticket runs sendmail with PATH and TZ only).
outbox_before=$(pf_outbox_count)
printf '%s\n' "From: <desk@support.test>" "To: <frank@customer.test>" \
	"Subject: no environment" "" "Sent without M2T_SMTP_PORT." |
	pf_as_user "$PF_SENDMAIL" -i -f '<>' -- frank@customer.test &&
	pf_wait_outbox $((outbox_before + 1)) 15 &&
	grep -lqx 'X-Sink-Recipient: <frank@customer.test>' \
		"$work/outbox"/*.eml
tap $? "\$PF_SENDMAIL submits without M2T_SMTP_PORT in the environment"

# 14: nothing left anywhere, and the log stayed in DIR/maillog.
[ "$(pf_queue_count)" = 0 ] && grep -q 'daemon started' "$work/maillog"
tap $? "queue empty and the log is in DIR/maillog"

# 15-16: filters/procmailrc turns the program's status into procmail's
# (run as the pipe user with -m, the dummy in place of mail2ticket).
pm=$work/procmail
# Run procmail on the snippet with the dummy exiting $1; print status.
procmail_status() {
	echo "$1" >"$dummy/status"
	pf_as_user procmail -m DEFAULT="$pm/default" "$pm/rc" \
		<"$work/m1" 2>/dev/null
	echo $?
}
if command -v procmail >/dev/null; then
	mkdir -p "$pm"
	sed "s|^M2T=.*|M2T=\"$dummy/fake-m2t --config=$dummy/conf\"|" \
		"$top/filters/procmailrc" >"$pm/rc"
	chown -R "$PF_USER:" "$pm"
	chmod 0644 "$pm/rc"
	got=""
	for st in 0 75 65 69 1; do
		got="$got $st:$(procmail_status "$st")"
	done
	[ "$got" = " 0:0 75:75 65:65 69:69 1:75" ]
	tap $? "procmailrc: procmail exits 0/75/65/69/75 for 0/75/65/69/1 ($got)"
	[ ! -e "$pm/default" ] && grep -qx "Subject: plain" "$(last_run).msg"
	tap $? "procmailrc: message piped, nothing delivered to \$DEFAULT"
	echo 0 >"$dummy/status"
else
	testno=$((testno + 1))
	echo "ok $testno # SKIP procmail is not installed"
	testno=$((testno + 1))
	echo "ok $testno # SKIP procmail is not installed"
fi

# 17: pf_stop stops master.
pid=$(pf__master_pid)
pf_stop && ! kill -0 "$pid" 2>/dev/null
tap $? "pf_stop stops master (pid $pid)"

if [ $failed -ne 0 ]; then
	echo "# $failed test(s) failed; the instance's log follows"
	pf_log | tail -n 60 | diag
fi
echo "# took $((SECONDS - start))s"
[ $failed -eq 0 ]
