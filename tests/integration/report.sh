#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# advertctl report over what a central collector keeps: each host's latest state per
# advertisement, filters, JSON, and lines that are not ours or pose as ours.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
advertctl=$top_builddir/src/advertctl/advertctl
pass=0 fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $*"; fail=$((fail + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

log=$tmp/collector.log
{
	echo 'Dec  1 10:00:00 ws1.example.test advertd[10]: 10005 program-started advert=LAB00001 run=r00000001 account=swinstall pid=99'
	echo 'Dec  1 10:00:05 ws1.example.test advertd[10]: 10008 program-completed advert=LAB00001 run=r00000001 account=swinstall exit=0'
	echo '2026-12-01T10:00:01.5+00:00 ws2.example.test advertd[11]: 10006 program-failed advert=LAB00001 run=r00000007 exit=2 reason="exit code 2" output="cannot find /opt/x"'
	printf '%s\n' 'Dec  1 10:00:02 ws3.example.test advertd[12]: 10003 prepare-failed advert=LAB00001 reason="program \x22/srv/dp/setup\x22 is missing"'
	echo 'Dec  1 10:00:03 ws3.example.test advertd[12]: 11008 guard-holding advert=LAB00003 account=pwinstall reason="the KDC on dc1 rejected this secret"'
	echo 'Dec  1 10:00:04 ws2.example.test advertd[11]: 10022 program-completed-restart-pending advert=LAB00003 run=r00000008 exit=194'
	echo 'Dec  1 10:00:04 ws4.example.test advertd[13]: 10005 program-started advert=LAB00003 run=r00000002 pid=7'
	# Not ours, or posing as ours from inside a program's output:
	echo 'Dec  1 10:00:06 ws1.example.test sshd[5]: Accepted publickey for root'
	echo 'Dec  1 10:00:07 ws2.example.test advertd[11]: 10006 program-failed advert=LAB00005 reason="x" output="ws9 advertd[1]: 10008 program-completed advert=LAB00005"'
	printf 'Dec  1 10:00:08 ws5.example.test advertd[14]: 10008 program-completed advert="\xff\xfe" run=r1\n'
	printf 'Dec  1 10:00:09 ws6.example.test advertd[15]: 10008 program-completed advert="unterminated\n'
	head -c 100000 /dev/zero | tr '\0' 'x'
	echo
} >"$log"

out=$("$advertctl" report "$log" 2>&1)
rc=$?
check "report: exit 0" test "$rc" -eq 0
check "LAB00001: 3 hosts: 1 succeeded, 1 failed, 1 not started" \
	grep -q "^LAB00001: 3 host(s), 1 succeeded, 1 failed, 1 not-started" <<<"$out"
check "... the failure with its host and reason" grep -q "failed  *ws2.example.test: exit code 2" <<<"$out"
check "... the host that could not start, and why" \
	grep -q 'not-started  *ws3.example.test: program "/srv/dp/setup" is missing' <<<"$out"
check "LAB00003: running, restart pending, guard holding" \
	grep -q "^LAB00003: 3 host(s), 1 running, 1 restart-pending, 1 guard-holding" <<<"$out"
check "a status line inside a program's output counts as nothing of ws9's" bash -c '! grep -q ws9 <<<"$1"' _ "$out"
check "LAB00005's only host is the one that failed" grep -q "^LAB00005: 1 host(s), 1 failed" <<<"$out"
check "lines that are not ours are counted, not guessed at" grep -q "^12 line(s), 4 not advertd" <<<"$out"
out=$("$advertctl" report --host ws3.example.test <"$log" 2>&1)
check "--host, and stdin" bash -c 'grep -q "^LAB00001: 1 host(s), 1 not-started" <<<"$1" && grep -q "^LAB00003: 1 host(s), 1 guard-holding" <<<"$1"' _ "$out"
out=$("$advertctl" report --json --advert LAB00003 "$log" 2>&1)
check "--json --advert: one advertisement, its counts and hosts, valid JSON" \
	python3 -c 'import json,sys; d=json.loads(sys.argv[1]); a=d["advertisements"]; sys.exit(0 if len(a) == 1 and a[0]["advert"] == "LAB00003" and a[0]["counts"]["guard-holding"] == 1 and len(a[0]["hosts"]) == 3 else 1)' "$out"
"$advertctl" report "$tmp/missing.log" >/dev/null 2>&1
check "a file that cannot be read: exit 1" test $? -eq 1

echo "1..$((pass + fail))"
echo "# $pass passed, $fail failed"
[ "$fail" -eq 0 ]
