#!/bin/bash
# SPDX-License-Identifier: MIT
# The lockout guard across a fleet on a real Active Directory (Samba AD DC, lockout
# threshold 3): six workstations (six configurations and state directories sharing the
# host keytab) and one installation account. A stale keytab after a password reset and
# a stale password file after a change cost the domain no bad attempt at all; a wrong
# password none of them ever used never locks the account. Addresses 127.0.16.x.

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

realm_start ad 127.0.16
FLEET=6

# ws N: workstation N's configuration (its own state directory), with SED-EXPR.
ws() {
	local conf=$REALM_DIR/ws$1.conf state=$REALM_DIR/ws$1-state
	sed -e "s|^state_dir *=.*|state_dir = \"$state\";|" ${2:+-e "$2"} "$ADVERTD_CONF" >"$conf"
	chmod 644 "$conf"
	echo "$conf"
}
# fleet ACCOUNT [SED-EXPR]: every workstation runs --test-identity once, in turn; sets
# codes to their exit codes (OUT and RC are the last one's).
fleet() {
	local n
	codes=""
	for n in $(seq $FLEET); do
		identity_run "$(ws "$n" "${2:-}")" "$1"
		codes+="$RC "
	done
	codes=${codes% }
}
bad() { "$REALM_SCRIPT" failures "$REALM_DIR" dc1 "$1"; }
same() { # CODES WANT: every one of the FLEET codes is WANT
	local c
	for c in $1; do [[ $c == "$2" ]] || return 1; done
	[[ $(wc -w <<<"$1") -eq $FLEET ]]
}

# --- a stale keytab after a password reset ----------------------------------------------
fleet swinstall
expect "keytab: all six workstations succeed first ($codes)" same "$codes" 0
"$REALM_SCRIPT" passwd "$REALM_DIR" dc1 swinstall 'R3set!Fleet-Keytab-1' >/dev/null
fleet swinstall
expect "keytab: after the reset, all six hold before knocking ($codes)" same "$codes" 3
fleet swinstall
expect "keytab: and again ($codes)" same "$codes" 3
OUT=$(bad swinstall)
expect "keytab: badPwdCount stays 0, not locked ($OUT)" has "failures=0 locked=no"

# --- a stale password file after a change ---------------------------------------------
fleet pwinstall
expect "password: all six succeed first ($codes)" same "$codes" 0
sleep 1 # pwdLastSet has 100 ns ticks, but the acceptance before it must be older
"$REALM_SCRIPT" passwd "$REALM_DIR" dc1 pwinstall 'Ch4nged!Fleet-Pw-2' >/dev/null
fleet pwinstall
expect "password: after the change, all six hold before knocking ($codes)" same "$codes" 3
expect "password: the reason says the password file is stale" has "pwdLastSet.*stale"
OUT=$(bad pwinstall)
expect "password: badPwdCount stays 0, not locked ($OUT)" has "failures=0 locked=no"

# --- a wrong password none of them ever used -------------------------------------------------
wrong=$REALM_DIR/secrets/wrong.secret
printf '%s\n' 'Never!Used-Before-3' >"$wrong"
chmod 600 "$wrong"
use_wrong="s|$PWINSTALL_PASSWORD_FILE|$wrong|"
for round in 1 2 3; do
	fleet pwinstall "$use_wrong"
	OUT=$(bad pwinstall)
	expect "wrong password, round $round ($codes): the account never locks ($OUT)" \
		has "locked=no"
done
n=$(sed -n 's/.*failures=\([0-9]*\).*/\1/p' <<<"$OUT")
expect "wrong password: the fleet stopped at threshold - reserve = 2 ($n)" test "$n" -le 2
identity_run "$(ws 6 "$use_wrong")" pwinstall
expect "wrong password: the hold names badPwdCount and the threshold" \
	has "badPwdCount is [0-9]+ of lockoutThreshold 3"

# The reserve is for a human: advertd does not spend it even with the right password,
# a person's kinit does, and resets the count for everyone.
printf '%s\n' 'Ch4nged!Fleet-Pw-2' >"$wrong"
identity_run "$(ws 1 "$use_wrong")" pwinstall
expect "the right password: advertd still leaves the reserve alone (exit 3)" test $RC -eq 3
check "a human's kinit with the right password gets in" "$REALM_SCRIPT" exec "$REALM_DIR" \
	sh -c "printf '%s\n' 'Ch4nged!Fleet-Pw-2' | KRB5CCNAME=MEMORY: kinit pwinstall >/dev/null"
identity_run "$(ws 1 "$use_wrong")" pwinstall
expect "after that logon, the workstations get in with the right password" test $RC -eq 0

finish
