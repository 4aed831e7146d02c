#!/bin/bash
# SPDX-License-Identifier: MIT
# A fleet against the MIT realm: two workstations (two configs, state dirs, host
# principals ws1 and ws2 in different host groups) read advertisements published once in
# the directory, each as itself over SASL with integrity, on its pinned DC. Targets by
# nested group and by host name; publish picked up within one poll_interval; unpublish
# withdraws; a broken entry is named by DN and line; DC1 hung -> DC2; every DC hung ->
# the cached set runs, across a restart; a damaged cache, or one readable by others, is
# ignored; the ACLs keep a user and anonymous out; a central rsyslog gets both hosts'
# lines and advertctl report reads it; an entry that would @include a file is rejected;
# an entry retargeted moves from one host to the other. Addresses 127.0.18.x.

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ADVERTD=$top_builddir/src/advertd/advertd
ADVERTCTL=$top_builddir/src/advertctl/advertctl

realm_start mit 127.0.18
# shellcheck source=fleet-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/fleet-lib.sh"

check_output "ws2's configuration names its own principal and keytab" "ws2.keytab" \
	grep -n "ws2" "$WS2"
check "check-config accepts the ldap:/// path" "$ADVERTCTL" -c "$WS1" check-config

write_src lab LAB1 '[ "all-labs" ]'
write_src office OFFICE1 "[ \"$WS2_HOST\" ]"
write_src everyone ALL1 ""
check_output "the publisher publishes three files with their own ticket" \
	"everyone.conf published as cn=everyone,$ADVERTISEMENTS_BASE on dc1.$DOMAIN \(as $PUBLISHER_PRINCIPAL\)" \
	pub publish "$SRC/lab.conf" "$SRC/office.conf" "$SRC/everyone.conf"
write_src bad BAD1 '[ "nowhere" ]' '[ "/bin/true" '
check_fails "a broken file is refused before anything is written" pub publish "$SRC/bad.conf"
if pub published | grep -q "cn=bad"; then not_ok "... and is not there"; else ok "... and is not there"; fi
# A broken entry written behind advertctl's back (a raw LDAP write).
{
	printf 'dn: cn=broken,%s\nchangetype: add\nobjectClass: advertdAdvertisement\ncn: broken\nadvertdText:: ' "$ADVERTISEMENTS_BASE"
	printf 'advertisements = (\n  { id = "BROKEN1";\n    package = ;\n' | base64 -w0
	echo
} | "$REALM_EXEC" env KRB5CCNAME="FILE:$TEST_TMP/publisher" ldapmodify -Q -Y GSSAPI -H "ldap://$DC1_HOST" >/dev/null
check_output "published lists the entries and their advertisement ids" \
	"cn=everyone,$ADVERTISEMENTS_BASE ALL1" pub published

# --- the ACLs: a user cannot publish, anonymous reads nothing -----------------------------
expect_user_refused "alice (no publish right) is refused by the directory" "replacing cn=lab,$ADVERTISEMENTS_BASE: Insufficient access"
anon=$("$REALM_EXEC" ldapsearch -x -H "ldap://$DC1_HOST" -b "$ADVERTISEMENTS_BASE" \
	'(objectClass=advertdAdvertisement)' dn 2>&1)
if grep -q "^dn: cn=" <<<"$anon"; then not_ok "anonymous sees no advertisement entry" "$anon"
else ok "anonymous sees no advertisement entry"; fi

# --- the daemons ---------------------------------------------------------------------------
start_ws ws1
start_ws ws2
expect_in "ws1 reads the published set from the directory" "$L1" "11040 published-advertisements-updated dc=dc1.$DOMAIN entries=4"
expect_in "ws1 runs the advertisement for its nested group (all-labs > lab-hosts > ws1)" "$L1" "10008 program-completed advert=LAB1 "
expect_in "ws1 runs the one for every host" "$L1" "10008 program-completed advert=ALL1 "
expect_in "ws2 runs the one targeted at its name" "$L2" "10008 program-completed advert=OFFICE1 "
expect_in "ws2 runs the one for every host" "$L2" "10008 program-completed advert=ALL1 "
expect_in "the broken entry is named by its DN and line, on each host" "$L1" \
	"11010 file-rejected file=\"ldap:///cn.x3dbroken,ou.x3dadvertisements,dc.x3dexample,dc.x3dtest\" line=3 "
check_fails "ws1 never started OFFICE1" grep -q "advert=OFFICE1" "$L1"
check_fails "ws2 never started LAB1" grep -q "10005 program-started advert=LAB1" "$L2"
run "$ADVERTCTL" -c "$WS1" explain OFFICE1
if [[ $OUT == *"(ldap:///cn=office,$ADVERTISEMENTS_BASE:1) is not for this host: no target names this host ($WS1_HOST) or one of its 2 groups"* ]]; then
	ok "explain on ws1 says OFFICE1 is not for this host, and why"
else not_ok "explain on ws1 says OFFICE1 is not for this host, and why" "$OUT"; fi
check_output "explain on ws1 says LAB1 comes from the directory and why it is targeted" \
	"from[\": ]+directory.*this host is in $ALL_LABS_DN" \
	sh -c "\"$ADVERTCTL\" -c \"$WS1\" --json explain LAB1"
dry=$("$ADVERTD" -c "$WS1" --dry-run 2>&1)
if [[ $dry == *LAB1* && $dry != *OFFICE1* ]]; then
	ok "--dry-run decides from the cached set, targets included, asking no DC"
else not_ok "--dry-run decides from the cached set, targets included, asking no DC" "$dry"; fi
check_output "the host bound with integrity protection (slapd: ssf > 0)" \
	"BIND dn=\"cn=ws1.$DOMAIN,ou=hosts,$BASE_DN\" mech=GSSAPI bind_ssf=[1-9]" \
	cat "$DC1_LDAP_LOG"

# --- steady state: one bind, polls are one search each ------------------------------------
binds0=$(grep -c "BIND dn=\"cn=ws1.$DOMAIN" "$DC1_LDAP_LOG")
sleep $((3 * POLL))
binds1=$(grep -c "BIND dn=\"cn=ws1.$DOMAIN" "$DC1_LDAP_LOG")
if [[ $binds1 -eq $binds0 ]]; then ok "three more polls, no new bind (the connection is kept)"
else not_ok "three more polls, no new bind" "binds $binds0 -> $binds1"; fi

# --- publish -> picked up within one poll_interval; unpublish -> withdrawn ------------------
write_src new NEW1 '[ "lab-hosts" ]'
t0=$SECONDS
pub publish "$SRC/new.conf" >/dev/null
expect_in "a new publication runs on ws1 within one poll_interval" "$L1" \
	"10008 program-completed advert=NEW1 " $((POLL + 5))
ok "... $((SECONDS - t0)) s after publishing (poll_interval $POLL s)"
pub unpublish new >/dev/null
expect_in "unpublished: withdrawn on ws1" "$L1" "11011 advertisement-withdrawn advert=NEW1 " $((POLL + 5))
write_src off OFF1 '[ "lab-hosts" ]'
sed -i 's/} );$/  enabled = false; } );/' "$SRC/off.conf"
pub publish "$SRC/off.conf" >/dev/null
expect_in "a disabled entry is withdrawn on ws1, and says so" "$L1" \
	"11011 advertisement-withdrawn advert=OFF1 .*reason=\"disabled: enabled .x3d false\"" $((POLL + 5))
check_fails "... and never ran" grep -q "10005 program-started advert=OFF1" "$L1"
pub unpublish off >/dev/null

# --- DC1 hung: ws1 polls DC2 (which replicates the advertisements) -------------------------
binds2=$(grep -c "BIND dn=\"cn=ws1.$DOMAIN" "$DC2_LDAP_LOG")
kill -STOP "$(dc_pid slapd1)" "$(dc_pid kdc1)"
polled() { "$ADVERTCTL" -c "$WS1" --json explain ALL1 | tr -d ' \n' | grep -o '"polled_dc":"[^"]*"'; }
deadline=$((SECONDS + POLL + 30))
until [[ $(polled) == "\"polled_dc\":\"dc2.$DOMAIN\"" ]] || ((SECONDS > deadline)); do sleep 0.5; done
check_output "with DC1 hung, ws1 polls DC2 (explain: polled_dc)" "dc2.$DOMAIN" polled
if (($(grep -c "BIND dn=\"cn=ws1.$DOMAIN,ou=hosts,$BASE_DN\" mech=GSSAPI bind_ssf=[1-9]" "$DC2_LDAP_LOG") > binds2)); then
	ok "... where it bound anew, with integrity"
else not_ok "... where it bound anew, with integrity" "$(tail -5 "$DC2_LDAP_LOG")"; fi

# --- every DC hung: the cached set keeps running, across a restart ---------------------
kill -STOP "$(dc_pid slapd2)" "$(dc_pid kdc2)"
expect_in "no DC answers: said once, with when the cached set was verified" "$L1" \
	"11041 directory-poll-failed reason=\"no domain controller answered" $((POLL + 40))
stop_ws ws1
start_ws ws1
sleep 2
check_output "the cached advertisements are still there after the restart" "LAB1" \
	"$ADVERTCTL" -c "$WS1" list
check_output "explain says they come from the cache" "from[\": ]+cache" \
	"$ADVERTCTL" -c "$WS1" --json explain LAB1
kill -CONT "$(dc_pid slapd1)" "$(dc_pid kdc1)" "$(dc_pid slapd2)" "$(dc_pid kdc2)"

# --- a damaged cache: ignored, said once, the local files run ------------------------------
stop_ws ws1
cache=$REALM_DIR/ws1/state/published
size=$(stat -c %s "$cache")
printf '\x00' | dd of="$cache" bs=1 seek=$((size / 2)) conv=notrunc status=none
cat >"$REALM_DIR/ws1/ads/local.conf" <<AD
advertisements = ( { id = "LOCAL1"; package = { id = "PL"; name = "Local"; source = "$DP"; };
  program = { name = "Run"; command = [ "/bin/true" ]; run_as = "system"; }; } );
AD
chmod 644 "$REALM_DIR/ws1/ads/local.conf"
start_ws ws1
expect_in "a damaged cache is said (11042) and ignored" "$L1" "11042 published-cache-damaged file=published reason=\"its checksum does not match\"" 10
expect_in "... the local files run anyway" "$L1" "10008 program-completed advert=LOCAL1 " 15
expect_in "... and the next poll writes a sound set" "$L1" \
	"11040 published-advertisements-updated dc=dc[12].$DOMAIN entries=[0-9]+" $((POLL + 30))

# --- a cache that is not root's alone: refused as damaged, rewritten 0600 by the poll ---------
stop_ws ws1
chmod 644 "$cache"
polls0=$(grep -c " 11040 " "$L1")
start_ws ws1
expect_in "a cache readable by others is refused (11042)" "$L1" \
	"11042 published-cache-damaged file=published reason=\"not root.x27s alone \(mode 0644, uid 0\)\"" 10
deadline=$((SECONDS + POLL + 30))
until (($(grep -c " 11040 " "$L1") > polls0)) || ((SECONDS > deadline)); do sleep 0.2; done
check_output "... and the next poll writes it root's alone again" "^600:0$" stat -c %a:%u "$cache"

# --- the central collector -------------------------------------------------------------------
wait_in "$LOGS/central.log" "ws2.$DOMAIN advertd.*10008 program-completed advert=OFFICE1" 10
check_output "report on the central log: ALL1 succeeded on both hosts" \
	"ALL1: 2 host\(s\), 2 succeeded" "$ADVERTCTL" report "$LOGS/central.log"
check_output "report: LAB1 only ever reached ws1" "LAB1: 1 host\(s\), 1 succeeded" \
	"$ADVERTCTL" report "$LOGS/central.log"
check_output "report --host ws2: OFFICE1 succeeded there" "OFFICE1: 1 host\(s\), 1 succeeded" \
	"$ADVERTCTL" report --host "ws2.$DOMAIN" "$LOGS/central.log"

# --- hostile text; an entry retargeted from one host to the other ---------------------------
printf 'dn: cn=include,%s\nchangetype: add\nobjectClass: advertdAdvertisement\ncn: include\nadvertdText:: %s\n' \
	"$ADVERTISEMENTS_BASE" "$(printf 'advertisements = ( );\n@include "/etc/shadow"\n' | base64 -w0)" |
	"$REALM_EXEC" env KRB5CCNAME="FILE:$TEST_TMP/publisher" ldapmodify -Q -Y GSSAPI -H "ldap://$DC1_HOST" >/dev/null
expect_in "an entry that would @include a file is rejected by its DN and line" "$L1" \
	"11010 file-rejected file=\"ldap:///cn.x3dinclude,ou.x3dadvertisements,dc.x3dexample,dc.x3dtest\" line=2 reason=\"@include is not supported" $((POLL + 10))
write_src lab LAB1 "[ \"$WS2_HOST\" ]"
pub publish "$SRC/lab.conf" >/dev/null
expect_in "LAB1 retargeted at ws2: ws1 withdraws it, saying why" "$L1" \
	"11011 advertisement-withdrawn advert=LAB1 reason=\"not targeted at this host" $((POLL + 10))
expect_in "... and ws2 runs it" "$L2" "10008 program-completed advert=LAB1 " $((POLL + 10))

stop_ws ws1
stop_ws ws2
check_fails "no poller is left behind" pgrep -x advertd-poll
stop_all
finish
