#!/bin/bash
# tests/fuzz.sh - fuzz the read-and-extract path with libFuzzer.
#
# Builds tests/fuzz-message.c with clang (-fsanitize=fuzzer,address,
# undefined) and every src/*.c but main.c, outside the Autotools build,
# then runs it on a copy of tests/data/*.eml for SECONDS seconds, in one
# process.  A crash, a leak, a timeout, a memory blow-up or a broken
# promise of the harness (invalid UTF-8, empty title) is a finding: the
# input is kept in the work folder, its path printed, and the exit
# status is 1.
#
#   tests/fuzz.sh [OPTIONS] [SECONDS] [-- LIBFUZZER-OPTIONS...]
#     --tap        TAP output (the default under make check, which
#                  exports top_builddir, when SECONDS is not given)
#     --build DIR  build folder, kept and reused (default: under make
#                  check $top_builddir/tests/fuzz-build, else temporary)
#     --work DIR   corpus and findings, kept (default: temporary; kept
#                  when there is a finding or outside TAP mode)
#     --run FILE.. build, then run the harness once on each FILE (to
#                  reproduce a finding); no fuzzing
# SECONDS defaults to 60, and to $M2T_FUZZ_SECONDS (else 25) in TAP mode.
set -u

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
CLANG=${CLANG:-clang}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
PACKAGES="gmime-3.0 glib-2.0 libcurl libcjson libxml-2.0"

tap=
seconds=
build=
work=
run_files=()
fuzzer_args=()

# Parse the command line.
if [ $# -eq 0 ] && [ -n "${top_builddir:-}" ]; then
	tap=1
fi
while [ $# -gt 0 ]; do
	case $1 in
	--tap) tap=1 ;;
	--build) build=$2; shift ;;
	--build=*) build=${1#*=} ;;
	--work) work=$2; shift ;;
	--work=*) work=${1#*=} ;;
	--run) shift; run_files=("$@"); break ;;
	--) shift; fuzzer_args=("$@"); break ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0 ;;
	*[!0-9]*|'') echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
	*) seconds=$1 ;;
	esac
	shift
done
if [ -z "$seconds" ]; then
	if [ -n "$tap" ]; then
		seconds=${M2T_FUZZ_SECONDS:-25}
	else
		seconds=60
	fi
fi

# say TEXT: a line for people; a TAP comment in TAP mode.
say() {
	if [ -n "$tap" ]; then
		printf '# %s\n' "$*"
	else
		printf '%s\n' "$*"
	fi
}

# skip REASON: nothing can be fuzzed here.
skip() {
	if [ -n "$tap" ]; then
		echo "1..0 # SKIP $1"
		exit 0
	fi
	echo "fuzz.sh: $1" >&2
	exit 77
}

# fail REASON: the run itself went wrong, or found something.
fail() {
	if [ -n "$tap" ]; then
		echo "not ok 1 - $1"
		echo "1..1"
	else
		echo "fuzz.sh: $1" >&2
	fi
	exit 1
}

# Folders removed at exit: the probe, a temporary build folder, and a
# temporary work folder in TAP mode unless something was found.
temporaries=()
drop_work=
# shellcheck disable=SC2317 # (called by the trap)
cleanup() {
	local t
	for t in "${temporaries[@]}"; do
		rm -rf "$t"
	done
	if [ -n "$drop_work" ]; then
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# clang must build and link a fuzzer at all, else there is nothing to do.
probe=$(mktemp -d "${TMPDIR:-/tmp}/m2t-fuzz-probe.XXXXXX") || exit 1
temporaries+=("$probe")
printf '%s\n' '#include <stddef.h>' \
	'int LLVMFuzzerTestOneInput(const unsigned char *d, size_t n)' \
	'{ (void) d; (void) n; return 0; }' > "$probe/probe.c"
command -v "$CLANG" >/dev/null 2>&1 ||
	skip "clang with libFuzzer not available (no $CLANG)"
"$CLANG" -fsanitize=fuzzer,address,undefined -o "$probe/probe" \
	"$probe/probe.c" >/dev/null 2>&1 ||
	skip "clang with libFuzzer not available"
# shellcheck disable=SC2086
$PKG_CONFIG --exists $PACKAGES ||
	skip "pkg-config does not find $PACKAGES"

# The build folder, kept between runs under make check.
if [ -z "$build" ]; then
	if [ -n "${top_builddir:-}" ]; then
		build=$top_builddir/tests/fuzz-build
	else
		build=$(mktemp -d "${TMPDIR:-/tmp}/m2t-fuzz-build.XXXXXX") ||
			exit 1
		temporaries+=("$build")
	fi
fi
mkdir -p "$build/obj" || fail "cannot create $build"

# autoconfig.h as configure makes it, with HAVE_YTNEF when ytnef.h
# compiles and libytnef has TNEFParseMemory (configure.ac's two tests;
# M2T_FUZZ_YTNEF=no is its --without-ytnef).
version=$(sed -n 's/^AC_INIT(\[mail2ticket\], \[\([^]]*\)\].*/\1/p' \
	"$top_srcdir/configure.ac")
ytnef_libs=
{
	echo "/* Made by tests/fuzz.sh for the fuzzing build. */"
	echo "#define PACKAGE \"mail2ticket\""
	echo "#define PACKAGE_NAME \"mail2ticket\""
	echo "#define PACKAGE_VERSION \"${version:-0}\""
	echo "#define VERSION \"${version:-0}\""
	# configure's AC_USE_SYSTEM_EXTENSIONS (memmem and friends).
	echo "#define _GNU_SOURCE 1"
	printf '%s\n' '#include <stdio.h>' '#include <stdlib.h>' \
		'#include <ytnef.h>' > "$probe/ytnef-h.c"
	printf '%s\n' 'char TNEFParseMemory(void);' \
		'int main(void) { return TNEFParseMemory(); }' \
		> "$probe/ytnef-lib.c"
	if [ "${M2T_FUZZ_YTNEF:-yes}" != no ] &&
	   "$CLANG" -c -o "$probe/ytnef-h.o" "$probe/ytnef-h.c" \
		>/dev/null 2>&1 &&
	   "$CLANG" -o "$probe/ytnef" "$probe/ytnef-lib.c" -lytnef \
		>/dev/null 2>&1; then
		echo "#define HAVE_YTNEF 1"
	fi
} > "$probe/autoconfig.h"
grep -q HAVE_YTNEF "$probe/autoconfig.h" && ytnef_libs=-lytnef
# Replaced only when it changed, so that objects stay up to date.
cmp -s "$probe/autoconfig.h" "$build/autoconfig.h" ||
	cp "$probe/autoconfig.h" "$build/autoconfig.h"

# shellcheck disable=SC2086
cflags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
	-fno-sanitize-recover=undefined -Werror=implicit-function-declaration
	-I$build -I$top_srcdir/src $($PKG_CONFIG --cflags $PACKAGES)"
# shellcheck disable=SC2086
libs="$($PKG_CONFIG --libs $PACKAGES) $ytnef_libs"

# Rebuild an object when its source, a header, autoconfig.h or the
# flags are newer or different.
echo "$CLANG $cflags" > "$probe/flags"
cmp -s "$probe/flags" "$build/flags" || {
	rm -f "$build"/obj/*.o "$build/fuzz-message"
	cp "$probe/flags" "$build/flags"
}
# shellcheck disable=SC2012 # (our own file names)
newest_header=$(ls -t "$top_srcdir"/src/*.h "$build/autoconfig.h" |
	head -n 1)
objects=()
for src in "$top_srcdir"/src/*.c "$top_srcdir/tests/fuzz-message.c"; do
	name=$(basename "$src" .c)
	[ "$name" = main ] && continue
	obj=$build/obj/$name.o
	objects+=("$obj")
	if [ ! -e "$obj" ] || [ "$src" -nt "$obj" ] ||
	   [ "$newest_header" -nt "$obj" ]; then
		# The harness is held to -Wall -Wextra here; src/ is, by
		# configure's own build, with the compiler it uses.
		warn=
		[ "$name" = fuzz-message ] && warn="-Wall -Wextra"
		# shellcheck disable=SC2086
		"$CLANG" $cflags $warn -c -o "$obj" "$src" \
			> "$probe/cc.log" 2>&1 || {
			sed 's/^/# /' "$probe/cc.log"
			fail "clang cannot compile $src"
		}
		if [ -s "$probe/cc.log" ]; then
			sed 's/^/# /' "$probe/cc.log"
		fi
	fi
done
binary=$build/fuzz-message
# shellcheck disable=SC2086
"$CLANG" -fsanitize=fuzzer,address,undefined -o "$binary" \
	"${objects[@]}" $libs > "$probe/ld.log" 2>&1 || {
	sed 's/^/# /' "$probe/ld.log"
	fail "clang cannot link the harness"
}

# Plain malloc for GLib, so that ASan sees every block; stop on the
# first error of either sanitizer.
export G_SLICE=always-malloc
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [ ${#run_files[@]} -gt 0 ]; then
	"$binary" "${run_files[@]}"
	exit $?
fi

# The work folder: the corpus grows here, never in tests/data.
if [ -z "$work" ]; then
	work=$(mktemp -d "${TMPDIR:-/tmp}/m2t-fuzz.XXXXXX") || exit 1
	[ -n "$tap" ] && drop_work=1
fi
mkdir -p "$work/corpus" "$work/findings" || fail "cannot create $work"
cp "$top_srcdir"/tests/data/*.eml "$work/corpus/" ||
	fail "cannot seed the corpus from tests/data"
dict=()
[ -f "$top_srcdir/tests/fuzz-message.dict" ] &&
	dict=(-dict="$top_srcdir/tests/fuzz-message.dict")
log=$work/fuzz.log
# Findings of earlier runs in the same work folder are not counted.
: > "$work/started"

say "fuzzing for $seconds s in $work"
"$binary" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
	-print_final_stats=1 -artifact_prefix="$work/findings/" \
	"${dict[@]}" "${fuzzer_args[@]}" "$work/corpus" > "$log" 2>&1
status=$?

# The figures, from libFuzzer's own lines.
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
added=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -n 1)
rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*/[0-9]*[a-zA-Z]*' \
	"$log" | tail -n 1)
findings=$(find "$work/findings" -type f -newer "$work/started" | sort)
count=$(printf '%s' "$findings" | grep -c .)
say "runs: ${runs:-?}, execs/s: ${speed:-?}, ${cov:-cov: ?}," \
	"new units: ${added:-?}, peak RSS: ${rss:-?} MB, findings: $count"

if [ "$count" -gt 0 ] || [ "$status" -ne 0 ]; then
	# Keep everything for whoever looks into it.
	drop_work=
	grep -E 'INVARIANT|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY' \
		"$log" | head -n 5 | while IFS= read -r line; do
		say "$line"
	done
	for f in $findings; do
		say "finding: $f"
	done
	say "log: $log"
	keep_build="--build $build "
	[[ " ${temporaries[*]} " == *" $build "* ]] && keep_build=
	say "reproduce: $0 $keep_build--run ${findings%%$'\n'*}"
	[ "$count" -gt 0 ] || fail "libFuzzer failed (exit $status)"
	fail "fuzzing found $count input(s) (libFuzzer exit $status)"
fi
if [ -n "$tap" ]; then
	echo "ok 1 - fuzzed $seconds s, ${runs:-?} runs, no finding"
	echo "1..1"
else
	say "no finding; corpus kept in $work/corpus (go on: $0 --work $work SECONDS)"
fi
exit 0
