#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Status messages in the journal, against a real systemd-journald started in a private
# mount namespace (its own /run, journal and catalog database): with journald present and
# syslog.socket at /dev/log, advertd sends its own fields; journalctl ADVERT_ID=… finds
# exactly that advertisement's lines, MESSAGE is the syslog line unchanged, MESSAGE_ID,
# PRIORITY and SYSLOG_IDENTIFIER are right, every status ID has a catalog entry and
# journalctl -x shows it; syslog.target = "socket" keeps the socket, and "journal" falls
# back to it when journald does not answer.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
if [[ ${1:-} != --inside ]]; then
	[[ $EUID -eq 0 ]] || { echo "not ok - needs root (a mount namespace)"; echo "1..1"; exit 1; }
	exec unshare -m --propagation private bash "$0" --inside
fi

advertd=$top_builddir/src/advertd/advertd
pass=0 fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $*"; fail=$((fail + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }

tmp=$(mktemp -d)
jpid="" listener=""
cleanup() {
	local p
	for p in $jpid $listener; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
chmod 755 "$tmp"
# This namespace's own /run, journal and catalog: nothing of the host's is touched.
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal /var/log/journal /var/lib/systemd/catalog "$tmp/catalog"
mount -t tmpfs tmpfs /var/log/journal
mount -t tmpfs tmpfs /var/lib/systemd/catalog
cp /usr/lib/systemd/catalog/*.catalog "$tmp/catalog/" 2>/dev/null
cp "$top_srcdir/etc/advertd.catalog" "$tmp/catalog/"
mkdir -p /usr/lib/systemd/catalog
mount --bind "$tmp/catalog" /usr/lib/systemd/catalog
/lib/systemd/systemd-journald >"$tmp/journald.out" 2>&1 &
jpid=$!
for _ in $(seq 100); do [[ -S /run/systemd/journal/socket ]] && break; sleep 0.05; done
check "a private journald listens" test -S /run/systemd/journal/socket

mkdir -m 755 "$tmp/ads" "$tmp/state" "$tmp/log"
cat >"$tmp/advertd.conf" <<CONF
advertisements = [ "$tmp/ads" ];
state_dir = "$tmp/state";
log_dir = "$tmp/log";
control_socket = "$tmp/control.sock";
syslog = { ident = "advertd"; socket = "/dev/log"; };
splay = 0;
CONF
cat >"$tmp/ads/j.conf" <<AD
advertisements = (
  { id = "JRNL0001"; package = { id = "JP1"; name = "Journal"; source = "/usr"; };
    program = { name = "Good"; command = [ "/bin/true" ]; run_as = "system"; }; },
  { id = "JRNL0002"; package = { id = "JP2"; name = "Journal"; source = "/usr"; };
    program = { name = "Bad"; command = [ "/bin/sh", "-c", "echo it broke; exit 3" ];
                run_as = "system"; }; }
);
AD
chmod 644 "$tmp/advertd.conf" "$tmp/ads/j.conf"
"$advertd" --once -c "$tmp/advertd.conf" >"$tmp/once.out" 2>&1; echo "advertd exit $?" >>"$tmp/once.out"
journalctl --flush >/dev/null 2>&1
sleep 0.3
j() { journalctl --no-pager -q "$@" 2>/dev/null; }

mine=$(j ADVERT_ID=JRNL0001 -o cat)
check "journalctl ADVERT_ID=JRNL0001 finds its received, started and completed lines" \
	grep -q "^10008 program-completed advert=JRNL0001 " <<<"$mine"
check "... and nothing of JRNL0002" test "$(grep -c JRNL0002 <<<"$mine")" -eq 0
check "... four lines (received, started, completed, will not rerun), each its own" \
	test "$(grep -c "advert=JRNL0001" <<<"$mine")" -eq 4
line=$(j ADVERT_ID=JRNL0002 ADVERT_STATUS=10006 -o cat)
check "MESSAGE is the syslog line as it always was" \
	grep -Eq '^10006 program-failed advert=JRNL0002 package=JP2 program=Bad run=r[0-9]+ account=system exit=3 duration=[0-9.]+ reason="exit code 3" output="it broke"$' <<<"$line"
fields=$(j ADVERT_ID=JRNL0002 ADVERT_STATUS=10006 -o export)
check "MESSAGE_ID is the fixed id of 10006" grep -qx "MESSAGE_ID=8e15d28feb994fe5862058eac0010006" <<<"$fields"
check "PRIORITY is 3 (err)" grep -qx "PRIORITY=3" <<<"$fields"
check "SYSLOG_IDENTIFIER is advertd" grep -qx "SYSLOG_IDENTIFIER=advertd" <<<"$fields"
has_fields() {
	grep -qx ADVERT_EXIT=3 <<<"$fields" && grep -qx ADVERT_ACCOUNT=system <<<"$fields" &&
		grep -qE "^ADVERT_RUN=r[0-9]+$" <<<"$fields" && grep -qx ADVERT_EVENT=program-failed <<<"$fields" &&
		grep -qx "ADVERT_OUTPUT=it broke" <<<"$fields"
}
check "the fields as they are: ADVERT_EXIT, ADVERT_ACCOUNT, ADVERT_RUN, ADVERT_EVENT, ADVERT_OUTPUT" has_fields
check "the daemon's own lines are there too (11020)" \
	grep -q "^11020 daemon-started" <<<"$(j MESSAGE_ID=8e15d28feb994fe5862058eac0011020 -o cat)"

# The catalog: one entry per status ID, and journalctl -x shows it.
ids=$(grep -o 'STATUS_[A-Z_]* = [0-9]*' "$top_srcdir/include/advert/status.h" | awk '{print $3}' | sort -u)
missing=""
for id in $ids; do
	grep -q "^-- 8e15d28feb994fe5862058eac0$(printf %06d "$id")$" "$top_srcdir/etc/advertd.catalog" ||
		missing+=" $id"
done
check "every status ID has a catalog entry${missing:+ (missing:$missing)}" test -z "$missing"
check "journalctl --update-catalog takes the catalog" journalctl --update-catalog
explained=$(j -x ADVERT_ID=JRNL0002 ADVERT_STATUS=10006)
check "journalctl -x explains the failure, with its fields filled in" \
	grep -q "Subject: Program of JRNL0002 failed" <<<"$explained"
check "... and says what to do" grep -q "advertctl log JRNL0002 r" <<<"$explained"

# syslog.target: "socket" keeps the syslog socket even where journald runs; "journal"
# falls back to the socket when journald does not answer.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
out = open(sys.argv[2], "ab", 0)
while True:
    out.write(s.recv(65536) + b"\n")' "$tmp/log.sock" "$tmp/log.out" &
listener=$!
for _ in $(seq 100); do [[ -S $tmp/log.sock ]] && break; sleep 0.05; done
once_with() { # NAME ID TARGET: advertd --once with its own state and one advertisement
	mkdir -p "$tmp/$1/ads" "$tmp/$1/state" "$tmp/$1/log"
	chmod 755 "$tmp/$1" "$tmp/$1/ads" "$tmp/$1/state" "$tmp/$1/log"
	sed -e "s|$tmp/ads|$tmp/$1/ads|; s|$tmp/state|$tmp/$1/state|; s|$tmp/log\"|$tmp/$1/log\"|" \
		-e "s|$tmp/control.sock|$tmp/$1/control.sock|" \
		-e "s|socket = \"/dev/log\"; };|socket = \"$tmp/log.sock\"; target = \"$3\"; };|" \
		"$tmp/advertd.conf" >"$tmp/$1/advertd.conf"
	sed -e "s/JRNL0001/$2/" -e '/JRNL0002/,$d' "$tmp/ads/j.conf" >"$tmp/$1/ads/j.conf"
	echo ');' >>"$tmp/$1/ads/j.conf"
	sed -i 's/}; },$/}; }/' "$tmp/$1/ads/j.conf"
	chmod 644 "$tmp/$1/advertd.conf" "$tmp/$1/ads/j.conf"
	"$advertd" --once -c "$tmp/$1/advertd.conf" >>"$tmp/once.out" 2>&1
}
once_with socket JRNL0003 socket
check "syslog.target = socket: the lines reach the socket" grep -q "advert=JRNL0003 " "$tmp/log.out"
check "... and not the journal's own fields" test -z "$(j ADVERT_ID=JRNL0003 -o cat)"
kill "$jpid" && wait "$jpid" 2>/dev/null
jpid=""
once_with fallback JRNL0004 journal
check "syslog.target = journal, journald gone: the lines fall back to the socket" \
	grep -q "10008 program-completed advert=JRNL0004 " "$tmp/log.out"
kill "$listener" 2>/dev/null && wait "$listener" 2>/dev/null
listener=""

[[ $fail -eq 0 ]] || { cat "$tmp/once.out"; j -o cat | grep -E '^1[01][0-9]{3} '; }
echo "1..$((pass + fail))"
echo "# $pass passed, $fail failed"
[[ $fail -eq 0 ]]
