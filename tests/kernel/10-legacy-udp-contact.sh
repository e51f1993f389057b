#!/bin/bash
# 10: legacy contact (before Timbuktu 5.2; A2 and B7, docs/protocol-model.md#a2, #b7). The guest sends its
# HELLO in a UDP datagram to UDP 407; the host answers with HELLO-ACK +
# PORT-OFFER "control on TCP 1417". tbhelperd sees the offer in the reply
# direction and creates the expectation guest -> host TCP 1417, so the
# control stream crosses the default-drop firewall (15 shows it is dropped
# without the daemon). Then the same over the alternate contact port UDP 1419
# with send files (TCP 1419).
. "$(dirname "$0")/lib.sh"
kt_begin "legacy UDP contact: the offered TCP 1417 control stream passes"
kt_need tbhelperd tbsim
kt_topo routed
kt_daemon_start
kt_rules_apply
kt_host main --legacy-ports

kt_step "legacy UDP contact on UDP 407, service control"
kt_guest control --host "$TB_TARGET_ADDR" --legacy-udp --service control --timeout 20 --stream-timeout 5
assert_guest_ok "control over UDP 407"
assert_contact
assert_streams "TCP 1417 control stream crossed the firewall (echo ok)" tcp True 1 1417
assert_gt "bytes echoed on TCP 1417" 0 "$(kt_stream_field tcp bytes 1)"
assert_grep "expectation created: guest -> host TCP 1417, master UDP 407" \
    "NEW.*proto=6 src=$TB_GUEST_ADDR dst=$TB_TARGET_ADDR sport=0 dport=1417 .*master-src=$TB_GUEST_ADDR master-dst=$TB_TARGET_ADDR sport=[0-9]+ dport=407" "$KT_EXPECT_EVENTS"
in_fw conntrack -L -p tcp --orig-port-dst 1417 > "$KT_WORK/ct-1417.txt" 2>/dev/null
assert_grep "the firewall tracked the TCP 1417 stream" "src=$TB_GUEST_ADDR dst=$TB_TARGET_ADDR .*dport=1417 .*ASSURED" "$KT_WORK/ct-1417.txt"

kt_step "legacy UDP contact on the alternate port UDP 1419, service send files"
kt_guest sendfiles --host "$TB_TARGET_ADDR" --port 1419 --legacy-udp --service send-files --timeout 20 --stream-timeout 5
assert_guest_ok "send files over UDP 1419"
assert_streams "TCP 1419 send-files stream crossed the firewall" tcp True 1 1419
assert_grep "expectation created: TCP 1419, master UDP 1419" \
    "NEW.*proto=6 src=$TB_GUEST_ADDR dst=$TB_TARGET_ADDR sport=0 dport=1419 .*master-src=$TB_GUEST_ADDR .*dport=1419" "$KT_EXPECT_EVENTS"

kt_step "daemon counters"
kt_status > "$KT_WORK/status.json"
assert_ge "counter sessions" 2 "$(kt_counter_from "$KT_WORK/status.json" sessions)"
assert_ge "counter offers" 2 "$(kt_counter_from "$KT_WORK/status.json" offers)"
assert_ge "counter expectations_created" 2 "$(kt_counter_from "$KT_WORK/status.json" expectations_created)"
assert_eq "counter expectations_refused" 0 "$(kt_counter_from "$KT_WORK/status.json" expectations_refused)"
assert_alive "tbhelperd still running" "$KT_DAEMON_PID"
kt_finish
