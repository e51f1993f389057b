#!/bin/bash
# 25: TCP contact over IPv6. The guest (2001:db8:1::2) contacts the host
# (2001:db8:2::2) on TCP 407 for intercom; the host offers a dynamic UDP port
# with address 0.0.0.0 (B5, docs/protocol-model.md#b5: the only valid value on IPv6); tbhelperd
# expects guest -> host UDP port over IPv6 and the sound stream crosses the
# default-drop firewall. A control check first: without the helper rules the
# same stream is dropped.
. "$(dirname "$0")/lib.sh"
kt_begin "TCP contact over IPv6: intercom's dynamic UDP port passes"
kt_need tbhelperd tbsim
kt_topo routed
kt_daemon_start
kt_host main --listen "$TB_HOST_ADDR6" --dynamic-base 41000

kt_step "control check: helper rules absent, the IPv6 UDP stream is dropped"
kt_guest blocked --host "$TB_TARGET_ADDR6" --service intercom --expect-blocked --timeout 20 --stream-timeout 3
assert_eq "without rules: guest --expect-blocked exit status" 0 "$KT_RC"
assert_contact
assert_streams "without rules: UDP stream attempted and blocked" udp False 1

kt_rules_apply
kt_step "intercom over IPv6 with the helper"
kt_guest intercom --host "$TB_TARGET_ADDR6" --service intercom --timeout 20 --stream-timeout 5
assert_guest_ok "intercom over IPv6"
assert_contact
assert_streams "IPv6 UDP stream crossed the firewall (echo ok)" udp True 1
assert_eq "the stream went to the host's IPv6 address" "$TB_TARGET_ADDR6" "$(kt_stream_field udp address 1)"
assert_grep "IPv6 UDP expectation event (NEW), master the TCP 407 connection" \
    "NEW.*proto=17 src=$TB_GUEST_ADDR6 dst=$TB_TARGET_ADDR6 sport=0 dport=4[0-9]+ .*master-src=$TB_GUEST_ADDR6 master-dst=$TB_TARGET_ADDR6 sport=[0-9]+ dport=407" "$KT_EXPECT_EVENTS"

kt_step "daemon counters"
kt_status > "$KT_WORK/status.json"
assert_ge "counter expectations_created" 1 "$(kt_counter_from "$KT_WORK/status.json" expectations_created)"
assert_eq "counter malformed" 0 "$(kt_counter_from "$KT_WORK/status.json" malformed)"
kt_finish
