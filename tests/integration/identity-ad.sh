#!/bin/bash
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
expect "3 KDC requests, 1 connection, 1 bind, 3 searches (account, tokenGroups, SIDs)" \
	has "requests +3 KDC, 1 LDAP connection\(s\), 1 bind\(s\), 3 search"

identity pwinstall
expect "pwinstall (password file): succeeds with uid $PWINSTALL_UID" has "uid +$PWINSTALL_UID"

# A password reset makes the keytab stale: AD counts that as a bad password.
"$REALM_SCRIPT" passwd "$REALM_DIR" dc1 swinstall 'R3set!By-Admin-9' >/dev/null
identity swinstall
expect "stale keytab: refused once (exit 4)" test $RC -eq 4
held=0
for _ in $(seq 20); do identity swinstall; [[ $RC -eq 3 ]] && held=$((held + 1)); done
expect "the next 20 runs are held by the guard (exit 3)" test $held -eq 20
check_output "AD's bad-password count is exactly 1, account not locked" "failures=1 locked=no" \
	"$REALM_SCRIPT" failures "$REALM_DIR" dc1 swinstall

"$REALM_SCRIPT" keytab "$REALM_DIR" swinstall "$SWINSTALL_KEYTAB" >/dev/null
identity swinstall
expect "with the keytab replaced, the next run succeeds without a restart" test $RC -eq 0

finish
