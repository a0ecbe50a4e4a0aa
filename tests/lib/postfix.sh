# tests/lib/postfix.sh: a private, throw-away Postfix instance for
# end-to-end tests.  Source it from bash, as root.
#
# Entry points (the names are a contract):
#   pf_can_run          succeed when an instance can run here (root,
#                       Postfix installed, the pipe user present or
#                       created now); else print why not and fail
#   pf_setup DIR        build the instance under DIR (DIR/etc, DIR/spool,
#                       DIR/data, DIR/maillog, DIR/outbox, DIR/bin);
#                       exports PF_DIR, PF_ETC, PF_PORT, PF_USER,
#                       PF_SENDMAIL
#   pf_start, pf_stop   start and stop it; pf_cleanup (for trap) stops it
#                       and removes DIR unless PF_KEEP=1
#   pf_send FROM TO FILE    submit FILE by SMTP ("" or "<>" = null sender)
#   pf_queue_count      messages in maildrop+incoming+active+deferred
#   pf_flush            postqueue -f
#   pf_wait_empty T     wait up to T seconds for an empty queue
#   pf_wait_deferred N T    wait up to T seconds for N deferred messages
#   pf_outbox_count     messages the "sink" transport has stored
#   pf_log              print the instance's log
#   also: pf_postconf (change main.cf), pf_as_user (run a command as the
#   pipe user), pf_allow_path (make a path reachable by that user),
#   pf_outbox_files, pf_wait_outbox.
#
# Input variables: PF_M2T_CMD (required by pf_setup: the mail2ticket
# command and its leading options, e.g. "/x/mail2ticket --config=/x/c";
# no spaces inside one word, master.cf splits on white space), PF_USER
# (pipe user, default m2ttest; created by pf_can_run or pf_setup when
# missing: a system account with no home and no login shell),
# PF_M2T_TIME_LIMIT (default 120s), PF_M2T_PROCESS_LIMIT (the process
# limit column of the mail2ticket service, i.e. how many deliveries run
# at once; default "-", the snippet's), PF_KEEP=1 (pf_cleanup keeps DIR).
#
# Routing: support.test -> pipe "mail2ticket" (from filters/postfix/
# master.cf, with the binary and user replaced); customer.test -> pipe
# "sink", one file per message and recipient in DIR/outbox, starting with
# "X-Sink-Sender: <...>" and "X-Sink-Recipient: <...>"; anything else is
# refused by the error transport.  No DNS, no syslog, loopback only.
#
# Replies from a pipe: Postfix's own sendmail cannot be used by the
# unprivileged pipe user for a private instance (postdrop insists that the
# default main.cf list it in alternate_config_directories, and there is
# no /etc/postfix/main.cf), so DIR/bin/sendmail (also $PF_SENDMAIL)
# submits by SMTP with DIR/bin/smtp-sendmail, a copy of
# tests/smtp-sendmail.  The port is the one in M2T_SMTP_PORT (exported
# to pipes), else the instance's own, written into the wrapper: a pipe
# command that cleans its environment before running sendmail, as
# mail2ticket does, still reaches the instance.
#
# Known limits: one instance per shell; needs root, python3 in
# /usr/bin, the Debian postfix package layout (/usr/lib/postfix,
# /etc/postfix as meta_directory).

PF_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PF_TOP=$(cd "$PF_LIB_DIR/../.." && pwd)
PF_PYTHON=/usr/bin/python3

# Print a diagnostic on stderr.
pf__say() {
	echo "pf: $*" >&2
}

# Succeed if TCP port $1 on 127.0.0.1 can be bound right now.
pf__port_free() {
	"$PF_PYTHON" - "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

# Print a free loopback port (random in 20000-59999), or fail.
pf__pick_port() {
	local port
	for _ in $(seq 1 50); do
		port=$((20000 + RANDOM % 40000))
		if pf__port_free "$port"; then
			echo "$port"
			return 0
		fi
	done
	pf__say "no free port found"
	return 1
}

# Create the pipe user (a locked system account) when it is missing.
pf__ensure_user() {
	local user=$1
	if id -u "$user" >/dev/null 2>&1; then
		return 0
	fi
	useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin --user-group \
		--comment "mail2ticket test pipe user" "$user" || {
		pf__say "cannot create user $user"
		return 1
	}
}

# Succeed when a private instance can run here; else print the reason
# (one line, for a "1..0 # SKIP" plan) and fail.  Creates the pipe user
# when it is missing, so call it as root before pf_setup.
pf_can_run() {
	local user=${PF_USER:-m2ttest} daemons
	if [ "$(id -u)" != 0 ]; then
		echo "needs root to run a private Postfix instance"
		return 1
	fi
	daemons=$(postconf -dh daemon_directory 2>/dev/null)
	if ! command -v postfix >/dev/null || [ -z "$daemons" ] ||
	   [ ! -x "$daemons/master" ]; then
		echo "Postfix is not installed"
		return 1
	fi
	if [ ! -x "$PF_PYTHON" ] || ! command -v setpriv >/dev/null; then
		echo "needs $PF_PYTHON and setpriv"
		return 1
	fi
	if ! pf__ensure_user "$user" 2>/dev/null; then
		echo "no pipe user $user and it cannot be created"
		return 1
	fi
}

# Run a command as the pipe user (PF_USER), with a minimal environment.
pf_as_user() {
	setpriv --reuid="$PF_USER" --regid="$(id -g "$PF_USER")" --init-groups \
		env -i PATH=/usr/bin:/bin HOME=/ "$@"
}

# Make every directory above PATH (and PATH itself, if it is a
# directory) traversable by others, so the pipe user can reach it.
# Only the x bit is added, and only where it is missing; each change is
# reported on stderr.
pf_allow_path() {
	local path dir
	for path in "$@"; do
		dir=$(readlink -m "$path") || return 1
		while [ ! -d "$dir" ]; do
			dir=$(dirname "$dir")
		done
		while :; do
			case $(stat -c %A "$dir") in
			*[xt]) ;;
			*)
				chmod o+x "$dir" || return 1
				pf__say "made $dir traversable (o+x)" ;;
			esac
			[ "$dir" = / ] && break
			dir=$(dirname "$dir")
		done
	done
}

# Write main.cf for the instance under $PF_DIR.
pf__write_main_cf() {
	cat >"$PF_ETC/main.cf" <<EOF
# Private Postfix instance for mail2ticket tests (tests/lib/postfix.sh).
compatibility_level = 3.6
queue_directory = $PF_DIR/spool
data_directory = $PF_DIR/data
command_directory = $(postconf -dh command_directory)
daemon_directory = $(postconf -dh daemon_directory)
shlib_directory = $(postconf -dh shlib_directory)
meta_directory = $(postconf -dh meta_directory)
mail_owner = postfix
setgid_group = postdrop

# Logging: the postlog service writes to a file; nothing goes to syslog.
maillog_file = $PF_DIR/maillog
maillog_file_prefixes = $PF_DIR
syslog_name = pf-harness

# Identity, set explicitly so that nothing asks the resolver.
myhostname = mta.pf-harness.test
mydomain = pf-harness.test
myorigin = \$myhostname
mydestination =
append_dot_mydomain = no
biff = no
readme_directory = no

# Loopback only, IPv4 only, no DNS anywhere.
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_client_restrictions =
smtpd_helo_restrictions =
smtpd_sender_restrictions =
smtpd_recipient_restrictions =

# Routing: two test domains, each to a pipe; everything else refused.
relay_domains = support.test, customer.test
transport_maps = inline:{ support.test=mail2ticket:, customer.test=sink: }
relay_recipient_maps =
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery in the test instance
default_transport = error:5.1.2 only support.test and customer.test here
relay_transport = error:5.1.2 no relay in the test instance

# Pipes: one recipient per run; exports the SMTP port for replies.
mail2ticket_destination_recipient_limit = 1
mail2ticket_time_limit = ${PF_M2T_TIME_LIMIT:-120s}
sink_destination_recipient_limit = 1
export_environment = TZ MAIL_CONFIG LANG M2T_SMTP_PORT=$PF_PORT

# Short timers, so deferred mail is retried within seconds.  Not a 1s
# backoff: queue file times have whole seconds, so a message deferred
# at x.999 s would be due again at once, and a queue run finding it
# while the pipe still holds its lock puts it aside for 60 s
# ("skipped, still being delivered").
queue_run_delay = 1s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
in_flow_delay = 0
delay_warning_time = 0
EOF
}

# Write master.cf: the core services (none chrooted), smtpd on PF_PORT,
# the "sink" pipe and the "mail2ticket" pipe taken from filters/.
pf__write_master_cf() {
	local snippet=$PF_TOP/filters/postfix/master.cf
	cat >"$PF_ETC/master.cf" <<EOF
# Private Postfix instance for mail2ticket tests (tests/lib/postfix.sh).
$PF_PORT  inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
sink      unix  -       n       n       -       -       pipe
  flags=R user=$PF_USER null_sender=
  argv=$PF_DIR/bin/sink $PF_DIR/outbox \${queue_id} --sender=\${sender} -- \${recipient}
EOF
	"$PF_PYTHON" - "$snippet" "$PF_USER" "$PF_M2T_CMD" \
		"${PF_M2T_PROCESS_LIMIT:--}" \
		>>"$PF_ETC/master.cf" <<'PY' || return 1
# Copy the mail2ticket service from the snippet, with our user and
# command in place of user=mail2ticket and the installed path + options,
# and the process limit asked for.
import re, sys
snippet, user, cmd, limit = sys.argv[1:5]
lines, inside = [], False
for line in open(snippet):
    if line.startswith("mail2ticket") and line.split()[0] == "mail2ticket":
        inside = True
        lines.append(line.rstrip("\n"))
    elif inside and line[:1] in (" ", "\t") and line.strip():
        lines.append(line.rstrip("\n"))
    elif inside:
        break
if not lines:
    sys.exit("no mail2ticket service in " + snippet)
head, rest = lines[0], " ".join(l.strip() for l in lines[1:])
rest, n = re.subn(r"(^|\s)user=\S+", r"\1user=" + user, rest)
if n != 1:
    sys.exit("no user= in the mail2ticket service")
rest, n = re.subn(r"argv=.*?(?=\s--sender=)", lambda m: "argv=" + cmd,
                  rest)
if n != 1:
    sys.exit("no argv=... --sender= in the mail2ticket service")
fields = head.split()
if len(fields) != 8:
    sys.exit("the mail2ticket service line has not 8 columns")
if limit != "-":
    fields[6] = limit
print("  ".join(fields))
print("  " + rest)
PY
}

# Write the sink pipe command (stores each message in DIR/outbox).
pf__write_sink() {
	cat >"$PF_DIR/bin/sink" <<'EOF'
#!/bin/sh
# sink OUTBOX QUEUE_ID --sender=SENDER -- RECIPIENT: store stdin as
# OUTBOX/QUEUE_ID.PID.eml, envelope first, renamed into place when whole.
outbox=$1 qid=$2 sender=${3#--sender=} rcpt=$5
umask 022
tmp=$(mktemp "$outbox/.tmp.XXXXXX") || exit 75
{
	printf 'X-Sink-Sender: <%s>\nX-Sink-Recipient: <%s>\n' "$sender" "$rcpt"
	cat
} >"$tmp" || { rm -f "$tmp"; exit 75; }
mv "$tmp" "$outbox/$qid.$$.eml" || exit 75
exit 0
EOF
	chmod 0755 "$PF_DIR/bin/sink"
}

# Write DIR/bin/sendmail: smtp-sendmail to this instance's port unless
# M2T_SMTP_PORT says otherwise (see the header).
pf__write_sendmail() {
	cat >"$PF_DIR/bin/sendmail" <<EOF
#!/bin/sh
# sendmail for the test instance on 127.0.0.1:$PF_PORT (tests/lib/postfix.sh)
M2T_SMTP_PORT=\${M2T_SMTP_PORT:-$PF_PORT}
export M2T_SMTP_PORT
exec $PF_PYTHON $PF_DIR/bin/smtp-sendmail "\$@"
EOF
	chmod 0755 "$PF_DIR/bin/sendmail"
}

# Build a complete private instance under DIR (see the header).
pf_setup() {
	local dir=$1 bin
	if [ -z "$dir" ] || [ -z "${PF_M2T_CMD:-}" ]; then
		pf__say "usage: PF_M2T_CMD='/path/mail2ticket --opt' pf_setup DIR"
		return 1
	fi
	if [ "$(id -u)" != 0 ]; then
		pf__say "pf_setup needs root"
		return 1
	fi
	mkdir -p "$dir" || return 1
	PF_DIR=$(cd "$dir" && pwd)
	PF_ETC=$PF_DIR/etc
	PF_USER=${PF_USER:-m2ttest}
	case $PF_USER in
	root | postfix)
		pf__say "PF_USER must not be root or the mail owner"
		return 1 ;;
	esac
	export PF_DIR PF_ETC PF_USER
	pf__ensure_user "$PF_USER" || return 1
	PF_PORT=$(pf__pick_port) || return 1
	export PF_PORT

	touch "$PF_DIR/.pf-harness"
	chown root:root "$PF_DIR"
	chmod 0755 "$PF_DIR"
	pf_allow_path "$PF_DIR" || return 1
	mkdir -p "$PF_ETC" "$PF_DIR/spool" "$PF_DIR/data" "$PF_DIR/bin" \
		"$PF_DIR/outbox" || return 1
	chmod 0755 "$PF_ETC" "$PF_DIR/spool" "$PF_DIR/bin"
	chown postfix:postfix "$PF_DIR/data"
	chmod 0700 "$PF_DIR/data"
	chown "$PF_USER:" "$PF_DIR/outbox"
	chmod 0755 "$PF_DIR/outbox"

	pf__write_main_cf || return 1
	pf__write_master_cf || return 1
	pf__write_sink || return 1
	install -m 0755 "$PF_TOP/tests/smtp-sendmail" \
		"$PF_DIR/bin/smtp-sendmail" || return 1
	pf__write_sendmail || return 1
	PF_SENDMAIL=$PF_DIR/bin/sendmail
	export PF_SENDMAIL
	chmod 0644 "$PF_ETC/main.cf" "$PF_ETC/master.cf"

	# The mail2ticket command must be reachable by the pipe user.
	bin=${PF_M2T_CMD%% *}
	pf_allow_path "$bin" || return 1
	if [ -e "$bin" ] && ! pf_as_user test -x "$bin"; then
		pf__say "warning: $PF_USER cannot execute $bin"
	fi

	# "postfix check" creates the queue directories (post-install
	# create-missing) with the owners and modes Postfix wants.
	postfix -c "$PF_ETC" check || {
		pf__say "postfix check failed"
		return 1
	}
}

# Start the instance and wait until its SMTP port answers.
pf_start() {
	postfix -c "$PF_ETC" start >/dev/null 2>&1 || {
		pf__say "postfix start failed"
		pf_log >&2
		return 1
	}
	for _ in $(seq 1 100); do
		if ! pf__port_free "$PF_PORT" &&
		   pf__smtp_banner >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	pf__say "smtpd did not answer on 127.0.0.1:$PF_PORT"
	return 1
}

# Print the SMTP greeting of the instance (fails when it does not answer).
pf__smtp_banner() {
	"$PF_PYTHON" - "$PF_PORT" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), "localhost", timeout=5)
s.quit()
PY
}

# Print the master process id, when the instance runs.
pf__master_pid() {
	local pidfile=$PF_DIR/spool/pid/master.pid pid
	[ -r "$pidfile" ] || return 1
	pid=$(tr -dc 0-9 <"$pidfile")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = master ] || return 1
	echo "$pid"
}

# Stop the instance and wait until its master process has gone.
pf_stop() {
	local pid
	[ -n "${PF_ETC:-}" ] || return 0
	pid=$(pf__master_pid) || return 0
	postfix -c "$PF_ETC" stop >/dev/null 2>&1
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	pf__say "master $pid did not stop; killing it"
	kill -KILL "$pid" 2>/dev/null
	return 1
}

# Stop the instance and remove its directory (unless PF_KEEP=1).
pf_cleanup() {
	[ -n "${PF_DIR:-}" ] || return 0
	pf_stop
	if [ "${PF_KEEP:-0}" = 1 ]; then
		pf__say "kept $PF_DIR"
	elif [ -f "$PF_DIR/.pf-harness" ]; then
		rm -rf "$PF_DIR"
	fi
	return 0
}

# Submit FILE by SMTP from FROM ("" or "<>" for the null sender) to TO.
pf_send() {
	[ $# -eq 3 ] || { pf__say "usage: pf_send FROM TO FILE"; return 2; }
	M2T_SMTP_PORT=$PF_PORT "$PF_PYTHON" "$PF_DIR/bin/smtp-sendmail" \
		-i -f "$1" -- "$2" <"$3"
}

# Print the number of messages in maildrop, incoming, active, deferred.
pf_queue_count() {
	local q n=0
	for q in maildrop incoming active deferred; do
		[ -d "$PF_DIR/spool/$q" ] || continue
		n=$((n + $(find "$PF_DIR/spool/$q" -type f | wc -l)))
	done
	echo "$n"
}

# Ask the queue manager to retry every deferred message now.
pf_flush() {
	postqueue -c "$PF_ETC" -f
}

# Wait up to $1 seconds (default 20) until the queue has stayed empty
# for two readings in a row; fail on timeout.
pf_wait_empty() {
	local deadline=$((SECONDS + ${1:-20})) empty=0
	while [ $SECONDS -lt "$deadline" ]; do
		if [ "$(pf_queue_count)" = 0 ]; then
			empty=$((empty + 1))
			[ $empty -ge 2 ] && return 0
		else
			empty=0
		fi
		sleep 0.2
	done
	return 1
}

# Wait up to $2 seconds (default 20) until at least $1 messages are in
# the deferred queue; fail on timeout.
pf_wait_deferred() {
	local want=${1:-1} deadline=$((SECONDS + ${2:-20})) n
	while [ $SECONDS -lt "$deadline" ]; do
		n=$(find "$PF_DIR/spool/deferred" -type f | wc -l)
		[ "$n" -ge "$want" ] && return 0
		sleep 0.2
	done
	return 1
}

# Print the outbox files (one path a line, oldest first).
pf_outbox_files() {
	ls -1tr "$PF_DIR/outbox"/*.eml 2>/dev/null
}

# Print how many messages the sink has stored.
pf_outbox_count() {
	find "$PF_DIR/outbox" -maxdepth 1 -name '*.eml' -type f | wc -l
}

# Wait up to $2 seconds (default 20) for at least $1 outbox messages.
pf_wait_outbox() {
	local want=${1:-1} deadline=$((SECONDS + ${2:-20}))
	while [ $SECONDS -lt "$deadline" ]; do
		[ "$(pf_outbox_count)" -ge "$want" ] && return 0
		sleep 0.2
	done
	return 1
}

# Set main.cf parameters (postconf -e syntax) and reload when running.
pf_postconf() {
	postconf -c "$PF_ETC" -e "$@" || return 1
	if pf__master_pid >/dev/null; then
		postfix -c "$PF_ETC" reload >/dev/null 2>&1
	fi
}

# pf_require_m2t: skip the TAP script (tap_skip_all, from common.sh)
# unless the program at $M2T can be run through a private Postfix here
# (master.cf splits argv on white space, so its path must have none).
pf_require_m2t() {
	local reason
	[ -x "$M2T" ] || tap_skip_all "no $M2T"
	reason=$(pf_can_run) || tap_skip_all "$reason"
	case $M2T in
	*[[:space:]]*)
		tap_skip_all "the path of mail2ticket has white space in it" ;;
	esac
}

# pf_bail TEXT: stop the TAP script here (Bail out!), with the end of
# the instance's log as diagnostics.
pf_bail() {
	echo "Bail out! $1"
	pf_log | tail -n 30 | sed 's/^/# /'
	exit 1
}

# Print the instance's log.
pf_log() {
	cat "$PF_DIR/maillog" 2>/dev/null
}
