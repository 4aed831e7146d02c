#!/bin/bash
# SPDX-License-Identifier: MIT
# The systemd unit as built: systemd-analyze verify finds nothing wrong with it (its
# ExecStart pointed at the built advertd, its man pages on MANPATH), and the tmpfiles
# entry creates the runtime, state and log directories with the right modes.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
pass=0 fail=0
check() { local d=$1; shift; if "$@"; then echo "ok - $d"; pass=$((pass + 1)); else echo "not ok - $d"; fail=$((fail + 1)); fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

unit=$top_builddir/etc/advertd.service
check "the unit is generated at build time" test -s "$unit"
check "ExecStart names the installed advertd in the foreground" grep -q '^ExecStart=/.*/advertd -f$' "$unit"
sed "s|^ExecStart=.*|ExecStart=$top_builddir/src/advertd/advertd -f|" "$unit" >"$tmp/advertd.service"
mkdir -p "$tmp/man/man5" "$tmp/man/man8"
cp "$top_srcdir"/man/*.5 "$tmp/man/man5/" && cp "$top_srcdir"/man/*.8 "$tmp/man/man8/"
out=$(cd "$tmp" && MANPATH=$tmp/man SYSTEMD_LOG_LEVEL=notice systemd-analyze verify ./advertd.service 2>&1)
check "systemd-analyze verify is clean" test -z "$out"
[[ -z $out ]] || while IFS= read -r l; do echo "#   $l"; done <<<"$out"

root=$tmp/root
systemd-tmpfiles --create --root="$root" "$top_srcdir/etc/advertd.tmpfiles" 2>/dev/null
check "tmpfiles: /run/advertd 0755" test "$(stat -c %a "$root/run/advertd" 2>/dev/null)" = 755
check "tmpfiles: /var/lib/advertd 0700" test "$(stat -c %a "$root/var/lib/advertd" 2>/dev/null)" = 700
check "tmpfiles: /var/log/advertd 0750" test "$(stat -c %a "$root/var/log/advertd" 2>/dev/null)" = 750

# make install respects the admin: samples go to the docs, the live directory starts
# empty, and a second install writes over nothing the admin made.
stage=$tmp/stage
make -s -C "$top_builddir" install DESTDIR="$stage" >/dev/null 2>&1
etc=$(find "$stage" -type d -path '*/etc/advertd' | head -1)
check "install: the live advertisements directory exists and is empty" \
	bash -c '[[ -d $1/advertisements.d && -z $(ls -A "$1/advertisements.d") ]]' _ "$etc"
check "install: no advertd.conf is put in place (the unit waits for one)" test ! -e "$etc/advertd.conf"
check "install: the samples are examples in the docs" \
	test -n "$(find "$stage" -path '*/doc/advertd/examples/lab.conf')"
check "the unit does not start before advertd.conf exists" \
	grep -q "^ConditionPathExists=/.*/advertd/advertd.conf$" "$unit"
printf '# mine\n' >"$etc/advertd.conf"
printf '# mine too\n' >"$etc/advertisements.d/site.conf"
make -s -C "$top_builddir" install DESTDIR="$stage" >/dev/null 2>&1
check "a second install leaves the admin's files alone" \
	bash -c '[[ $(cat "$1/advertd.conf") == "# mine" && $(ls "$1/advertisements.d") == site.conf ]]' _ "$etc"

for page in "$top_srcdir"/man/*.[58]; do
	w=$(groff -ww -man -Tutf8 "$page" 2>&1 >/dev/null)
	check "$(basename "$page") renders without a warning" test -z "$w"
done
echo "1..$((pass + fail))"
echo "# $pass passed, $fail failed"
[ "$fail" -eq 0 ]
