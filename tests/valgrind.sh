#!/bin/bash
# tests/valgrind.sh - the main path under valgrind: no invalid access,
# no leak.  Delivers a few test mails against the fake service (ticket,
# uploads, reply) and dry-runs others; each run must exit 0 with no
# valgrind error.  Skips when valgrind is missing or the program was
# built with the sanitizers (they cannot run together).
set -u
. "$(dirname "$0")/lib/common.sh"

command -v valgrind >/dev/null || tap_skip_all "valgrind is not installed"
if grep -q __asan_init "$M2T" 2>/dev/null; then
	tap_skip_all "built with --enable-sanitizers; valgrind cannot run it"
fi

work=$(mktemp -d /tmp/m2t-valgrind.XXXXXX)
trap 'fake_stop; rm -rf "$work"' EXIT
fake_start "$work" || tap_skip_all "the fake service did not start"
write_config "$work"

# check LABEL STATUS ARGS... < MAIL: one run under valgrind, which must
# exit with STATUS and report no error.
check() {
	local label=$1 want=$2
	shift 2
	valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--error-exitcode=99 --log-file="$work/vg.log" \
		"$M2T" --config="$work/mail2ticket.conf" "$@" \
		>/dev/null 2>"$work/stderr"
	tap_is "$?" "$want" "$label: exit $want, no valgrind error"
	if [ -s "$work/vg.log" ]; then
		sed 's/^/# /' "$work/vg.log" | head -30
	fi
}

for mail in demo-customer outlook-html forwarded-rfc822 signed; do
	check "$mail delivered" 0 --sender=li.na@customer.test \
		support@support.test < "$DATA/$mail.eml"
done
check "demo-customer again (a duplicate)" 0 --sender=li.na@customer.test \
	support@support.test < "$DATA/demo-customer.eml"
for mail in gb2312-qp raw-8bit apple-inline kinds/winmail; do
	check "$mail dry-run" 0 --dry-run support@support.test \
		< "$DATA/$mail.eml"
done
check "a mail no rule takes (bounced)" 69 nobody@else.test \
	< "$DATA/plain-utf8.eml"
tap_done
