# SPDX-License-Identifier: MIT
# What the fleet tests share (sourced after realm_start): a central rsyslogd and one per
# workstation forwarding to it (the hosts named ws1 and ws2 in their lines), two
# workstation configurations reading the realm's published advertisements, advertisement
# files as an admin writes them, the publisher's advertctl, and the daemons.
# Sets DP (a package source), SRC (advertisement files), POLL (poll_interval), LOGS,
# WS1, WS2 (the configurations) and L1, L2 (their syslog files).
# shellcheck shell=bash

DP=$REALM_DIR/dp
mkdir -p "$DP" && chmod 755 "$DP"
SRC=$REALM_DIR/src
mkdir -p "$SRC" && chmod 755 "$SRC"
POLL=5

# --- syslog: one rsyslogd per workstation, forwarding to a central one ------------------
LOGS=$REALM_DIR/logs
mkdir -p "$LOGS"
RSYSLOG_PIDS=()
start_rsyslog() { # NAME CONF-TEXT
	printf '%s\n' "$2" >"$LOGS/$1.conf"
	mkdir -p "$LOGS/$1.work"
	setsid rsyslogd -n -f "$LOGS/$1.conf" -i "$LOGS/$1.pid" >"$LOGS/$1.out" 2>&1 &
	RSYSLOG_PIDS+=($!)
}
CENTRAL=$REALM_PREFIX.9
start_rsyslog central "global(workDirectory=\"$LOGS/central.work\")
module(load=\"imtcp\")
input(type=\"imtcp\" address=\"$CENTRAL\" port=\"5514\")
*.* action(type=\"omfile\" file=\"$LOGS/central.log\" template=\"RSYSLOG_FileFormat\")"
for ws in ws1 ws2; do
	start_rsyslog "$ws" "global(workDirectory=\"$LOGS/$ws.work\" localHostname=\"$ws.$DOMAIN\")
module(load=\"imuxsock\" SysSock.Use=\"off\")
input(type=\"imuxsock\" Socket=\"$LOGS/$ws.sock\" CreatePath=\"off\")
*.* action(type=\"omfile\" file=\"$LOGS/$ws.log\" template=\"RSYSLOG_FileFormat\")
*.* action(type=\"omfwd\" target=\"$CENTRAL\" port=\"5514\" protocol=\"tcp\"
           queue.type=\"LinkedList\" action.resumeRetryCount=\"-1\" action.resumeInterval=\"1\")"
done

DAEMONS=()
stop_all() {
	for p in "${DAEMONS[@]}"; do [[ -n $p ]] && kill "$p" 2>/dev/null; done
	for p in "${DAEMONS[@]}"; do [[ -n $p ]] && wait "$p" 2>/dev/null; done
	kill -CONT "$(dc_pid slapd1)" "$(dc_pid slapd2)" "$(dc_pid kdc1)" "$(dc_pid kdc2)" 2>/dev/null
	for p in "${RSYSLOG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${RSYSLOG_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	DAEMONS=() RSYSLOG_PIDS=()
}
cleanup() {
	stop_all
	realm_exit_trap
}
dc_pid() { awk '{print $1}' "$REALM_DIR/run/$1.pid" 2>/dev/null; }
trap cleanup EXIT
for ws in ws1 ws2; do
	for _ in $(seq 100); do [[ -S $LOGS/$ws.sock ]] && break; sleep 0.05; done
done

# --- two workstations -------------------------------------------------------------------
ws_conf() { # NAME PRINCIPAL KEYTAB
	local d=$REALM_DIR/$1
	mkdir -p "$d/ads" "$d/state" "$d/log"
	chmod 755 "$d" "$d/ads" "$d/state" "$d/log"
	sed -e "s|^advertisements = .*|advertisements = [ \"$d/ads\", \"$ADVERTISEMENTS_URL\" ];|" \
	    -e "s|^poll_interval .*|poll_interval = $POLL;|" \
	    -e "s|^state_dir .*|state_dir = \"$d/state\";|" \
	    -e "s|^log_dir .*|log_dir = \"$d/log\";|" \
	    -e "s|^control_socket .*|control_socket = \"$d/control.sock\";|" \
	    -e "s|socket = \"$SYSLOG_SOCKET\"|socket = \"$LOGS/$1.sock\"|" \
	    -e "s|^  principal = .*|  principal = \"$2\";|" \
	    -e "s|^  keytab    = .*client.keytab\";|  keytab    = \"$3\";|" \
	    "$ADVERTD_CONF" >"$d/advertd.conf"
	chmod 644 "$d/advertd.conf"
}
ws_conf ws1 "$CLIENT_PRINCIPAL" "$CLIENT_KEYTAB"
ws_conf ws2 "$WS2_PRINCIPAL" "$WS2_KEYTAB"
# shellcheck disable=SC2034 # for the tests that source this
WS1=$REALM_DIR/ws1/advertd.conf WS2=$REALM_DIR/ws2/advertd.conf
# shellcheck disable=SC2034
L1=$LOGS/ws1.log L2=$LOGS/ws2.log

# advertisement files as an admin writes them
write_src() { # NAME ID TARGETS [COMMAND]
	local cmd=${4:-'[ "/bin/true" ]'}
	cat >"$SRC/$1.conf" <<AD
advertisements = ( { id = "$2"; package = { id = "P$2"; name = "Fleet $2"; source = "$DP"; };
  program = { name = "Run"; command = $cmd; run_as = "system"; };
  ${3:+targets = $3;} } );
AD
}
pub() { KRB5CCNAME=FILE:$TEST_TMP/publisher "$REALM_EXEC" "$ADVERTCTL" -c "$WS1" "$@"; }
# expect_user_refused DESC WANT: alice, who may not publish, tries; the DC says no.
expect_user_refused() {
	"$REALM_EXEC" env KRB5CCNAME="FILE:$TEST_TMP/alice" kinit alice <"$USER_PASSWORD_FILE" >/dev/null
	run env KRB5CCNAME="FILE:$TEST_TMP/alice" "$REALM_EXEC" "$ADVERTCTL" -c "$WS1" publish "$SRC/lab.conf"
	local rc=$?
	if [[ $rc -eq 1 && $OUT == *"$2"* ]]; then ok "$1"; else not_ok "$1" "status $rc" "$OUT"; fi
}
"$REALM_EXEC" env KRB5CCNAME="FILE:$TEST_TMP/publisher" \
	kinit -k -t "$PUBLISHER_KEYTAB" "$PUBLISHER_PRINCIPAL"

start_ws() { # NAME: starts it, sets DAEMONS[index]
	local i=$(( ${1#ws} - 1 ))
	"$REALM_EXEC" "$ADVERTD" -f -c "$REALM_DIR/$1/advertd.conf" >>"$LOGS/$1.daemon.out" 2>&1 &
	DAEMONS[i]=$!
}
stop_ws() {
	local i=$(( ${1#ws} - 1 ))
	[[ -n ${DAEMONS[i]:-} ]] || return 0
	kill "${DAEMONS[i]}" 2>/dev/null
	wait "${DAEMONS[i]}" 2>/dev/null
	DAEMONS[i]=
}
wait_in() { # LOG REGEX [SECONDS]
	local deadline=$((SECONDS + ${3:-15}))
	until grep -Eq -- "$2" "$1" 2>/dev/null; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}
expect_in() { # DESC LOG REGEX [SECONDS]
	if wait_in "$2" "$3" "${4:-15}"; then ok "$1"
	else not_ok "$1" "no line matching '$3'" "$(tail -n 20 "$2")"; fi
}
