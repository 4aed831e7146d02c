#!/bin/bash
# SPDX-License-Identifier: MIT
# Integration test of the MIT test realm (scripts/realm --mit): two KDCs with their
# own databases, two slapd with SASL/GSSAPI, nested groups, lockout, replication lag.
# Addresses 127.0.1.x (no other test uses them).

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

realm_start mit 127.0.1

# --- files -----------------------------------------------------------------------
check "no generated file is group/other writable" \
    test -z "$(find "$REALM_DIR" -type f -perm /022 -print)"
check "secrets and keytabs are 0600" \
    test -z "$(find "$REALM_DIR/keytabs" "$REALM_DIR/secrets" -type f ! -perm 0600 -print)"
check_output "advertd.conf names both DCs with their addresses" \
    "dc1\.example\.test\"; address = \"127\.0\.1\.1\".*dc2\.example\.test\"; address = \"127\.0\.1\.2\"" \
    tr '\n' ' ' <"$ADVERTD_CONF"
check "advertisements.d exists, root-owned 0755" \
    test "$(stat -c '%U %a' "$ADVERTISEMENTS_DIR")" = "root 755"

# --- start is idempotent ---------------------------------------------------------
pids_before=$(cat "$REALM_DIR"/run/*.pid)
check_output "a second start leaves the running realm alone" "already running" \
    "$REALM_SCRIPT" start "$REALM_DIR" --mit --prefix 127.0.1
check "the daemons kept their PIDs" test "$pids_before" = "$(cat "$REALM_DIR"/run/*.pid)"

# --- Kerberos on each DC ---------------------------------------------------------
for n in 1 2; do
    conf_var=DC${n}_KRB5_CONFIG; conf=${!conf_var}
    check "dc$n: keytab login of swinstall" \
        kinit_keytab "$conf" "$SWINSTALL_KEYTAB" "$SWINSTALL_PRINCIPAL"
    check "dc$n: password login of swinstall (same key as its keytab)" \
        kinit_password "$conf" "$SWINSTALL_PRINCIPAL" "$(cat "$SWINSTALL_PASSWORD_FILE")"
    check "dc$n: password login of pwinstall" \
        kinit_password "$conf" "$PWINSTALL_PRINCIPAL" "$(cat "$PWINSTALL_PASSWORD_FILE")"
    check "dc$n: keytab login of the client token $CLIENT_PRINCIPAL" \
        kinit_keytab "$conf" "$CLIENT_KEYTAB" "$CLIENT_PRINCIPAL"
done

# --- LDAP: GSSAPI bind on each slapd, with a ticket from the same DC --------------
for n in 1 2; do
    conf_var=DC${n}_KRB5_CONFIG; conf=${!conf_var}
    uri_var=DC${n}_LDAP_URI; uri=${!uri_var}
    log_var=DC${n}_LDAP_LOG; log=${!log_var}
    kinit_keytab "$conf" "$SWINSTALL_KEYTAB" "$SWINSTALL_PRINCIPAL" >/dev/null 2>&1
    check_output "dc$n: ldapwhoami -Y GSSAPI maps swinstall to its entry" \
        "^dn:uid=swinstall,ou=people,dc=example,dc=test$" \
        env KRB5_CONFIG="$conf" "$REALM_EXEC" ldapwhoami -Q -Y GSSAPI -H "$uri"
    check_output "dc$n: its slapd log shows the GSSAPI bind" \
        'BIND dn="uid=swinstall,ou=people,dc=example,dc=test" mech=GSSAPI' cat "$log"
    check_output "dc$n: GSSAPI search finds swinstall's uidNumber/gidNumber" \
        "uidNumber: 2001.*gidNumber: 3000|gidNumber: 3000.*uidNumber: 2001" \
        env KRB5_CONFIG="$conf" "$REALM_EXEC" ldapsearch -Q -LLL -o ldif-wrap=no -H "$uri" \
            "(uid=swinstall)" uidNumber gidNumber homeDirectory
done
check_output "anonymous search sees nothing (GSSAPI needed)" "No such object|^$" \
    sh -c "LDAPNOINIT=1 ldapsearch -x -LLL -H '$DC1_LDAP_ADDR_URI' -b '$BASE_DN' '(uid=swinstall)' dn 2>&1; true"

# --- nested groups: breadth-first member closure (cycle-safe) --------------------
# closure URI: print the cn of every group containing swinstall, transitively.
closure() {
    local uri=$1 dn="uid=swinstall,ou=people,$BASE_DN" g
    local -A seen=()
    local -a queue=("$dn")
    while ((${#queue[@]})); do
        dn=${queue[0]}; queue=("${queue[@]:1}")
        while IFS= read -r g; do
            [[ -n $g && -z ${seen[$g]:-} ]] || continue
            seen[$g]=1; queue+=("$g")
        done < <("$REALM_EXEC" ldapsearch -Q -LLL -o ldif-wrap=no -H "$uri" \
                    "(&(objectClass=groupOfNames)(member=$dn))" 1.1 | sed -n 's/^dn: //p')
    done
    for g in "${!seen[@]}"; do g=${g%%,*}; echo "${g#cn=}"; done | sort | tr '\n' ' '
}
expected_groups=$(tr ' ' '\n' <<<"$SWINSTALL_GROUPS" | sort | tr '\n' ' ')
for n in 1 2; do
    conf_var=DC${n}_KRB5_CONFIG; uri_var=DC${n}_LDAP_URI
    export KRB5_CONFIG=${!conf_var}
    kinit_keytab "$KRB5_CONFIG" "$SWINSTALL_KEYTAB" "$SWINSTALL_PRINCIPAL" >/dev/null 2>&1
    got=$(closure "${!uri_var}")
    if [[ $got == "$expected_groups" ]]; then ok "dc$n: nested member closure = $got"
    else not_ok "dc$n: nested member closure" "expected: $expected_groups" "got: $got"; fi
    check_output "dc$n: dynlist memberOf gives the transitive groups too" \
        "memberOf: cn=g4,ou=groups" \
        "$REALM_EXEC" ldapsearch -Q -LLL -H "${!uri_var}" -s base \
            -b "uid=swinstall,ou=people,$BASE_DN" memberOf
    unset KRB5_CONFIG
done
check_output "group nogid has no gidNumber" "^dn: cn=nogid,ou=groups,dc=example,dc=test$" \
    env KRB5_CONFIG="$DC1_KRB5_CONFIG" "$REALM_EXEC" ldapsearch -Q -LLL -H "$DC1_LDAP_URI" \
        "(&(cn=nogid)(!(gidNumber=*)))" 1.1

# --- lockout: 3 wrong passwords on DC1 lock pwinstall there ------------------------
pw=$(cat "$PWINSTALL_PASSWORD_FILE")
for i in 1 2 3; do
    check_fails "dc1: wrong password #$i for pwinstall is refused" \
        kinit_password "$DC1_KRB5_CONFIG" "$PWINSTALL_PRINCIPAL" "wrong-$i"
done
check_output "dc1: failures helper sees 3 failures and the lock" "^failures=3 locked=yes$" \
    "$REALM_SCRIPT" failures "$REALM_DIR" dc1 "$PWINSTALL_PRINCIPAL"
check_output "dc2: counters are per DC (no failures there)" "^failures=0 locked=no$" \
    "$REALM_SCRIPT" failures "$REALM_DIR" dc2 "$PWINSTALL_PRINCIPAL"
check_output "dc1: the right password is refused while locked (revoked)" "revoked" \
    sh -c "printf '%s\n' '$pw' | KRB5_CONFIG='$DC1_KRB5_CONFIG' kinit '$PWINSTALL_PRINCIPAL' 2>&1; true"
check "dc2: the right password still works there" \
    kinit_password "$DC2_KRB5_CONFIG" "$PWINSTALL_PRINCIPAL" "$pw"
check "unlock on all DCs" "$REALM_SCRIPT" unlock "$REALM_DIR" "$PWINSTALL_PRINCIPAL"
check_output "dc1: counter cleared after unlock" "^failures=0 locked=no$" \
    "$REALM_SCRIPT" failures "$REALM_DIR" dc1 "$PWINSTALL_PRINCIPAL"
sleep 1.1   # failures in the same second as an unlock collapse into one
check "dc1: the right password works after unlock" \
    kinit_password "$DC1_KRB5_CONFIG" "$PWINSTALL_PRINCIPAL" "$pw"

# --- replication lag: a password changed on DC1 only -------------------------------
alice_old=$(cat "$USER_PASSWORD_FILE")
check "passwd on dc1 only" "$REALM_SCRIPT" passwd "$REALM_DIR" dc1 "$USER_PRINCIPAL" 'N3w!Alice-Pass'
check "dc1: the new password works" kinit_password "$DC1_KRB5_CONFIG" "$USER_PRINCIPAL" 'N3w!Alice-Pass'
check_fails "dc2: the new password fails (not replicated)" \
    kinit_password "$DC2_KRB5_CONFIG" "$USER_PRINCIPAL" 'N3w!Alice-Pass'
check "dc2: the old password still works" kinit_password "$DC2_KRB5_CONFIG" "$USER_PRINCIPAL" "$alice_old"
check_fails "dc1: the old password fails" kinit_password "$DC1_KRB5_CONFIG" "$USER_PRINCIPAL" "$alice_old"

# --- keytab export and disable -----------------------------------------------------
check "keytab helper exports swinstall's current keys" \
    "$REALM_SCRIPT" keytab "$REALM_DIR" "$SWINSTALL_PRINCIPAL" "$TEST_TMP/sw.keytab"
check "the exported keytab logs in" kinit_keytab "$DC2_KRB5_CONFIG" "$TEST_TMP/sw.keytab" "$SWINSTALL_PRINCIPAL"
check "disable swinstall" "$REALM_SCRIPT" disable "$REALM_DIR" "$SWINSTALL_PRINCIPAL"
check_output "dc2: a disabled account is refused (revoked)" "revoked" \
    sh -c "KRB5_CONFIG='$DC2_KRB5_CONFIG' kinit -k -t '$SWINSTALL_KEYTAB' '$SWINSTALL_PRINCIPAL' 2>&1; true"
check "enable swinstall" "$REALM_SCRIPT" enable "$REALM_DIR" "$SWINSTALL_PRINCIPAL"
check "dc2: keytab login works again" kinit_keytab "$DC2_KRB5_CONFIG" "$SWINSTALL_KEYTAB" "$SWINSTALL_PRINCIPAL"

finish
