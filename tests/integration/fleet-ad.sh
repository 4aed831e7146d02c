#!/bin/bash
# SPDX-License-Identifier: MIT
# A fleet against Samba AD, with the shipped AD schema imported by scripts/realm: two
# workstations (computer accounts WS1$ and WS2$ in different groups) read what the
# delegated publisher wrote under OU=advertisements, each as its computer account over
# SASL with integrity, targeted through tokenGroups (all-labs holds lab-hosts holds
# WS1$); idle polls by uSNChanged read no text; unpublish withdraws; a user without the
# delegation is refused. Addresses 127.0.20.x.

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ADVERTD=$top_builddir/src/advertd/advertd
ADVERTCTL=$top_builddir/src/advertctl/advertctl

realm_start ad 127.0.20
# shellcheck source=fleet-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/fleet-lib.sh"

write_src lab ADLAB1 '[ "all-labs" ]'
write_src office ADOFFICE1 "[ \"$OFFICE_HOSTS_DN\" ]"
write_src everyone ADALL1 ""
check_output "the delegated publisher publishes with their own ticket" \
	"everyone.conf published as cn=everyone,$ADVERTISEMENTS_BASE on dc1.$DOMAIN \(as $PUBLISHER_PRINCIPAL\)" \
	pub publish "$SRC/lab.conf" "$SRC/office.conf" "$SRC/everyone.conf"
expect_user_refused "alice, without the delegation, is refused by the DC" "cn=lab,$ADVERTISEMENTS_BASE: Insufficient access"

start_ws ws1
start_ws ws2
expect_in "ws1 reads the published set as WS1\$" "$L1" "11040 published-advertisements-updated dc=dc1.$DOMAIN entries=3"
expect_in "ws1 runs the one for all-labs (tokenGroups: all-labs > lab-hosts > WS1\$)" "$L1" "10008 program-completed advert=ADLAB1 "
expect_in "ws2 runs the one for office-hosts, named by its DN" "$L2" "10008 program-completed advert=ADOFFICE1 "
expect_in "both run the one for every host" "$L2" "10008 program-completed advert=ADALL1 "
expect_in "... ws1 too" "$L1" "10008 program-completed advert=ADALL1 "
check_fails "ws1 never started ADOFFICE1" grep -q "advert=ADOFFICE1" "$L1"
check_fails "ws2 never started ADLAB1" grep -q "10005 program-started advert=ADLAB1" "$L2"
check_output "explain on ws1: ADLAB1 is targeted through the nested group" \
	"this host is in $ALL_LABS_DN" "$ADVERTCTL" -c "$WS1" explain ADLAB1
check_output "the cache holds ws1's computer account and its groups" "CN=lab-hosts,CN=Users" \
	cat "$REALM_DIR/ws1/state/published"

# Idle polls: the markers are uSNChanged, and no text is read again.
cache0=$(stat -c %Y "$REALM_DIR/ws1/state/published") said0=$(grep -c " 11040 " "$L1")
sleep $((2 * POLL + 1))
if [[ $(stat -c %Y "$REALM_DIR/ws1/state/published") == "$cache0" &&
	$(grep -c " 11040 " "$L1") == "$said0" ]]; then
	ok "two idle polls: nothing written, nothing announced"
else not_ok "two idle polls: nothing written, nothing announced" "$(tail -5 "$L1")"; fi

pub unpublish lab >/dev/null
expect_in "unpublished: ws1 withdraws ADLAB1" "$L1" "11011 advertisement-withdrawn advert=ADLAB1 " $((POLL + 10))

stop_ws ws1
stop_ws ws2
stop_all
finish
