#!/bin/bash
# SPDX-License-Identifier: MIT
# Builds every libFuzzer target in tests/fuzz/ against the library sources, runs each for
# SECONDS (default 10) on a copy of its seed corpus, prints one line per target (name,
# runs, result) and exits non-zero if any crashed, leaked, timed out or failed its oracle.
#
#   tests/fuzz/run.sh [SECONDS]
#
# FUZZ_BUILD (default /tmp/advertd-fuzz) holds the build, the grown corpora, the logs and
# the crash artifacts; the targets' scratch files go to a mktemp directory removed at exit.
# Nothing is written to the source tree. FUZZ_CC (default clang), FUZZ_JOBS (default:
# the number of CPUs) may be set. Needs a configure script (autoreconf -fi) and clang
# with its libFuzzer runtime.
set -euo pipefail

seconds=${1:-10}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: $0 [SECONDS]" >&2
	exit 2
fi

top=$(cd "$(dirname "$0")/../.." && pwd)
fuzzdir=$top/tests/fuzz
build=${FUZZ_BUILD:-/tmp/advertd-fuzz}
cc=${FUZZ_CC:-clang}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
targets=(fuzz_rfc3339 fuzz_advert fuzz_config fuzz_lockout fuzz_history fuzz_kdcmsg fuzz_status
	fuzz_control fuzz_published)

if ! command -v "$cc" >/dev/null; then
	echo "$0: $cc not found (apt-get install clang libclang-rt-14-dev)" >&2
	exit 2
fi
if [ ! -x "$top/configure" ]; then
	echo "$0: $top/configure is missing: run autoreconf -fi first" >&2
	exit 2
fi

mkdir -p "$build/cfg" "$build/obj" "$build/bin" "$build/log"
build=$(cd "$build" && pwd)

# The targets' scratch directories: in memory when we can (the history and the lockout
# state fsync on every write), never group- or other-writable (config_load checks every
# directory up to /), and gone at exit.
scratch_base=/dev/shm
[ -d "$scratch_base" ] && [ -w "$scratch_base" ] || scratch_base=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$scratch_base/advertd-fuzz.XXXXXX")

# Every background job (a compiler, a fuzzer) in a process group of its own, so that an
# interrupted run stops each whole job by its id, and nothing outlives the script.
set -m
pool=()
cleanup() {
	local pid
	for pid in "${pool[@]}"; do
		kill -TERM -- "-$pid" 2>/dev/null || true
	done
	for pid in "${pool[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs "$@" in the background, at most $jobs at a time (the oldest is waited for first);
# pool_wait waits for the rest. Both return 1 if a job they waited for failed.
pool_run() {
	local r=0
	if [ "${#pool[@]}" -ge "$jobs" ]; then
		wait "${pool[0]}" || r=1
		pool=("${pool[@]:1}")
	fi
	"$@" &
	pool+=("$!")
	return "$r"
}
pool_wait() {
	local pid r=0
	for pid in "${pool[@]}"; do
		wait "$pid" || r=1
	done
	pool=()
	return "$r"
}

# config.h (the library includes it) and the flags of every library, from the project's
# own configure: what it found is what the daemon links.
if [ ! -f "$build/cfg/config.h" ] || [ "$top/configure" -nt "$build/cfg/config.status" ]; then
	echo "configure (for config.h and the library flags) in $build/cfg"
	(cd "$build/cfg" && "$top/configure" -q CC="$cc" >"$build/log/configure.log" 2>&1) || {
		echo "$0: configure failed, see $build/log/configure.log" >&2
		exit 1
	}
fi
mkvar() { sed -n "s/^$1 = //p" "$build/cfg/Makefile"; }
# json-c for fuzz_control, which builds the daemon's control.c in.
read -r -a lib_cflags <<<"$(mkvar LIBCONFIG_CFLAGS) $(mkvar KRB5_CFLAGS) $(mkvar LDAP_CFLAGS) \
	$(mkvar SASL_CFLAGS) $(mkvar CRYPTO_CFLAGS) $(mkvar JSONC_CFLAGS)"
read -r -a lib_libs <<<"$(mkvar LIBCONFIG_LIBS) $(mkvar KRB5_LIBS) $(mkvar LDAP_LIBS) \
	$(mkvar SASL_LIBS) $(mkvar CRYPTO_LIBS) $(mkvar RESOLV_LIBS) $(mkvar JSONC_LIBS) \
	$(mkvar SYSTEMD_LIBS)"
# shellcheck disable=SC2054 # the commas are clang's
cflags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
	-I "$top/include" -I "$build/cfg" "${lib_cflags[@]}")

# Rebuilt when older than its source, any header, config.h or this script.
stale() {
	local out=$1 dep
	shift
	[ -f "$out" ] || return 0
	for dep in "$@" "$top"/include/advert/*.h "$fuzzdir/fuzzutil.h" "$build/cfg/config.h" \
		"$fuzzdir/run.sh"; do
		[ "$dep" -nt "$out" ] && return 0
	done
	return 1
}
# Through a temporary name, so that an interrupted build never leaves a fresh-looking
# half-written file behind.
compile() {
	"$cc" "${cflags[@]}" -c "$1" -o "$2.tmp" && mv "$2.tmp" "$2"
}
link() {
	"$cc" "${cflags[@]}" "$fuzzdir/$1.c" "$build/obj/libadvert.a" "${lib_libs[@]}" \
		-o "$build/bin/$1.tmp" && mv "$build/bin/$1.tmp" "$build/bin/$1"
}

echo "build in $build ($cc, $jobs jobs)"
objs=()
ok=1
for src in "$top"/src/lib/*.c; do
	obj=$build/obj/$(basename "$src" .c).o
	objs+=("$obj")
	if stale "$obj" "$src"; then
		pool_run compile "$src" "$obj" || ok=0
	fi
done
pool_wait || ok=0
[ "$ok" = 1 ] || { echo "$0: the library does not build" >&2; exit 1; }
if stale "$build/obj/libadvert.a" "${objs[@]}"; then
	rm -f "$build/obj/libadvert.a"
	ar rcs "$build/obj/libadvert.a" "${objs[@]}"
fi
for t in "${targets[@]}"; do
	if stale "$build/bin/$t" "$fuzzdir/$t.c" "$build/obj/libadvert.a" "$top"/src/advertd/control.[ch]; then
		pool_run link "$t" || ok=0
	fi
done
pool_wait || ok=0
[ "$ok" = 1 ] || { echo "$0: a target does not build" >&2; exit 1; }

# One target: a fresh copy of its seeds (libFuzzer adds to it), its own scratch TMPDIR
# and working directory (an @include in a fuzzed file finds nothing there), no stdin.
# The fuzzer is the job itself, so waiting for it gives its exit status.
fuzz_one() {
	local t=$1 corpus=$build/corpus/$1 art=$build/artifacts/$1 work=$scratch/$1
	rm -rf "$corpus" "$art"
	mkdir -p "$corpus" "$art" "$work/tmp"
	chmod 0755 "$work" "$work/tmp"
	cp "$fuzzdir/corpus/$t"/* "$corpus"/
	cd "$work"
	export TMPDIR=$work/tmp
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
	export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$fuzzdir/lsan.supp:print_suppressions=0}
	exec "$build/bin/$t" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$art/" "$corpus" \
		</dev/null >"$build/log/$t.log" 2>&1
}

echo "fuzzing ${#targets[@]} targets for ${seconds}s each, $jobs at a time"
declare -A rc_of
started=()
finish_oldest() {
	local rc=0
	wait "${pool[0]}" || rc=$?
	rc_of[${started[0]}]=$rc
	pool=("${pool[@]:1}")
	started=("${started[@]:1}")
}
for t in "${targets[@]}"; do
	[ "${#pool[@]}" -lt "$jobs" ] || finish_oldest
	fuzz_one "$t" &
	pool+=("$!")
	started+=("$t")
done
while [ "${#pool[@]}" -gt 0 ]; do
	finish_oldest
done

# Columns $2 of the first line of $log matching $1, fuzzed bytes shown as '?'.
first() {
	{ grep -a -m1 -e "$1" "$log" || true; } | LC_ALL=C tr -c '[:print:]\n' '?' | cut -c"$2"
}

status=0
shopt -s nullglob
printf '%-14s %10s  %s\n' target runs result
for t in "${targets[@]}"; do
	rc=${rc_of[$t]}
	log=$build/log/$t.log
	[ -f "$log" ] || : >"$log"
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	[ -n "$runs" ] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		result=ok
	else
		status=1
		if grep -aq '^fuzz oracle failed' "$log"; then
			result="oracle failed: $(first '^fuzz oracle failed' '21-140')"
		elif grep -aq 'ERROR: LeakSanitizer' "$log"; then
			result="leak: $(first '^SUMMARY: AddressSanitizer' '28-100')"
		elif grep -aq 'ERROR: libFuzzer: timeout' "$log"; then
			result=timeout
		elif grep -aq 'ERROR: libFuzzer: out-of-memory' "$log"; then
			result='out-of-memory'
		elif grep -aq 'runtime error:' "$log"; then
			result="undefined behaviour: $(first 'runtime error:' '1-120')"
		elif grep -aq 'ERROR: AddressSanitizer' "$log"; then
			result="crash: $(first '^SUMMARY: AddressSanitizer' '28-120')"
		else
			result="failed (exit $rc)"
		fi
		artifacts=("$build/artifacts/$t"/*)
		result="$result; log $log${artifacts[0]:+; input ${artifacts[0]}}"
	fi
	printf '%-14s %10s  %s\n' "$t" "${runs:-?}" "$result"
done
exit "$status"
