#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# advertctl's bash completion as bash runs it: registered by the installed file,
# commands and options, advertisement ids from a running daemon's list, accounts from
# advertd.conf, files where files go, and nothing from a daemon that is not there.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
advertd=$top_builddir/src/advertd/advertd
completion=$top_srcdir/etc/advertctl.bash-completion
pass=0 fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $*"; fail=$((fail + 1)); }

tmp=$(mktemp -d)
daemon=""
trap '[[ -n $daemon ]] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null; rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir -m 755 "$tmp/ads" "$tmp/state" "$tmp/log" "$tmp/bin"
ln -s "$top_builddir/src/advertctl/advertctl" "$tmp/bin/advertctl"
cat >"$tmp/advertd.conf" <<CONF
advertisements = [ "$tmp/ads" ];
state_dir = "$tmp/state";
log_dir = "$tmp/log";
control_socket = "$tmp/control.sock";
syslog = { socket = "$tmp/no-syslog.sock"; };
accounts = ( { name = "builder"; local_user = "nobody"; },
             { name = "packager"; local_user = "nobody"; } );
CONF
cat >"$tmp/ads/c.conf" <<AD
advertisements = (
  { id = "COMP0001"; package = { id = "P1"; name = "A"; source = "/usr"; };
    program = { name = "A"; command = [ "/bin/true" ]; run_as = "system"; }; },
  { id = "COMP0002"; package = { id = "P2"; name = "B"; source = "/usr"; };
    program = { name = "B"; command = [ "/bin/true" ]; run_as = "builder"; };
    schedule = { start = "2099-01-01T00:00:00Z"; }; }
);
AD
chmod 644 "$tmp/advertd.conf" "$tmp/ads/c.conf"
touch "$tmp/lab.conf"

# complete WORDS...: what bash offers for the last word, sorted, on one line.
complete_words() {
	PATH=$tmp/bin:$PATH bash -c '
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_advertctl
		printf "%s\n" "${COMPREPLY[@]}" | sort | xargs' _ "$completion" "$@"
}
expect() { # DESC WANT WORDS...
	local desc=$1 want=$2 got
	shift 2
	got=$(complete_words "$@")
	if [[ $got == "$want" ]]; then ok "$desc"; else not_ok "$desc: got '$got', want '$want'"; fi
}

reg=$(bash -c '. "$1"; complete -p advertctl' _ "$completion")
if [[ $reg == "complete -F _advertctl advertctl" ]]; then ok "the file registers _advertctl"
else not_ok "the file registers _advertctl: $reg"; fi
expect "the commands" \
	"check-config clear-damage explain history identity list log problems publish published reload report run status stop unpublish" \
	advertctl ""
expect "a command's prefix" "publish published" advertctl publ
expect "global options" "--config --help --json --version" advertctl --
expect "a command's options" "--base --json --server" advertctl publish --
expect "accounts from advertd.conf for identity" "builder packager system" \
	advertctl -c "$tmp/advertd.conf" identity ""
expect "no ids without a daemon" "" advertctl -c "$tmp/advertd.conf" status ""
expect "files for publish" "$tmp/lab.conf" advertctl publish "$tmp/la"
expect "a configuration file for -c" "$tmp/advertd.conf" advertctl -c "$tmp/advertd."

"$advertd" -f -c "$tmp/advertd.conf" >"$tmp/daemon.out" 2>&1 &
daemon=$!
for _ in $(seq 100); do [[ -S $tmp/control.sock ]] && break; sleep 0.05; done
expect "ids from the running daemon" "COMP0001 COMP0002" advertctl -c "$tmp/advertd.conf" status ""
expect "ids after a prefix, for run" "COMP0002" advertctl --config "$tmp/advertd.conf" run COMP0002
expect "explain offers --all as well" "--all COMP0001 COMP0002" \
	advertctl -c "$tmp/advertd.conf" explain ""
expect "log: an id, then nothing (a run id is the user's)" "" \
	advertctl -c "$tmp/advertd.conf" log COMP0001 ""

echo "1..$((pass + fail))"
echo "# $pass passed, $fail failed"
[[ $fail -eq 0 ]]
