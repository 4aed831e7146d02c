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

# --- admin rights on AD: root for the run, swinstall's tickets, swinstall on the DC -------
DP=$REALM_DIR/dp
ROOT_ONLY=$REALM_DIR/root-only
mkdir -p "$DP" "$ROOT_ONLY" && chmod 755 "$DP" && chmod 700 "$ROOT_ONLY"
cat >"$DP/admin.sh" <<'SH'
#!/bin/sh
# $1 host keytab, $2 a root-only dir, $3 realm-exec, $4 the DC's LDAP URI
echo "uid=$(id -u)"
klist 2>&1
echo "host-keytab-size=$(stat -L -c %s "$1")"
echo installed >"$2/installed-by-admin" && echo wrote=yes
"$3" ldapsearch -Y GSSAPI -H "$4" -b "" -s base 1.1 2>&1 | grep "SASL username"
SH
chmod 755 "$DP/admin.sh"
cat >"$ADVERTISEMENTS_DIR/admin.conf" <<AD
advertisements = (
  { id = "ADMIN001"; package = { id = "PADMIN"; name = "Admin"; source = "$DP"; };
    program = { name = "Install"; rights = "admin"; run_as = "swinstall";
                command = [ "./admin.sh", "$CLIENT_KEYTAB", "$ROOT_ONLY",
                            "$REALM_DIR/bin/realm-exec", "$DC1_LDAP_URI" ]; }; }
);
AD
chmod 644 "$ADVERTISEMENTS_DIR/admin.conf"
run "$top_builddir/src/advertd/advertd" --once -c "$ADVERTD_CONF"
out=$(cat "$ADVERTD_LOG_DIR"/ADMIN001/*.log 2>/dev/null)
expect "admin rights on AD: the program is root" grep -qx "uid=0" <<<"$out"
expect "admin rights on AD: it holds swinstall's TGT and nothing of the host's" \
	bash -c 'grep -q "Default principal: swinstall@" <<<"$1" && ! grep -q "$2" <<<"$1"' _ "$out" "$CLIENT_PRINCIPAL"
expect "admin rights on AD: the host keytab is out of its reach" grep -qx "host-keytab-size=0" <<<"$out"
expect "admin rights on AD: it wrote where only root may write" test -s "$ROOT_ONLY/installed-by-admin"
expect "admin rights on AD: the DC saw swinstall bind over GSSAPI" \
	grep -qi "SASL username: swinstall@" <<<"$out"

finish
