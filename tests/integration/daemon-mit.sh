#!/bin/bash
# SPDX-License-Identifier: MIT
# The daemon against the MIT realm: a dropped file runs at once (inotify, not the poll
# interval), a file turned invalid is withdrawn, "never" and missed recurrences across
# restarts, dependency order, SIGTERM during a run, max_concurrent with 20 programs, and
# 50 rounds of kill -9 at random moments without a "never" program running twice or a
# run losing its record. Addresses 127.0.11.x.

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ADVERTD=$top_builddir/src/advertd/advertd
PROBE=$top_builddir/tests/helpers/probe

realm_start mit 127.0.11
DP=$REALM_DIR/dp
mkdir -p "$DP/probe"
cp "$PROBE" "$DP/probe/probe"
chmod 755 "$DP" "$DP/probe" "$DP/probe/probe"
OUT_DIR=$REALM_DIR/out
mkdir -p "$OUT_DIR" && chmod 1777 "$OUT_DIR"
conf=$REALM_DIR/daemon.conf
sed -e 's|^max_concurrent.*|max_concurrent = 2;\nkill_grace = 1;|' "$ADVERTD_CONF" >"$conf"
chmod 644 "$conf"
ADS=$ADVERTISEMENTS_DIR
HISTORY=$ADVERTD_STATE_DIR/history.log

DAEMON_PID=
start_daemon() {
	"$ADVERTD" -f -c "$conf" >>"$REALM_DIR/daemon.out" 2>&1 &
	DAEMON_PID=$!
}
stop_daemon() { # SIGTERM and wait
	[[ -n $DAEMON_PID ]] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}
trap 'stop_daemon; [[ -n ${detached:-} ]] && kill -TERM "$detached" 2>/dev/null; umount "$REALM_DIR/full-state/lockout" "$REALM_DIR/full-state" 2>/dev/null; realm_exit_trap' EXIT

# wait_for REGEX [SECONDS]: until the private syslog has a matching line.
wait_for() {
	local deadline=$((SECONDS + ${2:-10}))
	until grep -Eq -- "$1" "$SYSLOG_LOG"; do
		((SECONDS < deadline)) || return 1
		sleep 0.05
	done
}
expect_syslog() { # DESC REGEX [SECONDS]
	if wait_for "$2" "${3:-10}"; then ok "$1"
	else not_ok "$1" "no line matching '$2'" "$(tail -n 25 "$SYSLOG_LOG")"; fi
}
count() { grep -c "" "$OUT_DIR/$1" 2>/dev/null || echo 0; }
starts_in_history() { grep -c " start .*advert=$1\b" "$HISTORY" 2>/dev/null || true; }

write_ad() { # FILE ID RERUN COMMAND [EXTRA]
	cat >"$ADS/$1.tmp" <<AD
advertisements = ( { id = "$2"; package = { id = "P$2"; name = "Probe"; source = "$DP/probe"; };
  program = { name = "Run"; command = $4; run_as = "swinstall"; ${5:-} };
  rerun = "$3"; ${6:-} } );
AD
	chmod 644 "$ADS/$1.tmp"
	mv "$ADS/$1.tmp" "$ADS/$1.conf"
}

start_daemon
expect_syslog "the daemon starts" "11020 daemon-started"

# --- inotify: a dropped file runs without waiting for poll_interval (300 s) --------
t0=$EPOCHREALTIME
write_ad drop DROP1 never "[ \"./probe\", \"append=$OUT_DIR/DROP1\" ]"
expect_syslog "a dropped file runs at once" "10008 program-completed advert=DROP1 " 5
ok "... $(_secs "$t0") s from the file to the completed run"

# --- a file edited to be invalid is withdrawn, with file and line ------------------
printf 'advertisements = ( { id = "DROP1";\n  programme = 1; } );\n' >"$ADS/drop.tmp"
chmod 644 "$ADS/drop.tmp" && mv "$ADS/drop.tmp" "$ADS/drop.conf"
expect_syslog "the broken file is reported with its advertisement and line" \
	"11010 file-rejected advert=DROP1 file=$ADS/drop.conf line=2 reason=\"unknown key" 5
expect_syslog "its advertisement is withdrawn" "11011 advertisement-withdrawn advert=DROP1" 5
rm -f "$ADS/drop.conf"

# --- never, missed recurrences, dependencies ---------------------------------------
past=$(date -u -d '3 days ago' +%Y-%m-%dT%H:%M:%SZ)
write_ad never NEVER1 never "[ \"./probe\", \"append=$OUT_DIR/NEVER1\" ]"
write_ad recur RECUR1 always "[ \"./probe\", \"append=$OUT_DIR/RECUR1\" ]" "" \
	"schedule = { start = \"$past\"; recur = 86400; };"
write_ad depb DEPB never "[ \"./probe\", \"append=$OUT_DIR/order\", \"say=B\" ]" 'depends_on = "DEPA";'
write_ad depa DEPA never "[ \"./probe\", \"sleep=1\", \"append=$OUT_DIR/order\", \"say=A\" ]"
expect_syslog "NEVER1 ran" "10008 program-completed advert=NEVER1 " 5
expect_syslog "RECUR1 ran" "10008 program-completed advert=RECUR1 " 5
expect_syslog "DEPB ran after its dependency succeeded" "10008 program-completed advert=DEPB " 10
check "three missed daily occurrences ran once, not three times" test "$(count RECUR1)" -eq 1
check "the dependency ran first" bash -c \
	'[[ $(grep -n "advert=DEPA " "$1" | grep 10008 | head -1 | cut -d: -f1) -lt $(grep -n "advert=DEPB " "$1" | grep 10008 | head -1 | cut -d: -f1) ]]' _ "$SYSLOG_LOG"

stop_daemon
expect_syslog "SIGTERM: the daemon says it is stopping" "11021 daemon-stopping"
seen_before=$(sed -n 's/^NEVER1 +\([0-9]*\) .*/\1/p' "$ADVERTD_STATE_DIR/received")
check "the first time each advertisement was received is kept in state_dir/received" \
	test -n "$seen_before" -a "${seen_before:-0}" -le "$(date +%s)"
start_daemon
expect_syslog "restarted" "11020 daemon-started.*" 5
sleep 1
check "after a restart NEVER1 did not run again" test "$(count NEVER1)" -eq 1
check "after a restart unchanged advertisements are not announced again (10002 once)" \
	test "$(grep -c '10002 advertisement-received advert=NEVER1 ' "$SYSLOG_LOG")" -eq 1
check "after a restart RECUR1 did not run again in the same occurrence" test "$(count RECUR1)" -eq 1
check "after a restart, will-not-rerun (11006) is not said again for NEVER1" \
	test "$(grep -c '11006 will-not-rerun advert=NEVER1 ' "$SYSLOG_LOG")" -eq 1
touch "$ADS/never.conf"
sleep 1
check "touching a file does not announce its unchanged advertisement again (10002)" \
	test "$(grep -c '10002 advertisement-received advert=NEVER1 ' "$SYSLOG_LOG")" -eq 1
check "... and a restart keeps when NEVER1 was first received (the recurrence anchor)" \
	grep -q "^NEVER1 +$seen_before " "$ADVERTD_STATE_DIR/received"

# --- damaged small state files cost repeated messages, nothing else ----------------------
stop_daemon
head -c 300 /dev/urandom >"$ADVERTD_STATE_DIR/reported"
printf 'NEVER1 +notanumber /x\nNEVER1\n\xff\xfe +1 sig\n' >"$ADVERTD_STATE_DIR/received"
printf 'requested' >"$ADVERTD_STATE_DIR/restart" # truncated
chmod 600 "$ADVERTD_STATE_DIR"/{reported,received,restart}
restarts=$(grep -c "11020 daemon-started" "$SYSLOG_LOG")
start_daemon
for _ in $(seq 100); do [[ $(grep -c "11020 daemon-started" "$SYSLOG_LOG") -gt $restarts ]] && break; sleep 0.05; done
sleep 1
check "damaged reported, received and restart files: the daemon starts" \
	test "$(grep -c "11020 daemon-started" "$SYSLOG_LOG")" -gt "$restarts"
check "... and runs nothing again: NEVER1 still ran once (the history decides)" test "$(count NEVER1)" -eq 1
check "... holds no restart for a garbled restart file" bash -c '! grep -q "^requested" "$1"' _ "$ADVERTD_STATE_DIR/restart"

# --- SIGTERM during a run: the run is stopped and recorded as interrupted -------------
write_ad long LONG1 never '[ "./probe", "ignore-term", "sleep=30" ]'
expect_syslog "LONG1 started" "10005 program-started advert=LONG1 " 5
t0=$EPOCHREALTIME
stop_daemon
ok "the daemon stopped in $(_secs "$t0") s with a program running (kill_grace 1 s)"
expect_syslog "the run was recorded as interrupted" "11007 interrupted advert=LONG1 " 3
check "its end is in the history" grep -q " end .*advert=LONG1\b.*result=interrupted" "$HISTORY"
rm -f "$ADS"/*.conf

# --- max_concurrent: 20 programs, never more than 2 at once -------------------------
{
	echo "advertisements = ("
	for i in $(seq -w 1 20); do
		echo "  { id = \"CONC$i\"; package = { id = \"PC$i\"; name = \"C\"; source = \"$DP/probe\"; };"
		echo "    program = { name = \"C\"; command = [ \"/bin/sh\", \"-c\", \"echo \\\"s \$(date +%s%N)\\\" >> $OUT_DIR/conc; sleep 0.2; echo \\\"e \$(date +%s%N)\\\" >> $OUT_DIR/conc\" ]; run_as = \"swinstall\"; }; }$([[ $i == 20 ]] || echo ,)"
	done
	echo ");"
} >"$ADS/conc.conf"
chmod 644 "$ADS/conc.conf"
t0=$EPOCHREALTIME
run "$ADVERTD" --once -c "$conf"
ok "advertd --once ran 20 programs in $(_secs "$t0") s"
check "all 20 ran" test "$(grep -c '^s ' "$OUT_DIR/conc")" -eq 20
max=$(sort -k2n "$OUT_DIR/conc" | awk '$1 == "s" { n++; if (n > m) m = n } $1 == "e" { n-- } END { print m }')
check "never more than max_concurrent = 2 at once (saw $max)" test "$max" -le 2
rm -f "$ADS/conc.conf"

# --- a full disk: nothing runs that cannot be recorded, and it says so -----------------
full=$REALM_DIR/full-state
mkdir -p "$full" "$REALM_DIR/ads-full"
chmod 755 "$REALM_DIR/ads-full"
if mount -t tmpfs -o size=256k,mode=0700 advertd-test "$full"; then
	sed -e "s|^state_dir *=.*|state_dir = \"$full\";|" \
	    -e "s|^advertisements *=.*|advertisements = [ \"$REALM_DIR/ads-full\" ];|" "$conf" >"$REALM_DIR/full.conf"
	chmod 644 "$REALM_DIR/full.conf"
	cat >"$REALM_DIR/ads-full/full.conf" <<AD
advertisements = ( { id = "FULL1"; package = { id = "PF"; name = "F"; source = "$DP/probe"; };
  program = { name = "F"; command = [ "./probe", "append=$OUT_DIR/FULL1" ]; run_as = "swinstall"; }; } );
AD
	chmod 644 "$REALM_DIR/ads-full/full.conf"
	# The lockout guard's state stays on a disk with room (a full disk there stops
	# the run earlier, before any secret: guard-mit tests that): this is the history.
	mkdir -p "$full/lockout" "$REALM_DIR/full-lockout"
	chmod 700 "$REALM_DIR/full-lockout"
	mount --bind "$REALM_DIR/full-lockout" "$full/lockout"
	dd if=/dev/zero of="$full/fill" bs=4k count=1000 2>/dev/null
	run "$ADVERTD" --once -c "$REALM_DIR/full.conf"
	check "disk full: advertd --once reports failure" test $? -ne 0
	expect_syslog "disk full: 11012 says the run cannot be recorded" \
		"11012 history-failed advert=FULL1 .*reason=\"No space left on device\"" 5
	check "disk full: the program did not run" test "$(count FULL1)" -eq 0
	rm -f "$full/fill"
	run "$ADVERTD" --once -c "$REALM_DIR/full.conf"
	check "space again: it runs, once" test "$(count FULL1)" -eq 1
	umount "$full/lockout"
	umount "$full"
else
	not_ok "mount a small tmpfs for the full-disk test"
fi

# --- a damaged history: a "never" program is held, not run twice -------------------------
stop_daemon
write_ad once ONCE1 never "[ \"./probe\", \"append=$OUT_DIR/ONCE1\" ]"
run "$ADVERTD" --once -c "$conf"
check "ONCE1 ran once" test "$(count ONCE1)" -eq 1
# One flipped checksum digit in each of ONCE1's records: both are damage now.
python3 - "$HISTORY" <<'PY'
import sys
p = sys.argv[1]
lines = open(p, 'rb').read().split(b'\n')
for i, l in enumerate(lines):
    if b' advert=ONCE1 ' in l + b' ':
        b = bytearray(l); b[3] = ord('0') if b[3] != ord('0') else ord('1'); lines[i] = bytes(b)
open(p, 'wb').write(b'\n'.join(lines))
PY
run "$ADVERTD" --once -c "$conf"
check "damaged records: ONCE1 did not run again" test "$(count ONCE1)" -eq 1
expect_syslog "11013 says the history is damaged" "11013 history-damaged count=2 " 5
expect_syslog "11013 names the held advertisement" "11013 history-damaged advert=ONCE1 " 5
start_daemon
expect_syslog "restarted" "11020 daemon-started.*" 5
sleep 1
check "... nor after a restart" test "$(count ONCE1)" -eq 1
check_output "advertctl clear-damage ONCE1 (root)" "damage cleared for ONCE1" \
	"$top_builddir/src/advertctl/advertctl" -c "$conf" clear-damage ONCE1
for _ in $(seq 50); do [[ $(count ONCE1) -eq 2 ]] && break; sleep 0.1; done
check "once cleared by an admin, ONCE1 runs (the admin's decision)" test "$(count ONCE1)" -eq 2
check_fails "clear-damage of an advertisement that does not exist: refused" \
	"$top_builddir/src/advertctl/advertctl" -c "$conf" clear-damage NOSUCH1
check "advertctl clear-damage --all" "$top_builddir/src/advertctl/advertctl" -c "$conf" clear-damage --all
check "... then no damage is left to clear" bash -c \
	'! "$1" -c "$2" clear-damage --all' _ "$top_builddir/src/advertctl/advertctl" "$conf"
rm -f "$ADS/once.conf"
stop_daemon

# --- crash safety: 50 rounds of kill -9 at random moments ----------------------------
for round in $(seq 1 50); do
	write_ad "crash$round" "CN$round" never \
		"[ \"/bin/sh\", \"-c\", \"echo x >> $OUT_DIR/CN$round; sleep 0.1\" ]"
	write_ad "crasha$round" "CA$round" always \
		"[ \"/bin/sh\", \"-c\", \"echo x >> $OUT_DIR/CA$round; sleep 0.1\" ]"
	"$ADVERTD" -f -c "$conf" >>"$REALM_DIR/daemon.out" 2>&1 &
	pid=$!
	sleep "0.$((RANDOM % 300))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
done
# Let the orphaned runs wind down, then one clean pass finishes what never started.
sleep 1.5
run "$ADVERTD" --once -c "$conf"
twice=0 unrecorded=0 executed=0
for round in $(seq 1 50); do
	for id in "CN$round" "CA$round"; do
		n=$(count "$id")
		executed=$((executed + n))
		[[ $id == CN* && $n -gt 1 ]] && twice=$((twice + 1))
		[[ $n -gt $(starts_in_history "$id") ]] && unrecorded=$((unrecorded + 1))
	done
done
check "kill -9 x50: no \"never\" program ran twice ($executed executions)" test "$twice" -eq 0
check "kill -9 x50: every execution has its start record" test "$unrecorded" -eq 0
check "every start in the history has an end (reconciled or finished)" bash -c \
	'[[ $(grep -c " start " "$1") -eq $(grep -c " end " "$1") ]]' _ "$HISTORY"
check "no daemon, run process or program is left behind" \
	bash -c '! pgrep -f "[a]dvertd -f -c $1" >/dev/null && ! pgrep -f "[e]cho x >> $2" >/dev/null' _ "$conf" "$OUT_DIR"

# --- a start that fails says so, and a detached start is running when it returns ----------
printf 'poll_interval = "soon";\n' >"$REALM_DIR/broken.conf"
chmod 644 "$REALM_DIR/broken.conf"
OUT=$("$ADVERTD" -c "$REALM_DIR/broken.conf" 2>&1)
rc=$?
check "without -f, a broken advertd.conf is exit 1 with the error on stderr" \
	bash -c '[[ $1 -eq 1 ]] && grep -q "poll_interval" <<<"$2"' _ "$rc" "$OUT"
OUT=$("$ADVERTD" -c "$conf" 2>&1)
rc=$?
pidfile=$(dirname "$ADVERTD_CONTROL_SOCKET")/advertd.pid
detached=$(cat "$pidfile" 2>/dev/null)
check "without -f, a good start is exit 0 and the daemon runs (pid file)" \
	bash -c '[[ $1 -eq 0 && -n $2 ]] && kill -0 "$2"' _ "$rc" "$detached"
check "... detached: in a session of its own, not the caller's" \
	bash -c '[[ $(ps -o sid= -p "$1" | tr -d " ") != $(ps -o sid= -p $$ | tr -d " ") ]]' _ "$detached"
OUT=$("$ADVERTD" -c "$conf" 2>&1)
rc=$?
check "a second advertd without -f: exit 1, \"already running (pid N)\" on stderr" \
	bash -c '[[ $1 -eq 1 ]] && grep -q "already running (pid $2)" <<<"$3"' _ "$rc" "$detached" "$OUT"
[[ -n $detached ]] && kill -TERM "$detached" 2>/dev/null
for _ in $(seq 100); do kill -0 "$detached" 2>/dev/null || break; sleep 0.05; done
check "the detached daemon stops on SIGTERM" bash -c '! kill -0 "$1" 2>/dev/null' _ "$detached"

# --- a problem that stays the same is said once, not at every poll ---------------------
quiet=$REALM_DIR/ads-quiet
mkdir -p "$quiet" && chmod 755 "$quiet"
cat >"$quiet/gone.conf" <<AD
advertisements = ( { id = "GONE1"; package = { id = "PG"; name = "Probe"; source = "$DP/probe"; };
  program = { name = "Gone"; command = [ "./not-there" ]; run_as = "swinstall"; }; } );
AD
chmod 644 "$quiet/gone.conf"
sed -e "s|^advertisements *=.*|advertisements = [ \"$quiet\" ];|" -e 's|^poll_interval.*|poll_interval = 5;|' \
	"$conf" >"$REALM_DIR/quiet.conf"
chmod 644 "$REALM_DIR/quiet.conf"
"$ADVERTD" -f -c "$REALM_DIR/quiet.conf" >>"$REALM_DIR/daemon.out" 2>&1 &
DAEMON_PID=$!
expect_syslog "a missing program: 10003" "10003 prepare-failed advert=GONE1 " 5
sleep 11.5 # two more attempts at poll_interval = 5
check "... tried again at every poll, said once (a reminder after 12 polls)" \
	test "$(grep -c '10003 prepare-failed advert=GONE1 ' "$SYSLOG_LOG")" -eq 1
stop_daemon

finish