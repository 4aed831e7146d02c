# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# tests/integration/lib.sh -- shared helpers for advertd's integration tests.
# Sourced (bash). Provides:
#   check DESC CMD...        ok if CMD succeeds
#   check_fails DESC CMD...  ok if CMD fails
#   check_output DESC REGEX CMD...   ok if CMD succeeds and its output matches REGEX
#   ok DESC / not_ok DESC [DETAIL...]
#   realm_start KIND PREFIX  start a realm (mit|ad) in a fresh temp dir, source its
#                            realm.env, and stop it on EXIT whatever happens
#   realm_stop_checked       stop it now and check nothing is left running/listening
#   finish                   print "N passed, M failed" and exit 0 (all ok) or 1
# Output: TAP — one "ok - ..." / "not ok - ..." line per check, details of failures as
# "# ..." lines, and the plan "1..N" at the end (automake's tap-driver counts each).
# A realm that cannot start is a failure, never a skip.
# Needs root (the realm's daemons bind privileged ports and use mount namespaces).

set -uo pipefail

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
top_builddir=${top_builddir:-$top_srcdir}
REALM_SCRIPT=$top_srcdir/scripts/realm
TESTS_PASSED=0
TESTS_FAILED=0
REALM_DIR=""
REALM_STOPPED=1
# Scratch space for the test itself (ccaches, outputs); removed on exit.
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/advertd-test.XXXXXX")
# Never let a test touch the caller's ticket cache or the machine's krb5.conf.
export KRB5CCNAME="FILE:$TEST_TMP/ccache"
unset KRB5_CONFIG LDAPCONF

ok() {
    TESTS_PASSED=$((TESTS_PASSED + 1))
    echo "ok - $1"
}

not_ok() {
    TESTS_FAILED=$((TESTS_FAILED + 1))
    echo "not ok - $1"
    shift
    local line
    for line in "$@"; do
        while IFS= read -r l; do echo "#   $l"; done <<<"$line"
    done
}

# Run CMD with output captured in $OUT (for the caller to inspect).
run() { OUT=$("$@" 2>&1); }

check() {
    local desc=$1; shift
    if run "$@"; then ok "$desc"; else not_ok "$desc" "command: $*" "$OUT"; fi
}

check_fails() {
    local desc=$1; shift
    if run "$@"; then not_ok "$desc" "unexpectedly succeeded: $*" "$OUT"; else ok "$desc"; fi
}

check_output() {
    local desc=$1 re=$2; shift 2
    if run "$@" && [[ $OUT =~ $re ]]; then ok "$desc"
    else not_ok "$desc" "command: $*" "expected to match: $re" "output:" "$OUT"; fi
}

# For checks on the output of `advertd --test-identity` (identity_run sets OUT and RC):
# expect DESC CONDITION… is ok when the condition holds; has REGEX matches OUT; and
# identity_groups prints the gids of OUT's "groups" line, sorted.
identity_run() { OUT=$("$top_builddir/src/advertd/advertd" -c "$1" --test-identity "$2" 2>&1); RC=$?; }
expect() {
    local desc=$1; shift
    if "$@"; then ok "$desc"; else not_ok "$desc" "status $RC" "$OUT"; fi
}
has() { [[ $OUT =~ $1 ]]; }
identity_groups() { sed -n 's/^groups *//p' <<<"$OUT" | tr ' ' '\n' | sed 's/(.*//' | sort -n | xargs; }

# conf NAME SERVERS [SED-EXPR]: a variant of the realm's advertd.conf listing only the
# given DCs (in that order; "1" is DC1_HOST at DC1_ADDR, or at DCn_VIA when set), with
# its own state directory unless STATE is set.
conf() {
	local name=$1 servers=$2 extra=${3:-} list="" n host addr
	for n in $servers; do
		host=DC${n}_HOST addr=DC${n}_VIA; [[ -n ${!addr:-} ]] || addr=DC${n}_ADDR
		list+="${list:+, }{ host = \"${!host}\"; address = \"${!addr}\"; }"
	done
	local state=${STATE:-$REALM_DIR/state-$name}
	mkdir -p "$state"
	sed -e "/^  servers = /,/); *$/c\\  servers = ( $list );" \
	    -e "s|^state_dir *=.*|state_dir = \"$state\";|" ${extra:+-e "$extra"} \
	    "$ADVERTD_CONF" >"$REALM_DIR/$name.conf"
	chmod 644 "$REALM_DIR/$name.conf"
	echo "$REALM_DIR/$name.conf"
}

# Lines each DC has logged so far (KDC + slapd): a request shows up as new lines.
dc_lines() { local k=DC$1_KDC_LOG l=DC$1_LDAP_LOG; cat "${!k}" "${!l}" | wc -l; }

# Kerberos login helpers; each uses its own ccache under TEST_TMP.
# kinit_keytab KRB5_CONFIG KEYTAB PRINCIPAL
kinit_keytab() {
    KRB5_CONFIG=$1 kinit -k -t "$2" "$3"
}
# kinit_password KRB5_CONFIG PRINCIPAL PASSWORD
kinit_password() {
    printf '%s\n' "$3" | KRB5_CONFIG=$1 kinit "$2" >/dev/null
}

# The realm's daemons: none of the processes started in REALM_DIR may be left.
realm_leftovers() {
    local out=""
    [[ -n $REALM_DIR ]] || return 0
    out+=$(pgrep -a -f -- "$REALM_DIR/" 2>/dev/null || true)
    local prefix=${REALM_PREFIX:-}
    if [[ -n $prefix ]]; then
        out+=$(ss -Hltnp 2>/dev/null | awk -v p="$prefix." 'index($4, p) == 1' || true)
    fi
    [[ -z $out ]] || { echo "$out"; return 1; }
}

realm_start() {
    local kind=$1 prefix=$2
    REALM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/advertd-realm.XXXXXX")
    REALM_PREFIX=$prefix
    REALM_STOPPED=0
    trap realm_exit_trap EXIT
    trap 'exit 1' INT TERM HUP
    local t0=$EPOCHREALTIME
    if ! run "$REALM_SCRIPT" start "$REALM_DIR" "--$kind" --prefix "$prefix"; then
        not_ok "the $kind realm starts at $prefix.*" "$OUT"
        finish
    fi
    ok "the $kind realm starts at $prefix.* ($(_secs "$t0") s)"
    # shellcheck source=/dev/null
    . "$REALM_DIR/realm.env"
    unset KRB5_CONFIG LDAPCONF   # tests pick a config explicitly
}

realm_stop_checked() {
    [[ $REALM_STOPPED -eq 0 ]] || return 0
    local t0=$EPOCHREALTIME
    if run "$REALM_SCRIPT" stop "$REALM_DIR"; then ok "the realm stops ($(_secs "$t0") s)"
    else not_ok "the realm stops" "$OUT"; fi
    REALM_STOPPED=1
    check "no realm process or listener is left" realm_leftovers
    check "stopping again is harmless" "$REALM_SCRIPT" stop "$REALM_DIR"
}

realm_exit_trap() {
    local rc=$?
    if [[ $REALM_STOPPED -eq 0 ]]; then
        echo "# stopping the realm after an early exit"
        "$REALM_SCRIPT" stop "$REALM_DIR" >/dev/null 2>&1 || true
        REALM_STOPPED=1
        rc=1
    fi
    _cleanup_dirs
    exit "$rc"
}

_cleanup_dirs() {
    rm -rf "$TEST_TMP"
    if [[ -n $REALM_DIR && -d $REALM_DIR ]]; then
        if [[ $TESTS_FAILED -gt 0 || -n ${KEEP_REALM:-} ]]; then
            echo "# realm directory kept for inspection: $REALM_DIR"
        else
            rm -rf "$REALM_DIR"
        fi
    fi
}

_secs() {
    local now=$EPOCHREALTIME us
    us=$(( ${now/./} - ${1/./} ))
    printf '%d.%03d' $((us / 1000000)) $(((us % 1000000) / 1000))
}

finish() {
    realm_stop_checked
    echo "1..$((TESTS_PASSED + TESTS_FAILED))" # the TAP plan, at the end
    echo "# $TESTS_PASSED passed, $TESTS_FAILED failed"
    trap - EXIT
    _cleanup_dirs
    [[ $TESTS_FAILED -eq 0 && $TESTS_PASSED -gt 0 ]] && exit 0
    exit 1
}

[[ $EUID -eq 0 ]] || { echo "not ok - integration tests must run as root"; echo "1..1"; exit 1; }
