#!/bin/bash
# advertctl against a running daemon: every command, --json read by a real JSON parser,
# permissions for a non-root user (denied, then the admin group's read-only access),
# hostile requests (garbage, huge, half-closed), 50 clients at once, a second instance
# refused, and SIGHUP picking up a changed advertd.conf. Addresses 127.0.13.x.

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ADVERTD=$top_builddir/src/advertd/advertd
ADVERTCTL=$top_builddir/src/advertctl/advertctl
PROBE=$top_builddir/tests/helpers/probe
TEST_USER=advtest$$
TEST_GROUP=advadm$$

realm_start mit 127.0.13
DP=$REALM_DIR/dp
mkdir -p "$DP"
cp "$PROBE" "$DP/probe"
chmod 755 "$DP" "$DP/probe"
conf=$REALM_DIR/control.conf
groupadd "$TEST_GROUP"
useradd -M -N -g nogroup -s /usr/sbin/nologin "$TEST_USER"
sed -e "s|^max_concurrent.*|max_concurrent = 2;\nadmin_group = \"$TEST_GROUP\";|" "$ADVERTD_CONF" >"$conf"
chmod 644 "$conf"
cat >"$ADVERTISEMENTS_DIR/ctl.conf" <<AD
advertisements = (
  { id = "CTL1"; package = { id = "P1"; name = "Probe"; source = "$DP"; };
    program = { name = "Quick"; command = [ "./probe", "say=hello" ]; run_as = "swinstall"; }; },
  { id = "CTL2"; package = { id = "P2"; name = "Probe"; source = "$DP"; };
    program = { name = "After"; command = [ "./probe", "sleep=3" ]; run_as = "swinstall";
                depends_on = "CTL1"; }; },
  { id = "CTL3"; package = { id = "P3"; name = "Probe"; source = "$DP"; };
    program = { name = "Off"; command = [ "./probe" ]; run_as = "swinstall"; }; enabled = false; }
);
AD
chmod 644 "$ADVERTISEMENTS_DIR/ctl.conf"

"$ADVERTD" -f -c "$conf" >"$REALM_DIR/daemon.out" 2>&1 &
DAEMON_PID=$!
cleanup() {
	kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
	userdel "$TEST_USER" 2>/dev/null
	groupdel "$TEST_GROUP" 2>/dev/null
	realm_exit_trap
}
trap cleanup EXIT
for _ in $(seq 100); do [[ -S $ADVERTD_CONTROL_SOCKET ]] && break; sleep 0.05; done
ctl() { "$ADVERTCTL" -c "$conf" "$@"; }
for _ in $(seq 100); do ctl status CTL2 2>/dev/null | grep -q "state *running" && break; sleep 0.05; done

# --- every command ----------------------------------------------------------------
check_output "list shows every advertisement with state and last result" \
	"CTL1 +Probe/Quick +swinstall +will-not-rerun .*succeeded" ctl list
check_output "status ID" "state +running" ctl status CTL2
check_output "explain ID gives the reason and the dependency" \
	"reason .*(running|depend).*dependency:" bash -c "'$ADVERTCTL' -c '$conf' explain CTL2 | tr '\n' ' '"
check_output "explain shows the lockout guard's state for the account" "guard:" ctl explain CTL1
check_output "history lists runs newest first" "CTL2 .*running.*CTL1 .*succeeded" \
	bash -c "'$ADVERTCTL' -c '$conf' history | tr '\n' ' '"
check_output "history ID -n 1" "^RUN.*CTL1" bash -c "'$ADVERTCTL' -c '$conf' history CTL1 -n 1 | tr '\n' ' '"
check_output "identity ACCOUNT" "outcome +ok" ctl identity swinstall
out=$(ctl run CTL2 2>&1); rc=$?
check "run of a running advertisement is refused (exit 6) and says why" \
	bash -c "[[ $rc -eq 6 && \$1 == *'is already running'* ]]" _ "$out"
rc=$(ctl run CTL3 >/dev/null 2>&1; echo $?)
check "run of a disabled advertisement is refused (exit 6)" test "$rc" -eq 6
rc=$(ctl status NOPE >/dev/null 2>&1; echo $?)
check "an unknown advertisement: exit 5" test "$rc" -eq 5
rc=$(ctl identity nobody >/dev/null 2>&1; echo $?)
check "an unknown account: exit 5" test "$rc" -eq 5
for _ in $(seq 100); do ctl status CTL2 | grep -q "state *running" || break; sleep 0.1; done
check_output "run ID starts it now, whatever its schedule" "CTL1 queued" ctl run CTL1
for _ in $(seq 100); do [[ $(ctl history CTL1 | grep -c succeeded) -ge 2 ]] && break; sleep 0.05; done
check "... and it ran again" test "$(ctl history CTL1 | grep -c succeeded)" -ge 2
JSON_OK='import json, sys; d = json.load(sys.stdin); sys.exit(0 if d.get("ok") is True else 1)'
for c in list "status CTL1" "explain CTL1" "history" "identity swinstall"; do
	# shellcheck disable=SC2086
	check "--json $c is valid JSON with ok=true" \
		bash -c '"$1" -c "$2" --json $3 | python3 -c "$4"' _ "$ADVERTCTL" "$conf" "$c" "$JSON_OK"
done
check_output "reload" "reloading" ctl reload

# --- permissions -------------------------------------------------------------------
rc=$(runuser -u "$TEST_USER" -- "$ADVERTCTL" -c "$conf" list >/dev/null 2>&1; echo $?)
check "a user outside the admin group is denied (exit 4)" test "$rc" -eq 4
usermod -a -G "$TEST_GROUP" "$TEST_USER"
check_output "a member of the admin group may read" "CTL1" runuser -u "$TEST_USER" -- "$ADVERTCTL" -c "$conf" list
out=$(runuser -u "$TEST_USER" -- "$ADVERTCTL" -c "$conf" run CTL1 2>&1); rc=$?
check "... but not run (exit 4, permission denied)" bash -c "[[ $rc -eq 4 && \$1 == *'permission denied'* ]]" _ "$out"
rc=$(runuser -u "$TEST_USER" -- "$ADVERTCTL" -c "$conf" reload >/dev/null 2>&1; echo $?)
check "... nor reload (exit 4)" test "$rc" -eq 4
check "the socket is 0660 and belongs to the admin group" \
	test "$(stat -c '%a %G' "$ADVERTD_CONTROL_SOCKET")" = "660 $TEST_GROUP"

# --- hostile requests --------------------------------------------------------------
talk() { python3 - "$ADVERTD_CONTROL_SOCKET" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
what = sys.argv[2]
if what == "garbage":
    s.sendall(b"\x00\xff\xfe garbage \x01\n")
elif what == "huge":
    try:
        s.sendall(b"list " + b"A" * 100000)
    except OSError:
        pass
elif what == "half":
    s.sendall(b"lis")
    s.shutdown(socket.SHUT_WR)
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except OSError:
    pass
print(data.decode(errors="replace"))
PY
}
check_output "garbage gets an error reply" '"ok":false' talk garbage
check_output "a huge request gets an error reply" 'longer than 4096 bytes' talk huge
run talk half; check "a half-closed request is dropped quietly" test -z "${OUT//[[:space:]]/}"
pids=()
for i in $(seq 50); do ctl list >"$REALM_DIR/client.$i" 2>&1 & pids+=($!); done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
check "50 concurrent clients are all served" test "$fails" -eq 0
check "... with complete answers" test "$(cat "$REALM_DIR"/client.* | grep -c '^CTL1 ')" -eq 50
check "the daemon is still alive and answering" ctl list

# --- single instance, SIGHUP ---------------------------------------------------------
out=$("$ADVERTD" -f -c "$conf" 2>&1); rc=$?
check "a second advertd says it is already running and exits 1" \
	bash -c "[[ $rc -eq 1 && \$1 == *'already running (pid $DAEMON_PID)'* ]]" _ "$out"
check "... and the first one's socket still answers" ctl list
mkdir -p "$REALM_DIR/more" && chmod 755 "$REALM_DIR/more"
cat >"$REALM_DIR/more/more.conf" <<AD
advertisements = ( { id = "MORE1"; package = { id = "PM"; name = "More"; source = "$DP"; };
  program = { name = "M"; command = [ "./probe" ]; run_as = "swinstall"; }; } );
AD
chmod 644 "$REALM_DIR/more/more.conf"
sed -i "s|^advertisements = \[ \"$ADVERTISEMENTS_DIR\" \];|advertisements = [ \"$ADVERTISEMENTS_DIR\", \"$REALM_DIR/more\" ];|" "$conf"
kill -HUP "$DAEMON_PID"
for _ in $(seq 100); do ctl list | grep -q MORE1 && break; sleep 0.05; done
check_output "SIGHUP picks up a changed advertd.conf" "MORE1" ctl list

kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; rc=$?
check "SIGTERM: advertd exits 0" test "$rc" -eq 0
check "... and removes its socket" test ! -e "$ADVERTD_CONTROL_SOCKET"
rc=$(ctl list >/dev/null 2>&1; echo $?)
check "advertctl without a daemon: exit 3" test "$rc" -eq 3

finish
