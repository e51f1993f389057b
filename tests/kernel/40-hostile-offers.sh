#!/bin/bash
# 40: offers tbhelperd must refuse (B5 and B8, docs/protocol-model.md#b5, #b8), each one tested so that a
# wrong expectation WOULD let the stream through (something listens behind
# it and the firewall can route there):
#   - a PORT-OFFER forged by the guest (guest -> host, opcode 0x0031) for
#     TCP 5555, where an echo server listens on the host: counted as forged,
#     no expectation, 5555 stays blocked; the real session goes on;
#   - a host offer naming a third-party address (192.0.2.99, routed to the
#     host namespace where tbsim serves it): refused, stream blocked;
#   - a host offer for TCP 23, outside allowed_ports (1024-65535): refused;
#   - allowed_ports narrowed to 50000-50099 and the daemon reloaded with
#     SIGHUP: an offer for 45100 is refused, one for 50000 works.
# After all of it the daemon still serves a good session.
. "$(dirname "$0")/lib.sh"
kt_begin "forged, third-party and out-of-policy offers create no expectation"
kt_need tbhelperd tbsim
kt_topo routed
kt_config 'allowed_ports = ["1024-65535"]'
kt_daemon_start
kt_rules_apply

count_new() { grep -c 'NEW' "$KT_EXPECT_EVENTS" 2>/dev/null || true; }
delta() { # NAME: counter now minus in $KT_WORK/before.json
    local a b
    a=$(kt_counter "$1"); b=$(kt_counter_from "$KT_WORK/before.json" "$1")
    if _kt_isnum "$a" && _kt_isnum "$b"; then echo $((a - b)); else echo "?($b -> $a)"; fi
}

kt_step "guest forges a PORT-OFFER for TCP 5555 (an echo server listens there)"
kt_bg echo5555 ip netns exec "$TB_NS_HOST" socat TCP4-LISTEN:5555,reuseaddr,fork EXEC:cat
kt_wait_for 20 _kt_listening tcp 5555 || kt_die "socat echo on 5555 did not start"
kt_host main --dynamic-base 45000
kt_status > "$KT_WORK/before.json"
# The forged offer is a host-class (0x0101) frame from the guest side: besides
# being a forgery (B5) it makes the flow hostile (B10, docs/protocol-model.md#b10-roles),
# so a host offer that the daemon sees after it is not acted on either. The host
# offers right after its HELLO-ACK and the guest forges right after it too, so
# which comes first varies from run to run: whether the real stream passes is
# not asserted, only what holds in either order.
kt_guest forge --host "$TB_TARGET_ADDR" --service intercom --forge-offer 5555 --timeout 20 --stream-timeout 3
assert_contact
assert_ge "counter reflected grew (a host-class frame from the guest)" 1 "$(delta reflected)"
forged=$(for x in "${G_STREAMS[@]+"${G_STREAMS[@]}"}"; do read -r t p ok b a f <<< "$x"; [ "$f" = 1 ] && echo "$t/$p ok=$ok"; done)
assert_eq "the forged stream to TCP 5555 was tried and blocked" "tcp/5555 ok=0" "$forged"
assert_ge "counter forged grew" 1 "$(delta forged)"
assert_no_grep "no expectation for the forged port 5555" "NEW.* dport=5555 " "$KT_EXPECT_EVENTS"
kt_host_stop

kt_step "host offers a third-party address 192.0.2.99 (routed to the host, served there)"
in_host ip addr add 192.0.2.99/32 dev eth0 || kt_die "cannot add 192.0.2.99 to the host"
in_fw ip route add 192.0.2.99/32 via "$TB_HOST_ADDR" || kt_die "cannot route 192.0.2.99 in the firewall"
kt_host third --offer-address 192.0.2.99 --dynamic-base 45100
kt_status > "$KT_WORK/before.json"; n0=$(count_new)
kt_guest third --host "$TB_TARGET_ADDR" --service drag-and-drop --expect-blocked --timeout 20 --stream-timeout 3
assert_eq "third-party: guest --expect-blocked exit status" 0 "$KT_RC"
assert_eq "the offer carried 192.0.2.99 (not rewritten)" 192.0.2.99 "$G_OFFER_ADDRS"
assert_streams "stream to 192.0.2.99 attempted and blocked" tcp False 1
assert_ge "counter expectations_refused grew" 1 "$(delta expectations_refused)"
assert_eq "no new expectation" "$n0" "$(count_new)"
assert_no_grep "never an expectation towards 192.0.2.99" "NEW.*dst=192\.0\.2\.99 " "$KT_EXPECT_EVENTS"
kt_host_stop

kt_step "host offers TCP 23 (outside allowed_ports 1024-65535; the host listens on 23)"
kt_host telnet --offer-port 23 --dynamic-base 45200
kt_status > "$KT_WORK/before.json"; n0=$(count_new)
kt_guest port23 --host "$TB_TARGET_ADDR" --service drag-and-drop --expect-blocked --timeout 20 --stream-timeout 3
assert_eq "port 23: guest --expect-blocked exit status" 0 "$KT_RC"
assert_streams "stream to TCP 23 attempted and blocked" tcp False 1 23
assert_ge "counter expectations_refused grew" 1 "$(delta expectations_refused)"
assert_eq "no new expectation" "$n0" "$(count_new)"
assert_no_grep "never an expectation for port 23" "NEW.* dport=23 " "$KT_EXPECT_EVENTS"
kt_host_stop

kt_step "allowed_ports narrowed to 50000-50099, daemon reloaded (SIGHUP)"
kt_config 'allowed_ports = ["50000-50099"]'
kill -HUP "$KT_DAEMON_PID"
if kt_wait_for 10 grep -q 'reload: configuration .* applied' "$KT_WORK/tbhelperd.log"; then
    kt_pass "tbhelperd reloaded its configuration"
else
    kt_fail "no 'reload: configuration ... applied' in the daemon's log within 10 s of SIGHUP"
fi
assert_alive "tbhelperd survived SIGHUP" "$KT_DAEMON_PID"
kt_host narrow --dynamic-base 45300
kt_status > "$KT_WORK/before.json"; n0=$(count_new)
kt_guest narrow --host "$TB_TARGET_ADDR" --service drag-and-drop --expect-blocked --timeout 20 --stream-timeout 3
assert_eq "offer for 45300 after the reload: guest --expect-blocked exit status" 0 "$KT_RC"
assert_ge "counter expectations_refused grew" 1 "$(delta expectations_refused)"
assert_eq "no new expectation" "$n0" "$(count_new)"
kt_host_stop

kt_step "a good session afterwards (offer inside the narrowed policy)"
kt_host good --dynamic-base 50000
kt_guest good --host "$TB_TARGET_ADDR" --service drag-and-drop --timeout 20 --stream-timeout 5
assert_guest_ok "drag-and-drop on port 5000x"
assert_streams "TCP 5000x stream crossed the firewall" tcp True 1
assert_grep "expectation for port 5000x" "NEW.*proto=6 src=$TB_GUEST_ADDR dst=$TB_TARGET_ADDR sport=0 dport=500[0-9][0-9] " "$KT_EXPECT_EVENTS"
assert_alive "tbhelperd still running" "$KT_DAEMON_PID"
kt_finish
