# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Sourced by the project's scripts: the Debian packages each job needs, and a helper that
# installs only what is missing (so a machine that has everything needs no network).

# Building and unit-testing advertd.
# shellcheck disable=SC2034 # used by the scripts that source this one
ADV_BUILD_PACKAGES=(
	build-essential autoconf automake pkg-config
	libconfig-dev libkrb5-dev libldap-dev libsasl2-dev libcunit1-dev libsystemd-dev libssl-dev libjson-c-dev
	libsasl2-modules-gssapi-mit krb5-user bash-completion
)

# Running the tests: a real JSON parser for --json, util-linux's runuser and setpriv,
# passwd's useradd for the permission tests, systemd-analyze and groff for the unit
# file and the man pages.
# clang with its runtimes for the libFuzzer targets (tests/fuzz), and the static checks.
# shellcheck disable=SC2034 # used by the scripts that source this one
ADV_TEST_PACKAGES=(python3 util-linux passwd iproute2 procps systemd groff-base
	clang libclang-rt-14-dev clang-format shellcheck cppcheck)

# ensure_packages PKG…: apt-get install whatever of PKG… is not installed yet.
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	echo "installing: ${missing[*]}" >&2
	if [ "$(id -u)" -ne 0 ]; then
		echo "error: packages missing and not root: ${missing[*]}" >&2
		return 1
	fi
	# Package services must not start here: the project starts its own, privately.
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
