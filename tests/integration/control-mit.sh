#!/bin/bash
# SPDX-License-Identifier: MIT
# advertctl against a running daemon: every command, --json read by a real JSON parser,
# permissions for a non-root user (denied, then the admin group's read-only access),
# hostile requests (garbage, huge, half-closed, not UTF-8), hostile names and KDC text
# (escape sequences, stray bytes) on the terminal and in JSON, a lockout state at the
# ends of its ranges, 50 clients at once, one user holding 70 connections (the others
# still served, that user told it is busy), a second instance refused, and SIGHUP picking
# up a changed advertd.conf. Addresses 127.0.13.x.

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ADVERTD=$top_builddir/src/advertd/advertd
ADVERTCTL=$top_builddir/src/advertctl/advertctl
PROBE=$top_builddir/tests/helpers/probe
TEST_USER=advtest$$
TEST_USER2=advtestb$$
TEST_GROUP=advadm$$

realm_start mit 127.0.13
DP=$REALM_DIR/dp
mkdir -p "$DP"
cp "$PROBE" "$DP/probe"
chmod 755 "$DP" "$DP/probe"
conf=$REALM_DIR/control.conf
# The accounts go whichever way the test ends (finish does not run the EXIT trap).
DAEMON_PID=""
remove_accounts() { # userdel refuses a user with a process left (a client still waiting)
	pkill -KILL -u "$TEST_USER" 2>/dev/null
	pkill -KILL -u "$TEST_USER2" 2>/dev/null
	userdel "$TEST_USER" 2>/dev/null
	userdel "$TEST_USER2" 2>/dev/null
	groupdel "$TEST_GROUP" 2>/dev/null
}
# What a killed earlier run left: accounts named after a test whose process is gone.
for u in $(getent passwd | cut -d: -f1 | grep -E '^advtestb?[0-9]+$'); do
	kill -0 "${u##*[a-z]}" 2>/dev/null && continue
	pkill -KILL -u "$u" 2>/dev/null
	userdel "$u" 2>/dev/null
done
for g in $(getent group | cut -d: -f1 | grep -E '^advadm[0-9]+$'); do
	kill -0 "${g##*[a-z]}" 2>/dev/null || groupdel "$g" 2>/dev/null
done
cleanup() {
	[[ -z $DAEMON_PID ]] || { kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null; }
	remove_accounts
	realm_exit_trap
}
trap cleanup EXIT
groupadd "$TEST_GROUP"
useradd -M -N -g nogroup -s /usr/sbin/nologin "$TEST_USER"
useradd -M -N -g nogroup -G "$TEST_GROUP" -s /usr/sbin/nologin "$TEST_USER2"
sed -e "s|^max_concurrent.*|max_concurrent = 2;\nadmin_group = \"$TEST_GROUP\";|" "$ADVERTD_CONF" >"$conf"
chmod 644 "$conf"
# A program name with escape sequences and a C1 CSI (U+009B), in a file whose name has a
# stray 0xc3 byte (names must be UTF-8, paths need not).
BYTE_C3=$'\xc3' CSI_C1=$'\xc2\x9b'
cat >"$ADVERTISEMENTS_DIR/ctl.conf" <<AD
advertisements = (
  { id = "CTL1"; package = { id = "P1"; name = "Probe"; source = "$DP"; };
    program = { name = "Quick"; command = [ "./probe", "say=hello" ]; run_as = "swinstall"; }; },
  { id = "CTL2"; package = { id = "P2"; name = "Probe"; source = "$DP"; };
    program = { name = "After"; command = [ "./probe", "sleep=3" ]; run_as = "swinstall";
                depends_on = "CTL1"; }; },
  { id = "CTL3"; package = { id = "P3"; name = "Probe"; source = "$DP"; };
    program = { name = "Off"; command = [ "./probe" ]; run_as = "swinstall"; }; enabled = false; },
  { id = "CTL5"; package = { id = "P5"; name = "Probe"; source = "$DP"; };
    program = { name = "Gone"; command = [ "./not-there" ]; run_as = "swinstall"; }; }
);
AD
chmod 644 "$ADVERTISEMENTS_DIR/ctl.conf"
EVIL_CONF=$ADVERTISEMENTS_DIR/evil${BYTE_C3}.conf
cat >"$EVIL_CONF" <<AD
advertisements = (
  { id = "CTL4"; package = { id = "P4"; name = "Pk"; source = "$DP"; };
    program = { name = "Evil\x1b[31mRed\x1b]0;pwned\x07${CSI_C1}2J"; command = [ "./probe" ];
                run_as = "swinstall"; }; enabled = false; }
);
AD
chmod 644 "$EVIL_CONF"
cat >"$ADVERTISEMENTS_DIR/typo.conf" <<AD
advertisements = (
  { id = "TYPO0004"; package = { id = "PT"; name = "Pk"; source = "$DP"; };
    program = { name = "Typo"; command = [ "./probe" ]; run_as = "swinstal"; }; }
);
AD
chmod 644 "$ADVERTISEMENTS_DIR/typo.conf"

# A lockout state for pwinstall (never run here) at the ends of what the parser takes:
# since = the largest time_t, attempts = UINT_MAX, and a KDC message and DC name with
# escape sequences and a stray byte.
lockout_state() {
	local body
	body="advertd-lockout 1
outcome=revoked
fingerprint=
since=9223372036854775807
dc=dc1\x1b[2J.example.test
message=revoked \x1b]0;pwned\x07\x1b[31mred $BYTE_C3 ${CSI_C1}K
attempts=4294967295
"
	printf '%schecksum=%s\n' "$body" "$(printf '%s' "$body" | sha256sum | cut -c1-64)"
}
install -d -m 700 "$ADVERTD_STATE_DIR/lockout" "$ADVERTD_STATE_DIR/lockout/pwinstall"
lockout_state >"$ADVERTD_STATE_DIR/lockout/pwinstall/state"

"$ADVERTD" -f -c "$conf" >"$REALM_DIR/daemon.out" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do [[ -S $ADVERTD_CONTROL_SOCKET ]] && break; sleep 0.05; done
ctl() { "$ADVERTCTL" -c "$conf" "$@"; }
for _ in $(seq 100); do ctl status CTL2 2>/dev/null | grep -q "state *running" && break; sleep 0.05; done

# --- every command ----------------------------------------------------------------
check_output "list shows every advertisement with state and last result" \
	"CTL1 +Probe/Quick +swinstall +will-not-rerun .*succeeded" ctl list
check_output "status ID" "state +running" ctl status CTL2
for _ in $(seq 100); do ctl status CTL5 2>/dev/null | grep -q "could-not-start" && break; sleep 0.05; done
check_output "a program that could not start: list says so, not \"due\"" \
	"CTL5 +Probe/Gone +swinstall +could-not-start" ctl list
check_output "... status names the status message and the reason" \
	"last_problem:.*status +10003.*reason +.*not-there.* is missing" bash -c "'$ADVERTCTL' -c '$conf' status CTL5 | tr '\n' ' '"
check_output "... and so does explain" "last_problem:.*10003" bash -c "'$ADVERTCTL' -c '$conf' explain CTL5 | tr '\n' ' '"
check_output "... and run, while queueing it, says its last attempt could not start" \
	"queued to run now.*note: its last attempt.*could not start \(10003 prepare-failed\)" \
	bash -c "'$ADVERTCTL' -c '$conf' run CTL5 | tr '\n' ' '"
check_output "explain ID gives the reason and the dependency" \
	"reason .*(running|depend).*dependency:" bash -c "'$ADVERTCTL' -c '$conf' explain CTL2 | tr '\n' ' '"
check_output "explain shows the lockout guard's state for the account" "guard:" ctl explain CTL1
check_output "problems lists the rejected advertisement with file, line and reason" \
	"typo.conf:[0-9]+: error: advertisement \"TYPO0004\": run_as \"swinstal\" names no account" ctl problems
OUT=$(ctl explain TYPO0004 2>&1)
rc=$?
check "explain of a rejected advertisement: exit 5, and where it was rejected" \
	bash -c '[[ $1 -eq 5 ]] && grep -Eq "no advertisement \"TYPO0004\": rejected at .*typo.conf:[0-9]+" <<<"$2"' _ "$rc" "$OUT"
check_output "explain --all explains every advertisement, rights included" \
	"id +CTL1 .*rights|rights .*id +CTL1" bash -c "'$ADVERTCTL' -c '$conf' explain --all | tr '\n' ' '"
check "explain --all --json is one array with an entry per advertisement" \
	bash -c "'$ADVERTCTL' -c '$conf' --json explain --all | python3 -c 'import json,sys; e=json.load(sys.stdin)[\"explain\"]; sys.exit(0 if len(e) >= 2 and all(\"verdict\" in x for x in e) else 1)'"
check_output "history lists runs newest first" "CTL2 .*running.*CTL1 .*succeeded" \
	bash -c "'$ADVERTCTL' -c '$conf' history | tr '\n' ' '"
check_output "a running run shows the DC its identity came from" "CTL2 .*running +-? *dc1\\.example\\.test" \
	bash -c "'$ADVERTCTL' -c '$conf' history CTL2 | tr -s ' '"
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
check "options after the command: list --json -c FILE is JSON" \
	bash -c '"$1" list --json -c "$2" | python3 -c "$3"' _ "$ADVERTCTL" "$conf" "$JSON_OK"
sed "s|^control_socket.*|control_socket = \"$REALM_DIR/nobody-listens.sock\";|" "$conf" >"$REALM_DIR/away.conf"
chmod 644 "$REALM_DIR/away.conf"
OUT=$("$ADVERTCTL" -c "$REALM_DIR/away.conf" --json list 2>/dev/null)
rc=$?
check "--json with advertd not reachable: exit 3 and a JSON answer saying so" \
	bash -c '[[ $1 -eq 3 ]] && python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d[\"ok\"] is False and d[\"code\"] == 3 else 1)" "$2"' _ "$rc" "$OUT"
check_output "reload says it reloaded" "^reloaded " ctl reload
syslog_wait() { for _ in $(seq 100); do grep -Eq -- "$1" "$SYSLOG_LOG" && return 0; sleep 0.05; done; return 1; }
check "... and says so in syslog (11023, reloaded)" syslog_wait "11023 configuration-reloaded .*result=reloaded"
cp "$conf" "$conf.good"
sed -i 's|^poll_interval.*|poll_interval = 0;|' "$conf"
OUT=$(ctl reload 2>&1)
rc=$?
check "a refused reload: exit 1, naming the error and that the running configuration stays" \
	bash -c '[[ $1 -eq 1 ]] && grep -q "has errors, keeping the running configuration: .*poll_interval" <<<"$2"' _ "$rc" "$OUT"
check "... --json reload says ok=false" \
	bash -c '! "$1" -c "$2" --json reload | python3 -c "$3"' _ "$ADVERTCTL" "$conf" "$JSON_OK"
check "... and syslog says refused (11023)" syslog_wait "11023 configuration-reloaded .*result=refused"
cp "$conf.good" "$conf"
sed -i 's|^admin_group.*|admin_group = "";|' "$conf"
ctl reload >/dev/null 2>&1
rc=$(runuser -u "$TEST_USER2" -- "$ADVERTCTL" -c "$conf" list >/dev/null 2>&1; echo $?)
check "admin_group emptied by a reload: its member is refused at once (exit 4)" test "$rc" -eq 4
cp "$conf.good" "$conf"
ctl reload >/dev/null 2>&1
rc=$(runuser -u "$TEST_USER2" -- "$ADVERTCTL" -c "$conf" list >/dev/null 2>&1; echo $?)
check "... and let in again when it comes back" test "$rc" -eq 0

# --- run --wait follows a run; log prints its output -----------------------------------
OUT=$(timeout 60 "$ADVERTCTL" -c "$conf" run CTL1 --wait 2>&1)
rc=$?
check "run --wait: queued, started, the program's output, the result; exit 0" \
	bash -c '[[ $1 -eq 0 ]] && grep -q "^CTL1 queued" <<<"$2" && grep -q "^started r[0-9]" <<<"$2" && grep -q "hello" <<<"$2" && grep -q "ended: succeeded" <<<"$2"' _ "$rc" "$OUT"
OUT=$(timeout 60 "$ADVERTCTL" -c "$conf" run CTL5 -w 2>&1)
rc=$?
check "run -w of a program that cannot start: says why, exit 1" \
	bash -c '[[ $1 -eq 1 ]] && grep -q "could not start (10003)" <<<"$2"' _ "$rc" "$OUT"
check_output "log ID prints the latest run's captured output" "hello" ctl log CTL1
mv "$DP/probe" "$DP/probe.away"
OUT=$(timeout 60 "$ADVERTCTL" -c "$conf" run CTL1 --wait 2>&1)
rc=$?
mv "$DP/probe.away" "$DP/probe"
check "run --wait of a program that ran once and now cannot start: says why and ends (exit 1)" \
	bash -c '[[ $1 -eq 1 ]] && grep -q "could not start (10003)" <<<"$2"' _ "$rc" "$OUT"
OUT=$(ctl log CTL1 r99999999 2>&1)
rc=$?
check "log of a run with no output kept: exit 5" test "$rc" -eq 5

# --- a withdrawn advertisement's run finishes; advertctl stop ends it now ---------------
cat >"$ADVERTISEMENTS_DIR/long.conf" <<AD
advertisements = (
  { id = "CTL6"; package = { id = "P6"; name = "Probe"; source = "$DP"; };
    program = { name = "Long"; command = [ "./probe", "sleep=60" ]; run_as = "swinstall"; }; }
);
AD
chmod 644 "$ADVERTISEMENTS_DIR/long.conf"
for _ in $(seq 200); do ctl status CTL6 2>/dev/null | grep -q "state *running" && break; sleep 0.05; done
rm "$ADVERTISEMENTS_DIR/long.conf"
for _ in $(seq 100); do ctl status CTL6 2>/dev/null | grep -q "withdrawn" && break; sleep 0.05; done
check_output "withdrawn while running: status still shows the run, and says it finishes" \
	"state +running.*withdrawn +true.*this run finishes" bash -c "'$ADVERTCTL' -c '$conf' status CTL6 | tr '\n' ' '"
rc=$(runuser -u "$TEST_USER2" -- "$ADVERTCTL" -c "$conf" stop CTL6 >/dev/null 2>&1; echo $?)
check "stop is for root only (exit 4)" test "$rc" -eq 4
check_output "stop ends it: SIGTERM now, SIGKILL after kill_grace" "^stopping CTL6 \(run r[0-9]+\)" ctl stop CTL6
for _ in $(seq 200); do ctl history CTL6 2>/dev/null | grep -q interrupted && break; sleep 0.05; done
check_output "... recorded as interrupted, by advertctl stop" \
	"CTL6 .*interrupted.*stopped by advertctl stop" bash -c "'$ADVERTCTL' -c '$conf' history CTL6 | tr '\n' ' '"
OUT=$(ctl stop CTL6 2>&1)
rc=$?
check "stop of a program that is not running: exit 6" bash -c '[[ $1 -eq 6 ]] && grep -q "is not running" <<<"$2"' _ "$rc" "$OUT"

# --- what reaches a terminal or a JSON parser ------------------------------------------
# Strict: UTF-8 that does not decode is an error, as for any JSON parser but json-c.
JSON_UTF8='import json, sys; d = json.loads(sys.stdin.buffer.read().decode("utf-8")); sys.exit(0 if d.get("ok") is True else 1)'
for c in list "status CTL4" "explain CTL4" "identity pwinstall"; do
	# shellcheck disable=SC2086
	check "--json $c is valid UTF-8 JSON, whatever bytes the names hold" \
		bash -c '"$1" -c "$2" --json $3 | python3 -c "$4"' _ "$ADVERTCTL" "$conf" "$c" "$JSON_UTF8"
done
# No ESC, BEL, other control byte but the newline, C1 control or stray byte on the terminal.
TTY_SAFE='import re, sys
t = sys.stdin.buffer.read().decode("utf-8")
bad = re.findall("[\x00-\x09\x0b-\x1f\x7f-\x9f]", t)
sys.exit(1 if bad or not t else 0)'
for c in list "status CTL4" "explain CTL4" "identity pwinstall"; do
	# shellcheck disable=SC2086
	check "advertctl $c prints no control character or stray byte" \
		bash -c '"$1" -c "$2" $3 2>&1 | python3 -c "$4"' _ "$ADVERTCTL" "$conf" "$c" "$TTY_SAFE"
done
check_output "... but shows them escaped" 'Evil\\x1b\[31mRed\\x1b\]0;pwned\\x07\\xc2\\x9b2J' ctl status CTL4
check_output "... in the list too, cut between escapes" 'Pk/Evil\\x1b\[31mRed\\x1b +swinstall' ctl list
check_output "... a path's stray byte arrives as U+FFFD" "file +$ADVERTISEMENTS_DIR/evil$(printf '\xef\xbf\xbd').conf" \
	ctl status CTL4
check_output "... and the KDC's message" "message +revoked \\\\x1b\\]0;pwned\\\\x07\\\\x1b\\[31mred $(printf '\xef\xbf\xbd') \\\\xc2\\\\x9bK" \
	ctl identity pwinstall
check_output "attempts = UINT_MAX is shown as it is, not as -1" "attempts +4294967295" ctl identity pwinstall
check_output "since + backoff past the end of time_t saturates: still holding" \
	"holding_until +@9223372036854775807" ctl identity pwinstall
check "--json: attempts and holding_until as numbers and times" \
	bash -c '"$1" -c "$2" --json identity pwinstall | python3 -c "$3"' _ "$ADVERTCTL" "$conf" \
	'import json, sys; g = json.load(sys.stdin)["account"]["guard"]; sys.exit(0 if g["attempts"] == 4294967295 and g["holding_until"] == "@9223372036854775807" else 1)'

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
import json
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
elif what == "not-utf8":
    s.sendall(b"\xff\xc3 x\n")
elif what == "cut":
    s.sendall(b"A" * 63 + "\u00e9".encode() * 8 + b"\n")
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except OSError:
    pass
if what in ("not-utf8", "cut"):
    # Strictly: a reply that is not UTF-8 fails here.
    print(json.loads(data.decode("utf-8"))["error"].encode("ascii", "backslashreplace").decode())
else:
    print(data.decode(errors="replace"))
PY
}
check_output "garbage gets an error reply" '"ok":false' talk garbage
check_output "a huge request gets an error reply" 'longer than 4096 bytes' talk huge
run talk half; check "a half-closed request is dropped quietly" test -z "${OUT//[[:space:]]/}"
check_output "a request that is not UTF-8 gets a UTF-8 reply (U+FFFD for each stray byte)" \
	'unknown command "\\ufffd\\ufffd"' talk not-utf8
check_output "an excerpt of a request is cut between characters, not inside one" \
	'unknown command "A{63}\.\.\."' talk cut
pids=()
for i in $(seq 50); do ctl list >"$REALM_DIR/client.$i" 2>&1 & pids+=($!); done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
check "50 concurrent clients are all served" test "$fails" -eq 0
check "... with complete answers" test "$(cat "$REALM_DIR"/client.* | grep -c '^CTL1 ')" -eq 50
check "the daemon is still alive and answering" ctl list

# --- one user holding many connections ------------------------------------------------
# TEST_USER (admin group) opens 70 connections and sends nothing; the daemon keeps 16 of
# them and tells the rest it is busy. Meanwhile root, another admin-group user and
# TEST_USER itself try advertctl; the held connections last until the idle timeout (5 s).
hold() { runuser -u "$TEST_USER" -- env PATH=/usr/bin:/bin python3 - "$ADVERTD_CONTROL_SOCKET" 70 <<'PY'
import json, select, socket, sys, time
path, n = sys.argv[1], int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    socks.append(s)
held, busy, closed, errors = list(socks), 0, 0, set()
while True:  # refusals come at once: done when none has come for 0.5 s
    r, _, _ = select.select(held, [], [], 0.5)
    if not r:
        break
    for s in r:
        held.remove(s)
        data = s.recv(65536)
        if data:
            busy += 1
            errors.add(json.loads(data.decode("utf-8"))["error"])
        else:
            closed += 1
print("held=%d busy=%d closed=%d errors=%s" % (len(held), busy, closed, sorted(errors)), flush=True)
time.sleep(3)
PY
}
hold >"$REALM_DIR/hold.out" 2>&1 &
HOLD_PID=$!
for _ in $(seq 100); do grep -q held= "$REALM_DIR/hold.out" && break; sleep 0.05; done
check_output "one user may hold 16 connections; the other 54 are told the daemon is busy" \
	"^held=16 busy=54 closed=0 errors=\['advertd is busy \(too many connections from this user\)'\]" \
	cat "$REALM_DIR/hold.out"
check_output "... root is still served" "CTL1" ctl list
check_output "... and so is another admin-group user" "CTL1" \
	runuser -u "$TEST_USER2" -- "$ADVERTCTL" -c "$conf" list
rcs="" busy_msgs=0
for _ in $(seq 10); do
	out=$(runuser -u "$TEST_USER" -- "$ADVERTCTL" -c "$conf" list 2>&1); rcs+=" $?"
	[[ $out == *'advertd is busy (too many connections from this user)'* ]] && busy_msgs=$((busy_msgs + 1))
done
check "... that user's own advertctl says it is busy and exits 3, never dies of SIGPIPE (141)" \
	bash -c '[[ $1 == "$(printf " 3%.0s" $(seq 10))" && $2 -eq 10 ]]' _ "$rcs" "$busy_msgs"
wait "$HOLD_PID"
check_output "once the connections are closed, that user is served again" "CTL1" \
	runuser -u "$TEST_USER" -- "$ADVERTCTL" -c "$conf" list

# --- single instance, SIGHUP ---------------------------------------------------------
# (bounded: if the first one has died, this one would run on and the test never end)
out=$(timeout 10 "$ADVERTD" -f -c "$conf" 2>&1); rc=$?
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

remove_accounts
finish
