#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# advertd --check and advertctl check-config as an admin uses them: the shipped samples
# pass; a broken file is reported as FILE:LINE: with a reason and a non-zero exit; the
# other files keep their advertisements.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
advertd=$top_builddir/src/advertd/advertd
advertctl=$top_builddir/src/advertctl/advertctl
pass=0 fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $*"; fail=$((fail + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir "$tmp/ads"
cp "$top_srcdir"/etc/advertisements.d/*.conf "$tmp/ads/"
# The sample's secrets, as root's own files (what --test-identity would insist on).
mkdir -m 700 "$tmp/secrets"
for f in swinstall.keytab pwinstall.secret krb5.keytab; do
	printf 'secret' >"$tmp/secrets/$f" && chmod 600 "$tmp/secrets/$f"
done
sed -e "s|\"/etc/advertd/advertisements.d\"|\"$tmp/ads\"|" \
	-e "s|\"/etc/advertd/swinstall.keytab\"|\"$tmp/secrets/swinstall.keytab\"|" \
	-e "s|\"/etc/advertd/pwinstall.secret\"|\"$tmp/secrets/pwinstall.secret\"|" \
	-e "s|\"/etc/krb5.keytab\"|\"$tmp/secrets/krb5.keytab\"|" \
	"$top_srcdir/etc/advertd.conf" >"$tmp/advertd.conf"
chmod 644 "$tmp/advertd.conf" "$tmp"/ads/*.conf

out=$("$advertd" --check -c "$tmp/advertd.conf" 2>&1); rc=$?
check "sample configuration passes advertd --check" [ $rc -eq 0 ]
check "summary lists the sample advertisements" grep -q 'LAB00001' <<<"$out"
check "summary counts errors" grep -q '^0 error(s), ' <<<"$out"
check "a program that is not there (yet) is a warning with file and line" \
	grep -Eq "lab.conf:[0-9]+: warning: advertisement \"LAB00001\": program .* is not there \(yet\)" <<<"$out"

# Secrets --test-identity would refuse are --check errors, naming the account's line.
chmod 644 "$tmp/secrets/pwinstall.secret"
rm "$tmp/secrets/swinstall.keytab"
out=$("$advertd" --check -c "$tmp/advertd.conf" 2>&1); rc=$?
check "a password file others can read: an error, with file, line and mode" \
	grep -Eq "advertd.conf:[0-9]+: error: account \"pwinstall\": password file .* \(mode 0644\)" <<<"$out"
check "a missing keytab: an error naming it" \
	grep -Eq "advertd.conf:[0-9]+: error: account \"swinstall\": keytab: .*swinstall.keytab" <<<"$out"
check "... and --check exits 1" [ $rc -eq 1 ]
chmod 600 "$tmp/secrets/pwinstall.secret"
printf 'secret' >"$tmp/secrets/swinstall.keytab" && chmod 600 "$tmp/secrets/swinstall.keytab"

out=$("$advertctl" -c "$tmp/advertd.conf" check-config 2>&1); rc=$?
check "sample configuration passes advertctl check-config" [ $rc -eq 0 ]
out=$("$advertctl" check-config --json -c "$tmp/advertd.conf" 2>/dev/null); rc=$?
check "check-config --json (options after the command): JSON, ok, and its warnings" \
	bash -c '[[ $1 -eq 0 ]] && python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d[\"ok\"] and d[\"errors\"] == 0 and any(p[\"level\"] == \"warning\" for p in d[\"problems\"]) else 1)" "$2"' _ "$rc" "$out"

# --help as GNU tools give it: within 80 columns, the exit codes listed; --version.
for prog in "$advertd" "$advertctl"; do
	name=${prog##*/}
	help=$("$prog" --help); rc=$?
	check "$name --help: exit 0, within 80 columns, with its exit status" \
		bash -c '[[ $1 -eq 0 ]] && ! awk "length(\$0) > 80 { bad = 1 } END { exit !bad }" <<<"$2" && grep -q "^Exit status: 0" <<<"$2"' _ "$rc" "$help"
	check "$name --version names it" bash -c '"$1" --version | grep -Eq "^$2 [0-9]+\.[0-9]+"' _ "$prog" "$name"
done

# A broken advertisement file beside the good one.
cat >"$tmp/ads/broken.conf" <<'CONF'
advertisements = (
  { id = "BROKEN1";
    package = { id = "P"; name = "N"; source = "/srv/p"; };
    program = { name = "I"; comand = [ "x" ]; run_as = "system"; };
  }
);
CONF
chmod 644 "$tmp/ads/broken.conf"
out=$("$advertctl" -c "$tmp/advertd.conf" check-config "$tmp/ads/broken.conf" 2>&1); rc=$?
check "broken file: exit status 1" [ $rc -eq 1 ]
check "broken file: FILE:LINE: and the reason" \
	grep -qF "$tmp/ads/broken.conf:4: error: unknown key \"program.comand\" (did you mean \"command\"?)" <<<"$out"

out=$("$advertd" --check -c "$tmp/advertd.conf" 2>&1); rc=$?
check "advertd --check fails on the broken file" [ $rc -eq 1 ]
check "the good advertisements are still listed" grep -q 'LAB00005' <<<"$out"

chmod 666 "$tmp/ads/broken.conf"
out=$("$advertctl" -c "$tmp/advertd.conf" check-config "$tmp/ads/broken.conf" 2>&1); rc=$?
check "insecure file refused with a reason" grep -q 'writable by group or others (mode 0666)' <<<"$out"

out=$("$advertctl" -c "$tmp/advertd.conf" frobnicate 2>&1); rc=$?
check "unknown command: usage error 2" [ $rc -eq 2 ]

echo "1..$((pass + fail))"
echo "# $pass passed, $fail failed"
[ $fail -eq 0 ]
