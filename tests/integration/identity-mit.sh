#!/bin/bash
# SPDX-License-Identifier: MIT
# advertd --test-identity against the two-DC MIT realm: the right ids and nested groups,
# every run on exactly one DC (asserted from both DCs' KDC and slapd logs), the lockout
# guard (one rejected attempt per secret, ever; nothing sent to a locked account),
# failover only when a DC does not answer, and no request at all without a usable secret.
# Addresses 127.0.2.x.

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

realm_start mit 127.0.2

# identity CONF ACCOUNT: runs it, leaves the output in $OUT and the status in $RC.
identity() { identity_run "$1" "$2"; }


both=$(conf both "1 2")
only1=$(STATE=$REALM_DIR/state-pin conf only1 "1")
only2=$(STATE=$REALM_DIR/state-pin conf only2 "2")

# --- the right answer, on one DC, cheaply ------------------------------------------
a1=$(dc_lines 1) a2=$(dc_lines 2)
identity "$both" swinstall
expect "swinstall: test-identity succeeds" test $RC -eq 0
expect "swinstall: uid $SWINSTALL_UID, gid $INSTALLERS_GID" \
	has "uid +$SWINSTALL_UID.*gid +$INSTALLERS_GID"
groups=$(identity_groups)
expect "swinstall: groups are exactly installers and the nested g1..g4 (cycle included)" \
	test "$groups" = "$INSTALLERS_GID $NESTED_GIDS"
expect "swinstall: the group without gidNumber is skipped and counted" \
	has "skipped +1 group"
expect "the run names the DC it used" has "dc +dc1\.example\.test \(127\.0\.2\.1\)"
expect "at most 3 KDC requests, 1 LDAP connection, 1 bind, 2 searches (transitive memberOf)" \
	has "requests +[1-3] KDC, 1 LDAP connection\(s\), 1 bind\(s\), [1-2] search"
expect "DC1 served the run" test "$(dc_lines 1)" -gt "$a1"
expect "DC2 saw nothing of it" test "$(dc_lines 2)" -eq "$a2"

identity "$both" pwinstall
expect "pwinstall (password file): test-identity succeeds with uid $PWINSTALL_UID" \
	has "uid +$PWINSTALL_UID"

identity "$both" nosuch
expect "an account not in advertd.conf: exit 1, clear message" \
	test $RC -eq 1 -a "${OUT/no account \"nosuch\"/}" != "$OUT"

# --- the directory grants no local rights ---------------------------------------------------
# gidNumber 42 is the local shadow group: a DC that says so must not hand it out.
printf 'dn: cn=g3,ou=groups,%s\nchangetype: modify\nreplace: gidNumber\ngidNumber: 42\n' "$BASE_DN" |
	"$REALM_SCRIPT" ldapmodify "$REALM_DIR" dc2
only2ids=$(STATE=$REALM_DIR/state-ids conf only2ids "2")
identity "$only2ids" swinstall
expect "a group with a local system gid: the run still works (exit 0)" test $RC -eq 0
expect "... without gid 42" test "${OUT/ 42(/}" = "$OUT"
expect "... and the refused group is skipped and counted" has "skipped +2 group"
printf 'dn: cn=g3,ou=groups,%s\nchangetype: modify\nreplace: gidNumber\ngidNumber: 1500\n' "$BASE_DN" |
	"$REALM_SCRIPT" ldapmodify "$REALM_DIR" dc2
identity "$(STATE=$REALM_DIR/state-ids conf only2ids "2" 's|timeout = 5;|timeout = 5; min_id = 2000;|')" swinstall
expect "a gid below directory.min_id is skipped too" has "skipped +2 group"
printf 'dn: uid=swinstall,ou=people,%s\nchangetype: modify\nreplace: uidNumber\nuidNumber: 0\n' "$BASE_DN" |
	"$REALM_SCRIPT" ldapmodify "$REALM_DIR" dc2
identity "$only2ids" swinstall
expect "uidNumber 0: the lookup fails (exit 6), naming the id" \
	test $RC -eq 6 -a "${OUT/uidNumber 0 is outside/}" != "$OUT"
printf 'dn: uid=swinstall,ou=people,%s\nchangetype: modify\nreplace: uidNumber\nuidNumber: 1\n' "$BASE_DN" |
	"$REALM_SCRIPT" ldapmodify "$REALM_DIR" dc2
identity "$(STATE=$REALM_DIR/state-ids conf only2ids "2" 's|timeout = 5;|timeout = 5; min_id = 1;|')" swinstall
expect "a uid NSS knows as another local user: refused even inside the range" \
	test $RC -eq 6 -a "${OUT/is the local user/}" != "$OUT"
# Back as it was, for what follows.
printf 'dn: uid=swinstall,ou=people,%s\nchangetype: modify\nreplace: uidNumber\nuidNumber: %s\n\ndn: cn=g3,ou=groups,%s\nchangetype: modify\nreplace: gidNumber\ngidNumber: 3003\n' \
	"$BASE_DN" "$SWINSTALL_UID" "$BASE_DN" | "$REALM_SCRIPT" ldapmodify "$REALM_DIR" dc2

# --- a large directory: 5,000 groups, and a 50-deep chain, for pwinstall on DC2 -------------
{
	for i in $(seq 5000); do
		printf 'dn: cn=big%d,ou=groups,%s\nchangetype: add\nobjectClass: groupOfNames\nobjectClass: posixGroup\ncn: big%d\ngidNumber: %d\nmember: uid=pwinstall,ou=people,%s\n\n' \
			"$i" "$BASE_DN" "$i" $((100000 + i)) "$BASE_DN"
	done
	prev="uid=pwinstall,ou=people,$BASE_DN"
	for i in $(seq 50); do
		printf 'dn: cn=deep%d,ou=groups,%s\nchangetype: add\nobjectClass: groupOfNames\nobjectClass: posixGroup\ncn: deep%d\ngidNumber: %d\nmember: %s\n\n' \
			"$i" "$BASE_DN" "$i" $((200000 + i)) "$prev"
		prev="cn=deep$i,ou=groups,$BASE_DN"
	done
} | "$REALM_SCRIPT" ldapmodify "$REALM_DIR" dc2
t0=$EPOCHREALTIME
identity "$(STATE=$REALM_DIR/state-big conf big "2")" pwinstall
expect "5,000 groups and a 50-deep chain: the lookup succeeds ($(_secs "$t0") s)" test $RC -eq 0
n=$(sed -n 's/^groups *//p' <<<"$OUT" | wc -w)
expect "... with every one of them (5,050 and pwinstall's own, got $n)" test "$n" -ge 5051
expect "... the deepest included" has " 200050\(deep50\)"

# --- no secret, no request ---------------------------------------------------------
a1=$(dc_lines 1) a2=$(dc_lines 2)
missing=$(conf missing "1 2" "s|$SWINSTALL_KEYTAB|$REALM_DIR/keytabs/absent.keytab|")
identity "$missing" swinstall
expect "missing keytab: exit 7 naming the file" test $RC -eq 7 -a "${OUT/absent.keytab/}" != "$OUT"
cp -p "$SWINSTALL_KEYTAB" "$REALM_DIR/keytabs/loose.keytab"
chmod 644 "$REALM_DIR/keytabs/loose.keytab"
loose=$(conf loose "1 2" "s|$SWINSTALL_KEYTAB|$REALM_DIR/keytabs/loose.keytab|")
identity "$loose" swinstall
expect "keytab readable by others: refused (exit 7)" has "readable by group or others"
expect "neither DC received anything without a usable secret" \
	test "$(dc_lines 1)" -eq "$a1" -a "$(dc_lines 2)" -eq "$a2"

# --- two DCs that disagree: each run stays on its DC ---------------------------------
"$REALM_SCRIPT" passwd "$REALM_DIR" dc1 swinstall 'Ch4nged!On-DC1' >/dev/null
a1=$(dc_lines 1)
identity "$only2" swinstall
expect "pinned to DC2 (old key still valid there): succeeds" test $RC -eq 0
expect "... and DC1 saw nothing" test "$(dc_lines 1)" -eq "$a1"

a2=$(dc_lines 2)
identity "$only1" swinstall
expect "pinned to DC1 (key changed there): fails once, cleanly (exit 4)" \
	test $RC -eq 4 -a "${OUT/Preauthentication failed/}" != "$OUT"
expect "... without a single request to DC2 (no primary-KDC retry)" test "$(dc_lines 2)" -eq "$a2"
check_output "DC1 counted exactly one failure" "failures=1 locked=no" \
	"$REALM_SCRIPT" failures "$REALM_DIR" dc1 swinstall
check_output "DC2 counted none" "failures=0 locked=no" \
	"$REALM_SCRIPT" failures "$REALM_DIR" dc2 swinstall

# --- the guard: one rejected attempt per secret, ever ----------------------------------
a1=$(dc_lines 1) a2=$(dc_lines 2) held=0
for _ in $(seq 100); do
	identity "$only1" swinstall
	[[ $RC -eq 3 ]] && held=$((held + 1))
done
expect "100 more runs with the rejected keytab are all held by the guard (exit 3)" test $held -eq 100
identity "$only2" swinstall
expect "... and the same secret is not presented to the other DC either" test $RC -eq 3
expect "... the hold says why" has "will not be sent again until the keytab"
expect "no DC received a single request during those runs" \
	test "$(dc_lines 1)" -eq "$a1" -a "$(dc_lines 2)" -eq "$a2"
check_output "DC1's failure counter is still exactly 1, account unlocked" "failures=1 locked=no" \
	"$REALM_SCRIPT" failures "$REALM_DIR" dc1 swinstall

"$REALM_SCRIPT" keytab "$REALM_DIR" swinstall "$SWINSTALL_KEYTAB" dc1 >/dev/null
identity "$only1" swinstall
expect "after the keytab is replaced the next run succeeds, no restart" test $RC -eq 0

# --- a locked account gets nothing during the backoff ----------------------------------
for _ in 1 2 3; do kinit_password "$DC1_KRB5_CONFIG" "$PWINSTALL_PRINCIPAL" wrong 2>/dev/null; done
check_output "pwinstall is locked on DC1" "locked=yes" \
	"$REALM_SCRIPT" failures "$REALM_DIR" dc1 pwinstall
identity "$only1" pwinstall
expect "locked account: refused (exit 4), named as locked or disabled" \
	test $RC -eq 4 -a "${OUT/account-locked-or-disabled/}" != "$OUT"
a1=$(dc_lines 1) held=0
for _ in $(seq 10); do identity "$only1" pwinstall; [[ $RC -eq 3 ]] && held=$((held + 1)); done
expect "the next 10 runs are held for the backoff (exit 3)" test $held -eq 10
expect "... and DC1 received zero requests for them" test "$(dc_lines 1)" -eq "$a1"
expect "... the hold names its end" has "held until 20[0-9-]+T"

# --- failover only when a DC does not answer -----------------------------------------
for d in kdc1 slapd1; do kill "$(cut -d' ' -f1 "$REALM_DIR/run/$d.pid")"; done
for _ in $(seq 50); do ss -Hltn "src $DC1_ADDR" | grep -q . || break; sleep 0.1; done
fresh=$(conf fresh "1 2")
a2=$(dc_lines 2)
identity "$fresh" pwinstall
expect "DC1 down: the run happens on DC2" test $RC -eq 0 -a "${OUT/dc *dc2.example.test/}" != "$OUT"
expect "... and says DC1 did not answer" has "dc1\.example\.test \(no answer\), dc2\.example\.test"
expect "DC2 served it" test "$(dc_lines 2)" -gt "$a2"
identity "$fresh" pwinstall
expect "affinity: the next run goes straight to DC2" \
	test $RC -eq 0 -a "${OUT/dc1.example.test (no answer)/}" = "$OUT"

finish
