# tests/lib/common.sh - shared by the shell tests and the demo.
#
# TAP output (tap_ok, tap_is, tap_like, tap_skip_all, tap_done), the
# fake Alibaba Cloud service (fake_start, fake_ctl, fake_state,
# fake_stop), a configuration pointing at it (write_config) and a run of
# the program that keeps its exit status and stderr (m2t_run).

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${M2T:=$top_builddir/src/mail2ticket}"
: "${PYTHON3:=python3}"
FAKE="$top_srcdir/tests/fake_aliyun.py"
DATA="$top_srcdir/tests/data"

tap_count=0
tap_failed=0

# tap_skip_all REASON: skip the whole script (a TAP plan of 0, exit 0).
tap_skip_all() { echo "1..0 # SKIP $1"; exit 0; }

# tap_ok STATUS NAME: a passed test when STATUS is 0.
tap_ok() {
	tap_count=$((tap_count + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_count - $2"
	else
		echo "not ok $tap_count - $2"
		tap_failed=$((tap_failed + 1))
	fi
}

# tap_is GOT WANT NAME: a test that GOT equals WANT, showing both.
tap_is() {
	if [ "$1" = "$2" ]; then
		tap_ok 0 "$3"
	else
		tap_ok 1 "$3"
		echo "#   got:  '$1'"
		echo "#   want: '$2'"
	fi
}

# tap_like TEXT PATTERN NAME: TEXT matches the extended regexp PATTERN.
tap_like() {
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		tap_ok 0 "$3"
	else
		tap_ok 1 "$3"
		echo "#   got: '$(printf '%s' "$1" | head -c 400)'"
		echo "#   not matching: '$2'"
	fi
}

# tap_unlike TEXT PATTERN NAME: TEXT does not match PATTERN.
tap_unlike() {
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		tap_ok 1 "$3"
		echo "#   matched: '$2'"
	else
		tap_ok 0 "$3"
	fi
}

# tap_done: print the plan (TAP allows it last) and give the exit status
# for the whole script.
tap_done() {
	echo "1..$tap_count"
	[ "$tap_failed" -eq 0 ]
}

# fake_start DIR [ARGS...]: the fake service, state in DIR; sets
# FAKE_PORT and FAKE_PID.
fake_start() {
	local dir=$1
	shift
	rm -f "$dir/fake.port"
	"$PYTHON3" "$FAKE" serve --port-file "$dir/fake.port" \
		--state-file "$dir/fake-state.json" --log "$dir/fake.log" \
		"$@" >>"$dir/fake.out" 2>&1 &
	FAKE_PID=$!
	for _ in $(seq 100); do
		[ -s "$dir/fake.port" ] && break
		sleep 0.05
	done
	FAKE_PORT=$(cat "$dir/fake.port" 2>/dev/null)
	[ -n "$FAKE_PORT" ]
}

# fake_stop: stop the fake service, if it runs.
fake_stop() {
	if [ -n "${FAKE_PID:-}" ]; then
		kill "$FAKE_PID" 2>/dev/null
		wait "$FAKE_PID" 2>/dev/null
		FAKE_PID=
	fi
}

# fake_ctl DIR ARGS...: talk to the fake's control interface.
fake_ctl() {
	local dir=$1
	shift
	"$PYTHON3" "$FAKE" ctl --port-file "$dir/fake.port" "$@"
}

# fake_state DIR EXPR: evaluate the Python expression EXPR on the fake's
# state (a dict named s), e.g. 'len(s["tickets"])'.
fake_state() {
	fake_ctl "$1" state | "$PYTHON3" -c '
import json, sys
s = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$2"
}

# write_config DIR [EXTRA]: DIR/mail2ticket.conf for the fake on
# FAKE_PORT, replies captured in DIR/outbox; EXTRA is appended.
write_config() {
	local dir=$1
	cat > "$dir/mail2ticket.conf" <<CONF
[api]
endpoint = http://127.0.0.1:${FAKE_PORT:-9}/
access_key_id = LTAIfakeid
access_key_secret = fakesecret
timeout = 5
retry_budget = 0

[ticket]
ali_uid = 1234567890123456

[reply]
from = support@support.test
sendmail = $top_srcdir/tests/capture-sendmail $dir/outbox

[journal]
dir = $dir/journal

[quarantine]
dir = $dir/quarantine

[rule:billing]
recipients = billing@support.test
customer_common_question_id = 77

[rule:support]
recipients = support@support.test; support+*@support.test; @help.test
product_id = 12
${2:-}
CONF
	chmod 600 "$dir/mail2ticket.conf"
}

# m2t_run DIR ARGS... < MAIL: run the program with DIR's configuration;
# sets M2T_STATUS, M2T_OUT and M2T_ERR.
m2t_run() {
	local dir=$1
	shift
	M2T_OUT=$("$M2T" --config="$dir/mail2ticket.conf" "$@" \
		2>"$dir/stderr")
	M2T_STATUS=$?
	M2T_ERR=$(cat "$dir/stderr")
}

# count_files DIR GLOB: how many files in DIR match GLOB.
count_files() {
	local n=0 f
	for f in "$1"/$2; do
		[ -e "$f" ] && n=$((n + 1))
	done
	echo "$n"
}
