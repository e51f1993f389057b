#!/bin/bash
# 45: traffic on the contact ports that is not Timbuktu (B7, docs/protocol-model.md#b7) is left
# alone: a plain-text TCP exchange on 407 and a plain UDP datagram on 407
# pass the firewall untouched (echoed back byte for byte), are counted as
# not_timbuktu, and create no expectation.
. "$(dirname "$0")/lib.sh"
kt_begin "non-Timbuktu traffic on port 407 passes, counted not_timbuktu"
kt_need tbhelperd
kt_topo routed
kt_daemon_start
kt_rules_apply
kt_bg echo-tcp ip netns exec "$TB_NS_HOST" socat TCP4-LISTEN:407,reuseaddr,fork EXEC:cat
kt_bg echo-udp ip netns exec "$TB_NS_HOST" socat UDP4-RECVFROM:407,reuseaddr,fork EXEC:cat
kt_wait_for 20 _kt_listening tcp 407 || kt_die "socat TCP echo on 407 did not start"
kt_wait_for 20 _kt_listening udp 407 || kt_die "socat UDP echo on 407 did not start"
kt_status > "$KT_WORK/before.json"

kt_step "plain text over TCP 407"
msg="GET / HTTP/1.0 - plain text, not a Timbuktu frame $RANDOM"
got=$(printf '%s\n' "$msg" | in_guest timeout 10 socat -T 3 - "TCP4:$TB_TARGET_ADDR:407,connect-timeout=5" 2>"$KT_WORK/socat-tcp.log")
assert_eq "TCP 407 plain text echoed through the firewall" "$msg" "$got"

kt_step "a plain datagram to UDP 407"
msg2="hello over udp, not Timbuktu $RANDOM"
got2=$(printf '%s\n' "$msg2" | in_guest timeout 10 socat -T 3 - "UDP4:$TB_TARGET_ADDR:407" 2>"$KT_WORK/socat-udp.log")
assert_eq "UDP 407 datagram echoed through the firewall" "$msg2" "$got2"

kt_step "the daemon saw them and left them alone"
kt_wait_counter not_timbuktu $(( $(kt_counter_from "$KT_WORK/before.json" not_timbuktu) + 2 ))
kt_status > "$KT_WORK/after.json"
a=$(kt_counter_from "$KT_WORK/after.json" not_timbuktu); b=$(kt_counter_from "$KT_WORK/before.json" not_timbuktu)
assert_ge "counter not_timbuktu grew by 2 (one TCP flow, one UDP flow)" 2 "$(( ${a:-0} - ${b:-0} ))"
assert_gt "counter packets grew (the helper saw the flows)" "$(kt_counter_from "$KT_WORK/before.json" packets)" "$(kt_counter_from "$KT_WORK/after.json" packets)"
assert_eq "counter sessions" 0 "$(kt_counter_from "$KT_WORK/after.json" sessions)"
assert_eq "counter malformed" 0 "$(kt_counter_from "$KT_WORK/after.json" malformed)"
assert_no_grep "no expectation was created" 'NEW' "$KT_EXPECT_EVENTS"
in_fw conntrack -L -p tcp --orig-port-dst 407 > "$KT_WORK/ct-407.txt" 2>/dev/null
assert_grep "the TCP 407 flow was tracked through the firewall" "src=$TB_GUEST_ADDR dst=$TB_TARGET_ADDR .*dport=407 .*ASSURED" "$KT_WORK/ct-407.txt"
assert_alive "tbhelperd still running" "$KT_DAEMON_PID"
kt_finish
