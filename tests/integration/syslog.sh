#!/bin/bash
# SPDX-License-Identifier: MIT
# Integration test of the realm's private rsyslogd: it listens only on
# DIR/syslog.sock (never /dev/log) and writes raw messages to DIR/syslog.log.
# Uses an MIT realm at 127.0.4.x (no other test uses those addresses).

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

realm_start mit 127.0.4

check "the syslog socket exists" test -S "$SYSLOG_SOCKET"
check "the syslog log is 0600" test "$(stat -c %a "$SYSLOG_LOG")" = 600

# A status-message-like line, sent the way a daemon would (datagram to the socket).
marker="ADV10005 id=LAB00001 program=Install exit=0 run=$$-$RANDOM"
check "logger sends a line to the private socket" \
    logger --socket "$SYSLOG_SOCKET" --socket-errors=on -p daemon.notice -t advertd "$marker"

got=""
for _ in $(seq 100); do
    got=$(grep -F "$marker" "$SYSLOG_LOG" || true)
    [[ -n $got ]] && break
    sleep 0.02
done
if [[ -n $got ]]; then ok "rsyslog wrote the line"; else not_ok "rsyslog wrote the line" "$(cat "$SYSLOG_LOG")"; fi
check_output "the line keeps facility.severity, tag and the raw message" \
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+[+-][0-9:]+ [^ ]+ daemon\.notice advertd: ${marker}$" \
    printf '%s' "$got"

rsyslog_pid=$(awk '$3 == "rsyslogd" {print $1}' "$REALM_DIR"/run/rsyslogd.pid)
check_output "the private rsyslogd does not hold /dev/log" "^$" \
    sh -c "ls -l /proc/$rsyslog_pid/fd 2>/dev/null | grep -F /dev/log; \
           ss -xlp 2>/dev/null | grep -F '/dev/log' | grep -F 'pid=$rsyslog_pid,' ; true"
check_output "the rsyslogd uses its own config" "-f $REALM_DIR/syslog/rsyslog.conf" \
    tr '\0' ' ' <"/proc/$rsyslog_pid/cmdline"

finish
