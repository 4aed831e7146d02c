# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Sourced by the project's scripts: configure and build advertd once, out of tree in
# $top/_build (or in the tree itself when someone already configured it there), and set
# ADV_BUILDDIR to where the programs are.
adv_build() {
	local top=$1 jobs
	jobs=$(nproc 2>/dev/null || echo 2)
	if [ -f "$top/config.status" ]; then
		ADV_BUILDDIR=$top
	else
		ADV_BUILDDIR=$top/_build
		[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi >/dev/null 2>&1)
		mkdir -p "$ADV_BUILDDIR"
		[ -f "$ADV_BUILDDIR/Makefile" ] || (cd "$ADV_BUILDDIR" && "$top/configure" -q)
	fi
	make -s -C "$ADV_BUILDDIR" -j"$jobs" >/dev/null
}
