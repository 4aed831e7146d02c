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

for page in "$top_srcdir"/man/*.[58]; do
	w=$(groff -ww -man -Tutf8 "$page" 2>&1 >/dev/null)
	check "$(basename "$page") renders without a warning" test -z "$w"
done
echo "1..$((pass + fail))"
echo "# $pass passed, $fail failed"
[ "$fail" -eq 0 ]
