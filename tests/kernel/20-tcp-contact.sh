#!/bin/bash
# 20: TCP contact (Timbuktu 5.2 and later; A1 and B7, docs/protocol-model.md#a1, #b7). Each service runs in
# its own guest-opened TCP connection to TCP 407; the host offers
#   - intercom: a dynamic UDP port (sound),
#   - drag and drop: a dynamic TCP port.
# tbhelperd creates an expectation per offer and the streams cross the
# default-drop firewall (15 shows them dropped without the daemon). The
# intercom expectation is checked in the kernel (conntrack -L expect) while it
# is pending: the guest's own output holds its stream packets back until the
# check is done (kt_guest_hold), then its retries go through. The offer's
# lifetime hint (60 s) bounds the expectation's timeout (B8, docs/protocol-model.md#b8).
. "$(dirname "$0")/lib.sh"
kt_begin "TCP contact: intercom's dynamic UDP port and drag and drop's dynamic TCP port pass"
kt_need tbhelperd tbsim
kt_topo routed
kt_daemon_start
kt_rules_apply
kt_host main --dynamic-base 40000 --lifetime 60

kt_step "intercom over TCP 407, the guest's stream held back while we look at the expectation"
kt_guest_hold
kt_guest_bg intercom --host "$TB_TARGET_ADDR" --service intercom --timeout 30 --stream-timeout 15
if kt_wait_expect 15 "proto=17 src=$TB_GUEST_ADDR dst=$TB_TARGET_ADDR sport=0 dport=40[0-9]+ "; then
    kt_pass "pending UDP expectation visible in conntrack -L expect"
    cp "$KT_WORK/expect-snapshot.txt" "$KT_WORK/expect-pending.txt"
    kt_indent < "$KT_WORK/expect-pending.txt"
    assert_grep "pending expectation's master is the TCP 407 contact connection" \
        "proto=17 .*master-src=$TB_GUEST_ADDR master-dst=$TB_TARGET_ADDR sport=[0-9]+ dport=407( |$)" "$KT_WORK/expect-pending.txt"
    assert_grep "pending expectation belongs to helper timbuktu" "proto=17 .*helper=timbuktu" "$KT_WORK/expect-pending.txt"
    t=$(grep -m1 'proto=17' "$KT_WORK/expect-pending.txt"); t=${t%% *}
    if _kt_isnum "$t" && [ "$t" -le 60 ] && [ "$t" -gt 0 ]; then
        kt_pass "expectation timeout follows the 60 s lifetime hint ($t s left)"
    else
        kt_fail "expectation timeout should be <= 60 s (lifetime hint), is '$t'"
    fi
else
    kt_fail "no pending UDP expectation in conntrack -L expect within 15 s of the intercom contact"
    kt_indent < "$KT_WORK/expect-snapshot.txt"
fi
kt_guest_release
kt_guest_wait intercom 40
assert_guest_ok "intercom"
assert_contact
assert_streams "intercom: UDP stream crossed the firewall (echo ok)" udp True 1
assert_eq "intercom: failed streams" 0 "$(( $(kt_streams udp False) + $(kt_streams tcp False) ))"
assert_grep "UDP expectation event (NEW) from the daemon" \
    "NEW.*proto=17 src=$TB_GUEST_ADDR dst=$TB_TARGET_ADDR sport=0 dport=40[0-9]+ .*dport=407( |$)" "$KT_EXPECT_EVENTS"

kt_step "drag and drop over TCP 407: the dynamic TCP port"
kt_guest dnd --host "$TB_TARGET_ADDR" --service drag-and-drop --timeout 20 --stream-timeout 5
assert_guest_ok "drag-and-drop"
assert_streams "drag-and-drop: TCP stream crossed the firewall (echo ok)" tcp True 1
dport=$(kt_stream_field tcp port)
assert_grep "TCP expectation event (NEW) for the drag-and-drop port ${dport:-?}" \
    "NEW.*proto=6 src=$TB_GUEST_ADDR dst=$TB_TARGET_ADDR sport=0 dport=${dport:-none} .*dport=407( |$)" "$KT_EXPECT_EVENTS"
in_fw conntrack -L -p tcp --orig-port-dst "${dport:-1}" > "$KT_WORK/ct-dnd.txt" 2>/dev/null
assert_grep "the firewall tracked the drag-and-drop stream" "dport=${dport:-none} .*ASSURED" "$KT_WORK/ct-dnd.txt"

kt_step "daemon counters"
kt_status > "$KT_WORK/status.json"
assert_ge "counter sessions" 2 "$(kt_counter_from "$KT_WORK/status.json" sessions)"
assert_ge "counter offers" 2 "$(kt_counter_from "$KT_WORK/status.json" offers)"
assert_ge "counter expectations_created" 2 "$(kt_counter_from "$KT_WORK/status.json" expectations_created)"
assert_eq "counter expectations_refused" 0 "$(kt_counter_from "$KT_WORK/status.json" expectations_refused)"
assert_eq "counter forged" 0 "$(kt_counter_from "$KT_WORK/status.json" forged)"
assert_alive "tbhelperd still running" "$KT_DAEMON_PID"
kt_finish
