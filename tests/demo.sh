#!/bin/bash
# tests/demo.sh - the README's demo (make demo).
#
# Starts the fake Alibaba Cloud service on 127.0.0.1, runs the real
# mail2ticket on a customer's mail (tests/data/demo-customer.eml) the way
# Postfix would, and shows what happened: the log line, the ticket the
# fake service received with its uploaded attachments, and the reply the
# customer would get.  Everything lives in a temporary folder that is
# removed at the end.
set -u
. "$(dirname "$0")/lib/common.sh"

work=$(mktemp -d /tmp/mail2ticket-demo.XXXXXX)
trap 'fake_stop; rm -rf "$work"' EXIT

if ! fake_start "$work"; then
	echo "demo: the fake service did not start:" >&2
	cat "$work/fake.out" >&2
	exit 1
fi
write_config "$work"

echo "== mail2ticket --sender=zhang.wei@customer.test support@support.test" \
     "< tests/data/demo-customer.eml"
"$M2T" --verbose --config="$work/mail2ticket.conf" \
	--sender=zhang.wei@customer.test support@support.test \
	< "$DATA/demo-customer.eml"
status=$?
echo "== exit status: $status"
[ "$status" -eq 0 ] || exit 1

echo
echo "== the ticket, as the fake workorder service received it"
fake_ctl "$work" state | "$PYTHON3" -c '
import json, sys
s = json.load(sys.stdin)
t = s["tickets"][-1]
p = t.get("params", t)
print("ticket ID:   ", t.get("id"))
for k in ("productId", "aliUid", "title", "email", "attachments"):
    print("%-13s %s" % (k + ":", p.get(k)))
print("content:")
for line in p.get("content", "").splitlines()[:12]:
    print("   ", line)
print("uploads to OSS:")
for u in s["uploads"]:
    print("    %s (%s, %d bytes)" % (u["key"], u.get("content_type"), u["size"]))
'

echo
echo "== the reply the customer would get"
reply=$(ls "$work"/outbox/reply-*.eml 2>/dev/null | head -1)
if [ -z "$reply" ]; then
	echo "demo: no reply was sent" >&2
	exit 1
fi
echo "(sendmail $(tr '\n' ' ' < "${reply%.eml}.args"))"
"$PYTHON3" -c '
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"),
                                   policy=email.policy.default)
for h in ("From", "To", "Subject", "In-Reply-To", "Auto-Submitted"):
    print("%s: %s" % (h, m[h]))
print()
print(m.get_content())' "$reply"
