#!/bin/bash
# SPDX-License-Identifier: MIT
# advertd --test-identity against a real Active Directory (Samba AD DC): ids, the
# nested groups from tokenGroups resolved to gidNumbers, the request budget, and the
# lockout guard against AD's bad-password counter. Addresses 127.0.6.x.

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

realm_start ad 127.0.6
mkdir -p "$ADVERTD_STATE_DIR"

identity() { identity_run "$ADVERTD_CONF" "$1"; }

identity swinstall
expect "swinstall: test-identity succeeds on the AD DC" test $RC -eq 0
expect "swinstall: uid $SWINSTALL_UID, gid $INSTALLERS_GID" \
	has "uid +$SWINSTALL_UID.*gid +$INSTALLERS_GID"
groups=$(identity_groups)
expect "swinstall: tokenGroups gives installers and every nested group" \
	test "$groups" = "$INSTALLERS_GID $NESTED_GIDS"
expect "groups without gidNumber (nogid, Domain Users, BUILTIN) are skipped and counted" \
	has "skipped +[1-9]"
expect "3 KDC requests, 1 connection, 1 bind, 3 searches (account, tokenGroups, SIDs), plus the check before knocking: 3 KDC, 1 connection, 1 bind, 2 searches" \
	has "requests +6 KDC, 2 LDAP connection\(s\), 2 bind\(s\), 5 search.*client token account: 3 KDC"
identity swinstall
expect "steady state: the check reuses the workstation's tickets (no KDC request for it)" \
	has "requests +3 KDC, 2 LDAP connection\(s\), 2 bind\(s\), 5 search.*client token account: 0 KDC"
expect "the kept workstation tickets are root's alone" \
	test "$(stat -c '%U %a' "$ADVERTD_STATE_DIR/client-token.ccache")" = "root 600"

identity pwinstall
expect "pwinstall (password file): succeeds with uid $PWINSTALL_UID" has "uid +$PWINSTALL_UID"

# A password reset makes the keytab stale: AD would count that as a bad password, so the
# check before knocking (msDS-KeyVersionNumber against the keytab's kvno) sends nothing.
"$REALM_SCRIPT" passwd "$REALM_DIR" dc1 swinstall 'R3set!By-Admin-9' >/dev/null
identity swinstall
expect "stale keytab: held before knocking (exit 3)" test $RC -eq 3
expect "stale keytab: the reason names both key versions" \
	has "keytab holds key version [0-9]+, the directory has [0-9]+"
held=0
for _ in $(seq 20); do identity swinstall; [[ $RC -eq 3 ]] && held=$((held + 1)); done
expect "the next 20 runs are held too (exit 3)" test $held -eq 20
check_output "AD's bad-password count stays 0, account not locked" "failures=0 locked=no" \
	"$REALM_SCRIPT" failures "$REALM_DIR" dc1 swinstall

"$REALM_SCRIPT" keytab "$REALM_DIR" swinstall "$SWINSTALL_KEYTAB" >/dev/null
identity swinstall
expect "with the keytab replaced, the next run succeeds without a restart" test $RC -eq 0

finish
