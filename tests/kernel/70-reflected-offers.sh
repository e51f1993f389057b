#!/bin/bash
# 70: reflected offers (issue 8; B10, docs/protocol-model.md#b10). Something on the protected host
# echoes on the contact ports (UDP 407 and TCP 407: tbattack echo). The guest
# sends a HELLO, then, after its echo, a HELLO-ACK plus a PORT-OFFER of its
# own for a port the host never offered (an echo server listens there, so a
# wrong expectation WOULD let the stream through). The echo returns both in
# the reply direction. The daemon must take the flow as hostile: no
# expectation, the port stays closed through the default-drop filter, counter
# `reflected` grows. Over UDP (TCP 5601) and over TCP (TCP 5602).
. "$(dirname "$0")/lib.sh"
kt_begin "reflected offers over UDP and TCP open no port"
kt_need tbhelperd tbsim
kt_topo routed
kt_daemon_start
kt_rules_apply

kt_step "accomplices on the host: echo on UDP and TCP 407, echo servers on TCP 5601 and 5602"
kt_attack_host echo407 echo --listen :: --tcp-port 407 --udp-port 407
echo_pid=$KT_LAST_PID
kt_bg echo5601 ip netns exec "$TB_NS_HOST" socat TCP4-LISTEN:5601,reuseaddr,fork EXEC:cat
kt_bg echo5602 ip netns exec "$TB_NS_HOST" socat TCP4-LISTEN:5602,reuseaddr,fork EXEC:cat
kt_wait_for 5 _kt_listening tcp 5601 || kt_die "socat echo on 5601 did not start"
kt_wait_for 5 _kt_listening tcp 5602 || kt_die "socat echo on 5602 did not start"

for proto in udp tcp; do
    port=5601; [ "$proto" = tcp ] && port=5602
    kt_step "reflection over $proto 407: the guest's own HELLO-ACK + PORT-OFFER tcp/$port comes back from the host"
    kt_status > "$KT_WORK/before.json"
    kt_attack_guest "reflect-$proto" reflect --proto "$proto" --host "$TB_TARGET_ADDR" --offer-port "$port"
    assert_eq "$proto: the echo returned the guest's HELLO" True "$(kt_attack_field "reflect-$proto" hello_echoed)"
    assert_eq "$proto: the echo returned the HELLO-ACK + PORT-OFFER (reply direction)" True \
        "$(kt_attack_field "reflect-$proto" offer_echoed)"
    assert_eq "$proto: the reflected offer's port $port stayed closed" False \
        "$(kt_attack_field "reflect-$proto" offered_port_open)"
    kt_expect_list > "$KT_WORK/expect-$proto.txt"
    assert_no_grep "$proto: no pending expectation for port $port" "dport=$port " "$KT_WORK/expect-$proto.txt"
    assert_no_grep "$proto: no expectation event for port $port" "NEW.* dport=$port " "$KT_EXPECT_EVENTS"
    kt_wait_counter reflected $(( $(kt_counter_from "$KT_WORK/before.json" reflected || echo 0) + 1 )) 5
    assert_ge "$proto: counter reflected grew" 1 "$(kt_delta reflected)"
done
in_fw conntrack -L -p tcp --orig-port-dst 5601 > "$KT_WORK/ct-offered.txt" 2>/dev/null
in_fw conntrack -L -p tcp --orig-port-dst 5602 >> "$KT_WORK/ct-offered.txt" 2>/dev/null
assert_no_grep "the firewall never let a stream to 5601/5602 establish" "ESTABLISHED|ASSURED" "$KT_WORK/ct-offered.txt"
kt_attack_stop "$echo_pid"
kt_wait_for 5 bash -c "! ip netns exec $TB_NS_HOST ss -ltnH 'sport = :407' | grep -q ."

kt_good_session good --dynamic-base 46500
kt_finish
