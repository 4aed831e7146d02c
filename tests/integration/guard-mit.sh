#!/bin/bash
# SPDX-License-Identifier: MIT
# The lockout guard under real faults on the two-DC MIT realm: a reply withheld by a
# proxy after the KDC counted the bad password, a full state disk, a damaged state file,
# hung DCs. In every case the sum of bad attempts over both KDCs stays within what the
# README promises, and the account never locks. Addresses 127.0.15.x.

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

realm_start mit 127.0.15

PROXY=$top_builddir/tests/helpers/kdcproxy
FULL=$REALM_DIR/full
PROXIES=()
STOPPED=()
cleanup() {
	local p
	for p in "${STOPPED[@]}"; do kill -CONT "$p" 2>/dev/null; done
	for p in "${PROXIES[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	mountpoint -q "$FULL" && umount "$FULL"
	return 0
}
trap 'cleanup; realm_exit_trap' EXIT

# Bad attempts the KDCs counted for PRINCIPAL, summed over both, and whether either
# locked it.
bad_attempts() {
	local n sum=0 out
	for n in 1 2; do
		out=$("$REALM_SCRIPT" failures "$REALM_DIR" "dc$n" "$1")
		sum=$((sum + $(sed -n 's/.*failures=\([0-9]*\).*/\1/p' <<<"$out")))
		[[ $out == *locked=yes* ]] && sum=$((sum + 1000))
	done
	echo "$sum"
}
unlock() { "$REALM_SCRIPT" unlock "$REALM_DIR" "$1" >/dev/null; sleep 1.1; }
pid_of() { awk '{ print $1 }' "$REALM_DIR/run/$1.pid"; }

# A password file of our own for pwinstall: SECRET NAME → its path.
secret() {
	local f=$REALM_DIR/secrets/$2
	printf '%s\n' "$1" >"$f"
	chmod 600 "$f"
	echo "$f"
}
wrong=$(secret 'Wr0ng!Password-1' wrong)
with_secret() { echo "s|$PWINSTALL_PASSWORD_FILE|$1|"; }

# --- a lost reply: the KDC counts it, advertd sees nothing -------------------------------
"$PROXY" -w -l "$REALM_DIR/proxy1.log" 127.0.15.11 "$DC1_ADDR" &
PROXIES+=($!)
"$PROXY" -w -l "$REALM_DIR/proxy2.log" 127.0.15.12 "$DC2_ADDR" &
PROXIES+=($!)
for a in 11 12; do
	for _ in $(seq 50); do ss -Hltn "src 127.0.15.$a:88" | grep -q . && break; sleep 0.1; done
done
lost=$(DC1_VIA=127.0.15.11 DC2_VIA=127.0.15.12 \
	conf lost "1 2" "$(with_secret "$wrong"); s|timeout = 5|timeout = 2|")
unlock pwinstall
identity_run "$lost" pwinstall
expect "lost reply: no answer to the secret is exit 5, naming the DC" \
	has "dc1.example.test got the secret and gave no answer"
expect "lost reply: exit 5" test $RC -eq 5
expect "lost reply: the secret went to no other DC" \
	test "$(grep -c withheld "$REALM_DIR/proxy2.log")" -eq 0
for _ in 1 2 3 4; do
	identity_run "$lost" pwinstall
	[[ $RC -eq 3 ]] || break
done
expect "lost reply: every later run is held by the guard (exit 3), nothing sent" test $RC -eq 3
expect "lost reply: the hold says why" has "no answer was recorded"
expect "lost reply: the proxies withheld exactly one reply in all" \
	test "$(cat "$REALM_DIR"/proxy[12].log | grep -c withheld)" -eq 1
n=$(bad_attempts pwinstall)
expect "lost reply: 5 runs, bad attempts summed over both KDCs ≤ 1, not locked ($n)" \
	test "$n" -le 1
state=$REALM_DIR/state-lost/lockout/pwinstall/state
expect "lost reply: the guard's state says in-flight" grep -q '^outcome=in-flight$' "$state"
new=$(secret 'An0ther!Wrong-2' wrong2)
lost2=$(STATE=$REALM_DIR/state-lost DC1_VIA=127.0.15.11 DC2_VIA=127.0.15.12 \
	conf lost2 "1 2" "$(with_secret "$new"); s|timeout = 5|timeout = 2|")
identity_run "$lost2" pwinstall
expect "lost reply: a changed secret is a new question (one more attempt)" test $RC -eq 5
for p in "${PROXIES[@]}"; do kill "$p"; wait "$p" 2>/dev/null; done
PROXIES=()

# --- a full state disk: nothing is sent that could not first be recorded ----------------
unlock pwinstall
mkdir -p "$FULL"
if mount -t tmpfs -o size=64k,mode=0700 advertd-guard "$FULL"; then
	full=$(STATE=$FULL/state conf full "1 2" "$(with_secret "$wrong")")
	mkdir -p "$FULL/state/lockout/pwinstall"
	dd if=/dev/zero of="$FULL/filler" bs=4k 2>/dev/null
	fails=0
	for _ in 1 2 3; do
		identity_run "$full" pwinstall
		[[ $RC -eq 3 && $OUT == *"No space left on device"*"nothing was sent"* ]] ||
			fails=$((fails + 1))
	done
	expect "full disk: 3 runs, each held with the reason (exit 3)" test $fails -eq 0
	n=$(bad_attempts pwinstall)
	expect "full disk: 0 bad attempts on both KDCs ($n)" test "$n" -eq 0
	rm -f "$FULL/filler"
	good=$(STATE=$FULL/state conf fullgood "1 2")
	identity_run "$good" pwinstall
	expect "full disk: space freed, the right secret succeeds" test $RC -eq 0
	umount "$FULL"
else
	not_ok "mount a small tmpfs for the full-disk test"
fi

# --- a damaged state file: send nothing until the secret changes ------------------------
unlock pwinstall
dmg=$(conf damaged "1 2" "$(with_secret "$wrong")")
state=$REALM_DIR/state-damaged/lockout/pwinstall/state
identity_run "$dmg" pwinstall
expect "damaged: the first wrong secret is rejected once (exit 4)" test $RC -eq 4
unlock pwinstall
damage() { # HOW: truncate | empty | flip
	case $1 in
	truncate) head -c 40 "$state" >"$state.x" && mv "$state.x" "$state" ;;
	empty) : >"$state" ;;
	flip) python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=0x04; open(p,"wb").write(b)' "$state" ;;
	esac
}
for how in truncate empty flip; do
	damage $how
	identity_run "$dmg" pwinstall
	expect "damaged ($how): held (exit 3), the message names the file" \
		test $RC -eq 3 -a "${OUT/$state/}" != "$OUT"
	expect "damaged ($how): the damaged file is kept for the admin" test -f "$state.damaged"
	identity_run "$dmg" pwinstall
	expect "damaged ($how): and the next run still holds" test $RC -eq 3
done
n=$(bad_attempts pwinstall)
expect "damaged: nothing was sent while the state was damaged ($n)" test "$n" -eq 0
other=$(secret 'Th1rd!Wrong-3' wrong3)
dmg2=$(STATE=$REALM_DIR/state-damaged conf damaged2 "1 2" "$(with_secret "$other")")
identity_run "$dmg2" pwinstall
n=$(bad_attempts pwinstall)
expect "damaged: a new secret gets exactly one attempt ($n)" test $RC -eq 4 -a "$n" -eq 1

# --- hung DCs: the deadline holds ---------------------------------------------------------
unlock pwinstall
hung=$(conf hung "1 2" "s|timeout = 5|timeout = 2|")
kill -STOP "$(pid_of kdc1)" "$(pid_of slapd1)"
STOPPED=("$(pid_of kdc1)" "$(pid_of slapd1)")
t0=$EPOCHREALTIME
identity_run "$hung" swinstall
secs=$(_secs "$t0")
expect "DC1 hung: the run completes on DC2 (${secs} s)" test $RC -eq 0
expect "DC1 hung: the failover is reported" has "dc1\.example\.test \(no answer\), dc2"
requests=$(sed -n 's/^requests *\([0-9]*\) KDC.*/\1/p' <<<"$OUT")
# DC2 alone takes 3 (AS, AS with preauth, TGS for ldap/); DC1 got one more before it hung.
expect "DC1 hung: the request DC1 got before it stopped answering is counted (${requests:-?})" \
	test "${requests:-0}" -ge 4
expect "DC1 hung: within timeout + 3 s" test "${secs%.*}" -lt 5
kill -STOP "$(pid_of kdc2)" "$(pid_of slapd2)"
STOPPED+=("$(pid_of kdc2)" "$(pid_of slapd2)")
t0=$EPOCHREALTIME
identity_run "$hung" swinstall
secs=$(_secs "$t0")
expect "all hung: exit 5 (${secs} s)" test $RC -eq 5
expect "all hung: within 2 × timeout + 3 s" test "${secs%.*}" -lt 7
for p in "${STOPPED[@]}"; do kill -CONT "$p"; done
STOPPED=()

# A hung directory alone (the KDC answers): the lookup is bounded too.
kill -STOP "$(pid_of slapd1)"
STOPPED=("$(pid_of slapd1)")
t0=$EPOCHREALTIME
only1=$(conf only1 "1" "s|timeout = 5|timeout = 2|")
identity_run "$only1" swinstall
secs=$(_secs "$t0")
expect "slapd hung: exit 5 within timeout + 3 s (${secs} s)" \
	test $RC -eq 5 -a "${secs%.*}" -lt 5
kill -CONT "$(pid_of slapd1)"
STOPPED=()

# --- a fresh install: no state_dir yet -------------------------------------------------------
fresh=$(conf fresh "1 2")
rm -rf "$REALM_DIR/state-fresh"
identity_run "$fresh" swinstall
expect "fresh install: --test-identity creates state_dir and succeeds" test $RC -eq 0
expect "fresh install: state_dir is 0700" \
	test "$(stat -c %a "$REALM_DIR/state-fresh")" = 700
OUT=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$top_builddir/src/advertd/advertd" -c "$fresh" --test-identity swinstall 2>&1)
RC=$?
expect "non-root: one clear sentence" has "must run as root"

cleanup
finish
