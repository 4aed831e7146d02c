#!/bin/bash
# SPDX-License-Identifier: MIT
# Integration test of the Samba AD test realm (scripts/realm --ad): keytab and
# password logins, GSSAPI LDAP, tokenGroups with nested groups, lockout, unlock.
# Address 127.0.3.1 (no other test uses 127.0.3.x). The first run provisions the
# golden DC (~15 s, cached in ADVERT_REALM_CACHE); later runs start in ~0.5 s.

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

realm_start ad 127.0.3

# (Samba's own runtime files under dc1/, e.g. lock/names.tdb 0660, are not ours.)
check "no generated file is group/other writable" \
    test -z "$(find "$REALM_DIR" -path "$REALM_DIR/dc1" -prune -o -type f -perm /022 -print)"
check_output "advertd.conf uses the ad schema" 'schema  = "ad";' cat "$ADVERTD_CONF"
check_output "advertd.conf names the DC with its address" \
    'host = "dc1\.ad\.example\.test"; address = "127\.0\.3\.1";' cat "$ADVERTD_CONF"
check_output "a second start leaves the running realm alone" "already running" \
    "$REALM_SCRIPT" start "$REALM_DIR" --ad --prefix 127.0.3

conf=$DC1_KRB5_CONFIG
ldap() { env KRB5_CONFIG="$conf" "$REALM_EXEC" ldapsearch -Q -LLL -o ldif-wrap=no -H "$DC1_LDAP_URI" "$@"; }

# --- Kerberos ------------------------------------------------------------------------
check "keytab login of the client token $CLIENT_PRINCIPAL" \
    kinit_keytab "$conf" "$CLIENT_KEYTAB" "$CLIENT_PRINCIPAL"
check "password login of pwinstall" \
    kinit_password "$conf" "$PWINSTALL_PRINCIPAL" "$(cat "$PWINSTALL_PASSWORD_FILE")"
check "password login of swinstall" \
    kinit_password "$conf" "$SWINSTALL_PRINCIPAL" "$(cat "$SWINSTALL_PASSWORD_FILE")"
check "keytab login of swinstall" \
    kinit_keytab "$conf" "$SWINSTALL_KEYTAB" "$SWINSTALL_PRINCIPAL"

# --- LDAP with GSSAPI (swinstall's ticket from the keytab login above) ----------------
user_dn="CN=swinstall,CN=Users,$BASE_DN"
check_output "GSSAPI search returns swinstall's uidNumber and gidNumber" \
    "uidNumber: 2001.*gidNumber: 3000|gidNumber: 3000.*uidNumber: 2001" \
    sh -c "env KRB5_CONFIG='$conf' '$REALM_EXEC' ldapsearch -Q -LLL -o ldif-wrap=no \
           -H '$DC1_LDAP_URI' -b '$user_dn' -s base uidNumber gidNumber | tr '\n' ' '"
check_output "the samba log shows a Kerberos/GSSAPI LDAP bind of swinstall" \
    "swinstall" sh -c "grep -iE 'ldap.*(krb5|gssapi|kerberos)|(krb5|gssapi|kerberos).*ldap' '$DC1_LDAP_LOG' | grep -i swinstall | tail -1"

# tokenGroups (base scope only) must hold the SIDs of all nested groups.
tokens=$(ldap -b "$user_dn" -s base tokenGroups | sed -n 's/^tokenGroups:: //p' | sort)
for g in $SWINSTALL_GROUPS; do
    sid=$(ldap -b "CN=$g,CN=Users,$BASE_DN" -s base objectSid | sed -n 's/^objectSid:: //p')
    if [[ -n $sid ]] && grep -qxF "$sid" <<<"$tokens"; then ok "tokenGroups contains $g"
    else not_ok "tokenGroups contains $g" "sid of $g: '$sid'" "tokenGroups: $tokens"; fi
done
check_output "g1..g4 carry gidNumbers 3001..3004" \
    "^3001 3002 3003 3004 $" \
    sh -c "for g in g1 g2 g3 g4; do env KRB5_CONFIG='$conf' '$REALM_EXEC' ldapsearch -Q -LLL \
             -H '$DC1_LDAP_URI' -b \"CN=\$g,CN=Users,$BASE_DN\" -s base gidNumber \
             | sed -n 's/^gidNumber: //p'; done | tr '\n' ' '"
check_output "nogid has no gidNumber" "^dn: " \
    ldap -b "CN=nogid,CN=Users,$BASE_DN" -s base "(!(gidNumber=*))" 1.1

# --- lockout ----------------------------------------------------------------------------
pw=$(cat "$PWINSTALL_PASSWORD_FILE")
for i in 1 2 3; do
    check_fails "wrong password #$i for pwinstall is refused" \
        kinit_password "$conf" "$PWINSTALL_PRINCIPAL" "wrong-$i"
done
check_output "failures helper sees 3 failures and the lock" "^failures=3 locked=yes$" \
    "$REALM_SCRIPT" failures "$REALM_DIR" dc1 "$PWINSTALL_PRINCIPAL"
check_output "the right password is refused while locked (revoked)" "revoked" \
    sh -c "printf '%s\n' '$pw' | KRB5_CONFIG='$conf' kinit '$PWINSTALL_PRINCIPAL' 2>&1; true"
check "unlock" "$REALM_SCRIPT" unlock "$REALM_DIR" "$PWINSTALL_PRINCIPAL"
check_output "counter cleared after unlock" "^failures=0 locked=no$" \
    "$REALM_SCRIPT" failures "$REALM_DIR" dc1 "$PWINSTALL_PRINCIPAL"
sleep 1.1
check "the right password works after unlock" kinit_password "$conf" "$PWINSTALL_PRINCIPAL" "$pw"

# --- helpers ------------------------------------------------------------------------------
check "passwd changes alice's password" "$REALM_SCRIPT" passwd "$REALM_DIR" dc1 "$USER_PRINCIPAL" 'N3w!Alice-Pass'
check "the new password works" kinit_password "$conf" "$USER_PRINCIPAL" 'N3w!Alice-Pass'
check "keytab helper exports swinstall's keys" \
    "$REALM_SCRIPT" keytab "$REALM_DIR" "$SWINSTALL_PRINCIPAL" "$TEST_TMP/sw.keytab"
check "the exported keytab logs in" kinit_keytab "$conf" "$TEST_TMP/sw.keytab" "$SWINSTALL_PRINCIPAL"

finish
