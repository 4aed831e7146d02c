#!/bin/bash
# SPDX-License-Identifier: MIT
# Programs run by advertd --once against the MIT realm, checked from inside the program
# (tests/helpers/probe) and from the private rsyslog's file: the privilege drop, the
# environment and descriptors, the ticket cache, system runs, the maximum run time,
# output bounds, missing paths, and every status message ID with its fields.
# Addresses 127.0.10.x.

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ADVERTD=$top_builddir/src/advertd/advertd
PROBE=$top_builddir/tests/helpers/probe

realm_start mit 127.0.10

# A distribution point with the probe in it, readable by the accounts.
DP=$REALM_DIR/dp
mkdir -p "$DP/probe" "$DP/empty" "$DP/closed" "$DP/open"
cp "$PROBE" "$DP/probe/probe"
cp "$PROBE" "$DP/open/probe"
chmod 1777 "$DP/open" # anyone may put a program here: nothing in it runs as root
cp "$PROBE" "$DP/probe/loose-probe"
chmod 0757 "$DP/probe/loose-probe" # a program anyone may rewrite does not run as root"
cp "$PROBE" "$DP/closed/probe"
chmod 700 "$DP/closed" # swinstall cannot enter it: the program cannot start
chmod 755 "$DP" "$DP/probe" "$DP/empty" "$DP/probe/probe"
OUT_DIR=$REALM_DIR/out
mkdir -p "$OUT_DIR" && chmod 1777 "$OUT_DIR"
# Admin rights: root for the run, swinstall's tickets and nothing else. The program
# reports what it can reach and writes where only root may.
ROOT_ONLY=$REALM_DIR/root-only
mkdir -p "$ROOT_ONLY" && chmod 700 "$ROOT_ONLY"
cat >"$DP/probe/admin.sh" <<'SH'
#!/bin/sh
# $1 host keytab, $2 state dir, $3 swinstall's keytab, $4 a root-only dir, $5 realm-exec,
# $6 the DC's LDAP URI
echo "uid=$(id -u) user=$USER logname=$LOGNAME home=$HOME"
klist 2>&1
cc=${KRB5CCNAME#FILE:}
stat -c "ccache=%u:%a" "$cc"
echo "path=$cc"
echo "host-keytab-size=$(stat -L -c %s "$1")"
echo "state-entries=$(ls -A "$2" 2>/dev/null | wc -l)"
echo "own-keytab-size=$(stat -L -c %s "$3")"
echo installed >"$4/installed-by-admin" && echo wrote=yes
"$5" ldapsearch -Y GSSAPI -H "$6" -b "" -s base 1.1 2>&1 | grep "SASL username"
SH
chmod 755 "$DP/probe/admin.sh"

# Short grace and a small output bound for the tests; a broken password for one
# account; DC1 listed after a DC that does not answer (failover).
conf=$REALM_DIR/advertd-test.conf
sed -e 's|^max_concurrent.*|max_concurrent = 4;\nkill_grace = 1;\nmax_log_bytes = 4096;|' \
    -e "s|^  servers = .*|  servers = ( { host = \"dc9.example.test\"; address = \"$REALM_PREFIX.9\"; },|" \
    -e "s|^              { host = \"dc2.example.test\".*|              { host = \"$DC1_HOST\"; address = \"$DC1_ADDR\"; } );|" \
    -e "s|^  { name = \"pwinstall\";|  { name = \"badpw\"; principal = \"$USER_PRINCIPAL\";\n    password_file = \"$REALM_DIR/secrets/bad.secret\"; },\n  { name = \"pwinstall\";|" \
    "$ADVERTD_CONF" >"$conf"
printf 'not-the-password' >"$REALM_DIR/secrets/bad.secret"
chmod 600 "$REALM_DIR/secrets/bad.secret"
chmod 644 "$conf"

ad() { # ID RUN_AS COMMAND-ARRAY [EXTRA…]: one advertisement for the probe
	local id=$1 run_as=$2 cmd=$3; shift 3
	cat <<AD
  { id = "$id"; package = { id = "P$id"; name = "Probe"; source = "$DP/probe"; };
    program = { name = "Run $id"; command = $cmd; run_as = "$run_as";
                environment = { PROBE_VAR = "from the advertisement"; }; $*
    };
    rerun = "never"; },
AD
}
{
	echo "advertisements = ("
	ad RUN00001 swinstall '[ "./probe", "report", "regain-root" ]'
	ad RUN00002 swinstall '[ "/bin/sh", "-c", "klist; stat -c \"ccache=%u:%a\" ${KRB5CCNAME#FILE:}; d=${KRB5CCNAME#FILE:}; stat -c \"ccdir=%u:%a\" ${d%/*}; echo path=${KRB5CCNAME#FILE:}" ]'
	ad RUN00003 system '[ "/bin/sh", "-c", "klist; ./probe report" ]'
	ad RUN00004 swinstall "[ \"./probe\", \"ignore-term\", \"grandchild=$OUT_DIR/grandchild.pid\", \"sleep=60\" ]" 'max_runtime = 1;'
	ad RUN00005 swinstall '[ "./probe", "output=100000", "say=END" ]'
	ad RUN00006 swinstall '[ "./no-such-setup" ]'
	ad RUN00007 swinstall '[ "./probe", "say=failing", "exit=5" ]'
	ad RUN00008 swinstall '[ "./probe", "exit=3" ]' 'reboot_codes = [ 3 ];'
	ad RUN00009 swinstall '[ "./probe" ]' 'requirements = { platforms = [ "sparc64" ]; };'
	ad RUN00010 swinstall '[ "./probe" ]' 'requirements = { min_free_mb = 2000000000; };'
	ad RUN00011 swinstall '[ "./probe" ]' 'depends_on = "RUN00007";'
	ad RUN00012 swinstall '[ "./probe" ]' 'depends_on = "RUN00013";'
	ad RUN00014 badpw '[ "./probe" ]'
	ad RUN00015 pwinstall '[ "./probe", "report" ]'
	ad RUN00032 swinstall '[ "./probe" ]' "max_runtime = 600; }; schedule = { windows = ( { days = [ \"$(LC_ALL=C date -d '+2 days' +%a | tr '[:upper:]' '[:lower:]')\" ]; start = \"03:00\"; duration = 3600; } );"
	ad RUN00030 swinstall "[ \"./admin.sh\", \"$CLIENT_KEYTAB\", \"$ADVERTD_STATE_DIR\", \"$SWINSTALL_KEYTAB\", \"$ROOT_ONLY\", \"$REALM_DIR/bin/realm-exec\", \"$DC1_LDAP_URI\" ]" 'rights = "admin";'
	cat <<AD
  { id = "RUN00020"; package = { id = "P20"; name = "Open"; source = "$DP/open"; };
    program = { name = "Writable"; command = [ "./probe" ]; run_as = "system"; }; },
  { id = "RUN00021"; package = { id = "P21"; name = "Loose"; source = "$DP/probe"; };
    program = { name = "Loose"; command = [ "./loose-probe" ]; run_as = "system"; }; },
AD
	cat <<AD
  { id = "RUN00018"; package = { id = "P18"; name = "Closed"; source = "$DP/closed"; };
    program = { name = "Closed"; command = [ "./probe" ]; run_as = "swinstall"; }; rerun = "never"; },
AD
	cat <<AD
  { id = "RUN00013"; package = { id = "P13"; name = "Disabled"; source = "$DP/probe"; };
    program = { name = "Off"; command = [ "./probe" ]; run_as = "swinstall"; };
    enabled = false; },
  { id = "RUN00016"; package = { id = "P16"; name = "Gone"; source = "$DP/moved-away"; };
    program = { name = "Lost"; command = [ "./probe" ]; run_as = "swinstall"; }; },
  { id = "RUN00017"; package = { id = "P17"; name = "Old"; source = "$DP/probe"; };
    program = { name = "Late"; command = [ "./probe" ]; run_as = "swinstall"; };
    schedule = { start = "2020-01-01T00:00:00Z"; expires = "2020-02-01T00:00:00Z"; }; }
);
AD
} >"$ADVERTISEMENTS_DIR/probe.conf"
printf 'advertisements = ( { id = "BROKEN"; } );\n' >"$ADVERTISEMENTS_DIR/broken.conf"
cat >"$ADVERTISEMENTS_DIR/admin-system.conf" <<AD
advertisements = (
  { id = "RUN00031"; package = { id = "P31"; name = "Probe"; source = "$DP/probe"; };
    program = { name = "Root twice"; command = [ "./probe" ]; run_as = "system";
                rights = "admin"; }; }
);
AD
chmod 644 "$ADVERTISEMENTS_DIR"/*.conf

# --- dry run first: it says what would run and touches nothing ------------------------
kdc_before=$(dc_lines 1)
syslog_before=$(wc -l <"$SYSLOG_LOG")
run "$ADVERTD" --dry-run -c "$conf"
dry_rc=$?
dry=$OUT
check "dry run: exit 1, because an advertisement file has an error" test "$dry_rc" -eq 1
check "dry run: a due program is listed with its account and DC" \
	grep -Eq "would run +RUN00001 .*as swinstall, on dc9.example.test" <<<"$dry"
check "dry run: admin rights are named" grep -Eq "would run +RUN00030 .*swinstall with admin rights" <<<"$dry"
check "dry run: a disabled one says why not" grep -Eq "would not +RUN00013 +disabled" <<<"$dry"
check "dry run: an expired one says why not" grep -Eq "would not +RUN00017 +expired" <<<"$dry"
check "dry run: a platform it does not support is said before any run" \
	grep -Eq "would not +RUN00009 +due, but platform" <<<"$dry"
check "dry run: the broken file is named" grep -q "broken.conf:1" <<<"$dry"
check "dry run: a program outside its maintenance window says when the next one opens" \
	grep -Eq "waits until .* RUN00032 .*" <<<"$dry"
check "... and why" grep -q "waiting for a maintenance window: the next with room for 600 s opens at" <<<"$dry"
check "dry run: no request reached any DC" test "$(dc_lines 1)" -eq "$kdc_before"
check "dry run: no history was written" test ! -e "$ADVERTD_STATE_DIR/history.log"
check "dry run: no program ran, no status message was sent" \
	test ! -e "$ADVERTD_LOG_DIR/RUN00001" -a "$(wc -l <"$SYSLOG_LOG")" -eq "$syslog_before"

export CANARY_FROM_DAEMON=leak-me-not
t0=$EPOCHREALTIME
run "$ADVERTD" --once -c "$conf"
ok "advertd --once ran them all ($(_secs "$t0") s)"

log_of() { cat "$ADVERTD_LOG_DIR/$1"/*.log 2>/dev/null; }
syslog_has() { grep -E -- "$1" "$SYSLOG_LOG" >/dev/null; }
expect_log() { # DESC ID REGEX: rsyslog writes asynchronously, so give it a moment
	local deadline=$((SECONDS + 5))
	until grep -E -- "$2 [a-z-]+ .*$3" "$SYSLOG_LOG" >/dev/null; do
		if ((SECONDS >= deadline)); then
			not_ok "$1" "no line matching '$2 … $3' in $SYSLOG_LOG" "$(tail -n 40 "$SYSLOG_LOG")"
			return
		fi
		sleep 0.05
	done
	ok "$1"
}

# --- from inside the program ---------------------------------------------------------
out=$(log_of RUN00001)
groups=$(sed -n 's/^groups=//p' <<<"$out" | tr ',' '\n' | sort -n | xargs)
check "uid/gid are swinstall's in all three slots" \
	grep -qx "uids=$SWINSTALL_UID,$SWINSTALL_UID,$SWINSTALL_UID" <<<"$out"
check "gids are the primary group in all three slots" \
	grep -qx "gids=$INSTALLERS_GID,$INSTALLERS_GID,$INSTALLERS_GID" <<<"$out"
check "supplementary groups are exactly the directory's answer" \
	test "$groups" = "$INSTALLERS_GID $NESTED_GIDS"
check "root cannot be regained" grep -qx "regain-root=failed" <<<"$out"
check "only fds 0-2 are open" grep -qx "fds=0,1,2" <<<"$out"
check "no variable of the daemon's environment leaks" bash -c "! grep -q CANARY <<<\"\$1\"" _ "$out"
check "the advertisement's environment and ADVERT_* are set" \
	bash -c 'grep -q "env:PROBE_VAR=from the advertisement" <<<"$1" && grep -q "env:ADVERT_ID=RUN00001" <<<"$1" && grep -q "env:ADVERT_RUN_ID=r" <<<"$1" && grep -q "env:USER=swinstall" <<<"$1"' _ "$out"
check "own session, umask 022, cwd = package source" \
	bash -c 'grep -qx "sid_is_pid=1" <<<"$1" && grep -qx "umask=022" <<<"$1" && grep -qx "cwd=$2" <<<"$1"' _ "$out" "$DP/probe"

out=$(log_of RUN00002)
check "the program's ccache holds swinstall's TGT" grep -q "Default principal: $SWINSTALL_PRINCIPAL" <<<"$out"
check "... and the ldap/ ticket from the pinned DC" grep -q "ldap/$DC1_HOST@$REALM" <<<"$out"
check "the ccache is 0600 and owned by swinstall" grep -qx "ccache=$SWINSTALL_UID:600" <<<"$out"
ccache=$(sed -n 's/^path=//p' <<<"$out")
check "the ccache is gone after the run" test -n "$ccache" -a ! -e "$ccache"
check "it lived in a 0700 directory of its own, handed to swinstall" grep -qx "ccdir=$SWINSTALL_UID:700" <<<"$out"
check "... which is gone too" test ! -e "${ccache%/*}"

out=$(log_of RUN00030)
check "admin rights: the program is root, USER/LOGNAME name the account, HOME is root's" \
	grep -qx "uid=0 user=swinstall logname=swinstall home=/root" <<<"$out"
check "admin rights: the only credentials it holds are swinstall's TGT" \
	grep -q "Default principal: $SWINSTALL_PRINCIPAL" <<<"$out"
check "... and nothing of the host's" bash -c '! grep -q "$1" <<<"$2"' _ "$CLIENT_PRINCIPAL" "$out"
check "admin rights: the ccache is root's, 0600" grep -qx "ccache=0:600" <<<"$out"
ccache=$(sed -n 's/^path=//p' <<<"$out")
check "... and gone after the run" test -n "$ccache" -a ! -e "$ccache"
check "admin rights: the host's keytab is out of reach" grep -qx "host-keytab-size=0" <<<"$out"
check "admin rights: advertd's state (guard, client token tickets) is out of reach" \
	grep -qx "state-entries=0" <<<"$out"
check "admin rights: the account's own keytab is out of reach too" grep -qx "own-keytab-size=0" <<<"$out"
check "admin rights: it wrote where only root may write" test -s "$ROOT_ONLY/installed-by-admin"
check "admin rights: on the DC its network identity is swinstall (GSSAPI bind)" \
	grep -q "SASL username: $SWINSTALL_PRINCIPAL" <<<"$out"
check "admin rights: the masks stayed in the run's namespace" \
	test -s "$CLIENT_KEYTAB" -a -s "$SWINSTALL_KEYTAB"
expect_log "admin rights: status lines say rights=admin" 10008 "advert=RUN00030 .*account=swinstall rights=admin"
expect_log "rights = admin with run_as = system: an error naming file and line" 11010 \
	"file=$ADVERTISEMENTS_DIR/admin-system.conf line=[0-9]+ .*rights"

out=$(log_of RUN00003)
check "a system run is root" grep -qx "uids=0,0,0" <<<"$out"
check "a system run holds the client token account's ticket" \
	grep -q "Default principal: $CLIENT_PRINCIPAL" <<<"$out"

gpid=$(cat "$OUT_DIR/grandchild.pid" 2>/dev/null)
check "max run time: the setsid'd grandchild that ignored SIGTERM is gone" \
	bash -c '[[ -n $1 ]] && ! grep -qv "^Z" <(awk "{print \$3}" /proc/$1/stat 2>/dev/null)' _ "$gpid"

# --- status messages ---------------------------------------------------------------
expect_log "10002 advertisement received" 10002 "advert=RUN00001 .*file="
expect_log "10005 program started, with account and DC" 10005 "advert=RUN00001 .*account=swinstall dc=$DC1_HOST pid="
expect_log "10008 program completed" 10008 "advert=RUN00001 package=PRUN00001 program=\"Run RUN00001\" run=r[0-9]+ account=swinstall dc=$DC1_HOST exit=0 duration="
expect_log "10006 program failed, with the exit code and its last output" 10006 "advert=RUN00007 .*exit=5 .*output=failing"
expect_log "10022 success, restart pending" 10022 "advert=RUN00008 .*exit=3"
expect_log "11001 maximum run time exceeded, killed" 11001 "advert=RUN00004 .*signal=SIGKILL.*maximum run time"
expect_log "output over the bound is counted" 10008 "advert=RUN00005 .*output_dropped=[0-9]+"
check "... and the log notes the truncation" grep -q "output truncated at 4096 bytes" <(log_of RUN00005)
expect_log "10003 missing program names the path" 10003 "advert=RUN00006 .*no-such-setup.*is missing"
expect_log "10003 missing package source names the path" 10003 "advert=RUN00016 .*moved-away"
expect_log "10003 a working directory the account cannot enter" 10003 "advert=RUN00018 .*working directory"
expect_log "10018 platform not supported" 10018 "advert=RUN00009 .*platform"
expect_log "11005 requirements not met (free space)" 11005 "advert=RUN00010 .*MB free"
expect_log "11004 dependency failed" 11004 "advert=RUN00011 .*depends_on=RUN00007"
expect_log "11003 waiting for a dependency" 11003 "advert=RUN00012 .*depends_on=RUN00013"
expect_log "11002 expired" 11002 "advert=RUN00017"
expect_log "10003 a rejected password stops the run" 10003 "advert=RUN00014 .*secret-rejected"
expect_log "11009 DC failover names the silent DC" 11009 "tried=\"?dc9.example.test \(no answer\)"
expect_log "11010 a broken file is reported with file and line" 11010 "file=$ADVERTISEMENTS_DIR/broken.conf line=1"
expect_log "10003 as root, no program from a directory others can write" 10003 "advert=RUN00020 .*refusing"
expect_log "10003 as root, no program others can write" 10003 "advert=RUN00021 .*refusing"
check "neither ran" test ! -e "$OUT_DIR/RUN00020" -a ! -e "$OUT_DIR/RUN00021"
expect_log "11020 daemon started" 11020 "version="
check "pwinstall (password file) ran too" grep -q "uids=$PWINSTALL_UID" <(log_of RUN00015)

# A second pass: "never" programs do not run again; the guard holds the bad password;
# the missing program, now put in place, runs: a program that was not there never
# counted as started.
cp "$DP/probe/probe" "$DP/probe/no-such-setup"
chmod 755 "$DP/closed"
run "$ADVERTD" --once -c "$conf"
expect_log "a program the account could not start, once it can, runs (\"never\" did not count it)" \
	10008 "advert=RUN00018 "
expect_log "the missing program, once in place, runs (\"never\" did not count it)" 10008 "advert=RUN00006 "
expect_log "11006 will not rerun" 11006 "advert=RUN00001 "
expect_log "11008 the lockout guard holds the rejected password" 11008 "advert=RUN00014 .*will not be sent again"
check_output "the wrong password was tried exactly once on DC1" "failures=1 locked=no" \
	"$REALM_SCRIPT" failures "$REALM_DIR" dc1 "$USER_PRINCIPAL"
check "program logs are 0640" test -z "$(find "$ADVERTD_LOG_DIR" -name '*.log' ! -perm 0640)"

# What the parent leaves behind must not matter: SIGCHLD ignored (children would vanish
# unreaped and the run process spin), a blocked signal mask, and fds 0-2 closed (the
# first file opened would become stderr). One more program, started under all of it.
hostile=$REALM_DIR/ads-hostile
mkdir -p "$hostile" && chmod 755 "$hostile"
cat >"$hostile/hostile-parent.conf" <<AD
advertisements = (
$(ad RUN00099 swinstall '[ "./probe", "append='"$OUT_DIR"'/RUN00099" ]' | sed '$ s/,$//')
);
AD
chmod 644 "$hostile/hostile-parent.conf"
sed "s|^advertisements *=.*|advertisements = [ \"$hostile\" ];|" "$conf" >"$REALM_DIR/hostile.conf"
chmod 644 "$REALM_DIR/hostile.conf"
t0=$EPOCHREALTIME
timeout -s KILL 60 python3 -c 'import os, signal, sys
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGUSR1})
for fd in (0, 1, 2): os.close(fd)
os.execv(sys.argv[1], sys.argv[1:])' "$ADVERTD" --once -c "$REALM_DIR/hostile.conf"
rc=$?
check "a hostile parent (SIGCHLD ignored, signals blocked, fds 0-2 closed): --once succeeds ($(_secs "$t0") s)" \
	test $rc -eq 0 -a -f "$OUT_DIR/RUN00099"
check "... and the run history holds records only" \
	test -z "$(grep -Ev '^v1 [0-9a-f]+ [a-z]+ ' "$ADVERTD_STATE_DIR/history.log" | head -1)"

# --once says what waits for this host's splay instead of "0 program(s) ran", and a
# rejected advertisement makes it fail.
splayed=$REALM_DIR/ads-splay
mkdir -p "$splayed" && chmod 755 "$splayed"
printf 'advertisements = (\n%s\n);\n' "$(ad SPLAY001 swinstall '[ "./probe" ]' | sed '$ s/,$//')" \
	>"$splayed/splay.conf"
chmod 644 "$splayed/splay.conf"
sed -e "s|^advertisements *=.*|advertisements = [ \"$splayed\" ];|" -e 's|^splay .*|splay = 86400;|' \
	"$conf" >"$REALM_DIR/splay.conf"
chmod 644 "$REALM_DIR/splay.conf"
OUT=$("$ADVERTD" --once -c "$REALM_DIR/splay.conf" 2>&1)
rc=$?
check "--once with a program waiting for its splay: exit 0, and it says which and when" \
	bash -c '[[ $1 -eq 0 ]] && grep -Eq "SPLAY001 +due in [0-9]+ s" <<<"$2" && grep -q "1 waiting for splay" <<<"$2"' _ "$rc" "$OUT"
printf 'advertisements = ( { id = "BAD"; } );\n' >"$splayed/bad.conf"
chmod 644 "$splayed/bad.conf"
OUT=$("$ADVERTD" --once -c "$REALM_DIR/splay.conf" 2>&1)
rc=$?
check "--once with a rejected advertisement: exit 1, counted in the summary" \
	bash -c '[[ $1 -eq 1 ]] && grep -Eq "[1-9][0-9]* error\(s\) in the advertisements" <<<"$2"' _ "$rc" "$OUT"

# --- restarts: a reboot code, a dependent that waits for the restart, after_run -------
boots=$REALM_DIR/ads-restart
mkdir -p "$boots" && chmod 755 "$boots"
{
	echo "advertisements = ("
	ad RBT00001 swinstall '[ "./probe", "exit=3" ]' 'reboot_codes = [ 3 ];'
	ad RBT00002 swinstall "[ \"./probe\", \"append=$OUT_DIR/RBT00002\" ]" 'depends_on = "RBT00001";'
	ad RBT00003 swinstall "[ \"./probe\", \"append=$OUT_DIR/RBT00003\" ]" 'depends_on = "RBT00001"; wait_for_restart = false;'
	ad RBT00004 swinstall '[ "./probe", "sleep=2" ]'
	ad RBT00005 swinstall '[ "./probe" ]' 'after_run = "restart";' | sed '$ s/,$//'
	echo ");"
} >"$boots/restart.conf"
chmod 644 "$boots/restart.conf"
sed -e "s|^advertisements *=.*|advertisements = [ \"$boots\" ];|" "$conf" >"$REALM_DIR/restart.conf"
chmod 644 "$REALM_DIR/restart.conf"
in_boot() { # BOOT-ID COMMAND…: runs COMMAND as if the machine were in that boot
	local id=$1; shift
	printf '%s\n' "$id" >"$REALM_DIR/boot_id.$id"
	unshare -m --propagation private sh -c \
		'mount --bind "$0" /proc/sys/kernel/random/boot_id && exec "$@"' "$REALM_DIR/boot_id.$id" "$@"
}
BOOT1=11111111-1111-4111-8111-111111111111
BOOT2=22222222-2222-4222-8222-222222222222
OUT=$(in_boot $BOOT1 "$ADVERTD" --once -c "$REALM_DIR/restart.conf" 2>&1)
expect_log "a reboot code: 10022, restart pending" 10022 "advert=RBT00001 .*exit=3"
check "... and $REBOOT_REQUIRED says so, as Debian's flag file" \
	grep -qx '\*\*\* System restart required \*\*\*' "$REBOOT_REQUIRED"
check "... naming the package in its .pkgs list" grep -qx "Probe" "$REBOOT_REQUIRED.pkgs"
check "a dependent waits for the restart" test ! -e "$OUT_DIR/RBT00002"
check "... unless it says it need not (wait_for_restart = false)" test -s "$OUT_DIR/RBT00003"
check "after_run = restart: the restart was asked for exactly once" \
	test "$(grep -c '^restart -r +2$' "$RESTART_LOG" 2>/dev/null)" -eq 1
expect_log "... with 11030, naming the run" 11030 "advert=RBT00005 run=r[0-9]+ "
check "... only once no other program of ours ran (after RBT00004's end)" bash -c \
	'[[ $(grep -n "10008 program-completed advert=RBT00004 " "$1" | cut -d: -f1) -lt $(grep -n " 11030 " "$1" | cut -d: -f1) ]]' _ "$SYSLOG_LOG"
OUT=$(in_boot $BOOT1 "$ADVERTD" --once -c "$REALM_DIR/restart.conf" 2>&1)
check "the same boot again: no second restart, the dependent still waits" \
	test "$(grep -c '^restart' "$RESTART_LOG")" -eq 1 -a ! -e "$OUT_DIR/RBT00002"
OUT=$(in_boot $BOOT2 "$ADVERTD" --once -c "$REALM_DIR/restart.conf" 2>&1)
expect_log "after the restart (a new boot id): 10008 completed for the run that needed it" \
	10008 "advert=RBT00001 .*the restart it needed has happened"
check "... and the dependent ran" test -s "$OUT_DIR/RBT00002"
OUT=$(in_boot $BOOT2 "$ADVERTD" --once -c "$REALM_DIR/restart.conf" 2>&1)
check "... reported once, not at every start" \
	test "$(grep -c 'advert=RBT00001 .*the restart it needed has happened' "$SYSLOG_LOG")" -eq 1
check "no restart was asked for after it either" test "$(grep -c '^restart' "$RESTART_LOG")" -eq 1

# --- logon conditions, from real utmp records: program.when ---------------------------
UTMP=$top_builddir/tests/helpers/utmp
logon=$REALM_DIR/ads-logon
mkdir -p "$logon" "$REALM_DIR/sessions" && chmod 755 "$logon"
{
	echo "advertisements = ("
	ad LOGON001 swinstall "[ \"./probe\", \"append=$OUT_DIR/LOGON001\" ]" 'when = "no-user";'
	ad LOGON002 swinstall "[ \"./probe\", \"append=$OUT_DIR/LOGON002\" ]" 'when = "user";' | sed '$ s/,$//'
	echo ");"
} >"$logon/logon.conf"
chmod 644 "$logon/logon.conf"
sed -e "s|^advertisements *=.*|advertisements = [ \"$logon\" ];|" "$conf" >"$REALM_DIR/logon.conf"
chmod 644 "$REALM_DIR/logon.conf"
# A private /run (no logind there: utmp is the source) whose utmp the test writes.
with_utmp() {
	unshare -m --propagation private sh -c \
		'mount -t tmpfs none /run && cp "$0" /run/utmp && exec "$@"' "$REALM_DIR/sessions/utmp" "$@"
}
sleep 300 &
alice_pid=$!
true &
gone_pid=$!
wait "$gone_pid"
"$UTMP" "$REALM_DIR/sessions/utmp" login alice pts/7 "$alice_pid"
"$UTMP" "$REALM_DIR/sessions/utmp" login bob pts/8 "$gone_pid" # stale: its process is gone
OUT=$(with_utmp "$ADVERTD" --once -c "$REALM_DIR/logon.conf" 2>&1)
check "when = user: with alice logged on (utmp), it ran" test -s "$OUT_DIR/LOGON002"
check "when = no-user: it did not" test ! -e "$OUT_DIR/LOGON001"
expect_log "... and said why, naming the source; bob's stale entry counts as no one" 11031 \
	"advert=LOGON001 .*waiting until no user is logged on .*utmp: 1 session"
dry=$(with_utmp "$ADVERTD" --dry-run -c "$REALM_DIR/logon.conf" 2>&1)
check "dry run: the waiting program says why" grep -q "waiting until no user is logged on" <<<"$dry"
"$UTMP" "$REALM_DIR/sessions/utmp" logout pts/7
kill "$alice_pid" 2>/dev/null
wait "$alice_pid" 2>/dev/null
OUT=$(with_utmp "$ADVERTD" --once -c "$REALM_DIR/logon.conf" 2>&1)
check "alice logged out: when = no-user runs" test -s "$OUT_DIR/LOGON001"

# --- run logs are kept to max_logs_per_advert, the newest ------------------------------
keepdir=$REALM_DIR/ads-keep
mkdir -p "$keepdir" && chmod 755 "$keepdir"
printf 'advertisements = (\n%s\n);\n' "$(ad KEEP0001 swinstall '[ "./probe", "say=newest" ]' | sed '$ s/,$//')" \
	>"$keepdir/keep.conf"
chmod 644 "$keepdir/keep.conf"
sed -e "s|^advertisements *=.*|advertisements = [ \"$keepdir\" ];|" \
	-e 's|^max_concurrent|max_logs_per_advert = 3;\nmax_concurrent|' "$conf" >"$REALM_DIR/keep.conf"
chmod 644 "$REALM_DIR/keep.conf"
mkdir -p "$ADVERTD_LOG_DIR/KEEP0001"
for k in 1 2 3 4 5; do echo "old $k" >"$ADVERTD_LOG_DIR/KEEP0001/r0000000$k.log"; done
OUT=$("$ADVERTD" --once -c "$REALM_DIR/keep.conf" 2>&1)
kept=$(cd "$ADVERTD_LOG_DIR/KEEP0001" && echo *)
check "max_logs_per_advert = 3: the two newest old logs and this run's are kept ($kept)" \
	bash -c '[[ $(wc -w <<<"$1") -eq 3 && $1 == "r00000004.log r00000005.log r"* ]] && grep -q newest "$2"/$(ls "$2" | tail -1)' _ "$kept" "$ADVERTD_LOG_DIR/KEEP0001"

finish