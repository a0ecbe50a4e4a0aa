#!/bin/bash
# tests/bench.sh - time and memory per mail (make bench).
#
# Runs the real program the way a mail server does, once per mail, and
# prints figures; it asserts nothing.  Two paths are measured:
#   dry-run  reading and extracting only (no network, no reply);
#   full     the whole job against the fake service on 127.0.0.1:
#            journal, uploads, Add and the reply (captured).
# Each mail of tests/data is run RUNS times (default 50; first argument)
# with a fresh Message-ID, so that no run is a duplicate.  Wall time
# includes starting the process; memory is the peak resident size of
# each run (getrusage of the child).
set -u
. "$(dirname "$0")/lib/common.sh"

runs=${1:-50}
work=$(mktemp -d /tmp/m2t-bench.XXXXXX)
trap 'fake_stop; rm -rf "$work"' EXIT
fake_start "$work" || { echo "bench: the fake service did not start" >&2; exit 1; }
write_config "$work"

"$PYTHON3" - "$M2T" "$work" "$DATA" "$runs" <<'PY'
import os, re, resource, statistics, subprocess, sys, time

m2t, work, data, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
config = os.path.join(work, "mail2ticket.conf")
mails = sorted(f for f in os.listdir(data) if f.endswith(".eml"))


def with_new_id(raw, tag):
    """The mail with a Message-ID of its own (added when missing)."""
    new = b"Message-ID: <bench-%s@customer.test>" % tag.encode()
    raw, count = re.subn(rb"(?im)^message-id:[^\n]*(\n[ \t][^\n]*)*", new,
                         raw, count=1)
    return raw if count else new + b"\n" + raw


def run(args, mail):
    """Wall seconds and peak RSS (KiB) of one run; its exit status."""
    start = time.perf_counter()
    proc = subprocess.Popen([m2t, "--config=" + config] + args,
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    proc.stdin.write(mail)
    proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss, proc.returncode


def measure(label, args):
    times, rss, bad, n = [], [], 0, 0
    for name in mails:
        raw = open(os.path.join(data, name), "rb").read()
        for _ in range(runs):
            n += 1
            seconds, kib, status = run(args, with_new_id(raw, "%s-%d" % (label, n)))
            times.append(seconds * 1000)
            rss.append(kib)
            bad += status != 0
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print("%-8s %5d runs  median %6.2f ms  p95 %6.2f ms  max %6.2f ms  "
          "peak RSS median %5.1f MiB max %5.1f MiB  non-zero exits %d"
          % (label, len(times), statistics.median(times), p95, times[-1],
             statistics.median(rss) / 1024, max(rss) / 1024, bad))


print("mail2ticket benchmark: %d mails from tests/data, %d runs each"
      % (len(mails), runs))
measure("dry-run", ["--dry-run", "--sender=li.na@customer.test",
                    "support@support.test"])
measure("full", ["--sender=li.na@customer.test", "support@support.test"])
PY
