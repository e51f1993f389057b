#!/bin/bash
# 41: malformed input on the contact ports. Spec B7: a flow whose first
# guest frame is not a valid HELLO is not Timbuktu (counted not_timbuktu and
# left alone); a bad frame after a valid HELLO is malformed (counted
# malformed, never acted on). Floods of bad first frames (every kind in turn,
# a fresh flow each) over TCP 407 and UDP 407 create no expectation and do not
# hurt the daemon; bad frames after a HELLO count as malformed; a good
# session afterwards works.
. "$(dirname "$0")/lib.sh"
kt_begin "malformed frames and floods: counted, no expectation, daemon keeps serving"
kt_need tbhelperd tbsim
kt_topo routed
kt_daemon_start
kt_rules_apply
kt_host main --dynamic-base 46000

count_new() { grep -c 'NEW' "$KT_EXPECT_EVENTS" 2>/dev/null || true; }
delta() { # NAME: counter now minus in $KT_WORK/before.json
    local a b
    a=$(kt_counter "$1"); b=$(kt_counter_from "$KT_WORK/before.json" "$1")
    if _kt_isnum "$a" && _kt_isnum "$b"; then echo $((a - b)); else echo "?($b -> $a)"; fi
}
N_TCP=${TBTEST_FLOOD_TCP:-60}   # multiple of 5: every kind as often
N_UDP=${TBTEST_FLOOD_UDP:-60}

kt_step "flood: $N_TCP TCP connections to 407, each opening with a bad frame"
kt_status > "$KT_WORK/before.json"; n0=$(count_new)
kt_guest floodtcp --host "$TB_TARGET_ADDR" --service intercom --flood "$N_TCP" --timeout 60
assert_eq "TCP flood: guest sent all frames (exit status)" 0 "$KT_RC"
kt_wait_counter not_timbuktu $(( $(kt_counter_from "$KT_WORK/before.json" not_timbuktu) + N_TCP * 4 / 5 ))
# truncated-datagram over TCP is only an incomplete frame (never completes,
# never judged): the other four kinds must all be classified.
assert_ge "counter not_timbuktu grew by the complete bad first frames" $((N_TCP * 4 / 5)) "$(delta not_timbuktu)"
assert_eq "counter sessions unchanged" 0 "$(delta sessions)"
assert_eq "no expectation from the TCP flood" "$n0" "$(count_new)"
assert_alive "tbhelperd still running" "$KT_DAEMON_PID"

kt_step "flood: $N_UDP UDP datagrams to 407, each from a fresh socket, each a bad frame"
kt_status > "$KT_WORK/before.json"; n0=$(count_new)
kt_guest floodudp --host "$TB_TARGET_ADDR" --legacy-udp --service control --flood "$N_UDP" --timeout 60
assert_eq "UDP flood: guest sent all datagrams (exit status)" 0 "$KT_RC"
kt_wait_counter not_timbuktu $(( $(kt_counter_from "$KT_WORK/before.json" not_timbuktu) + N_UDP ))
assert_ge "counter not_timbuktu grew by one per bad datagram" "$N_UDP" "$(delta not_timbuktu)"
assert_eq "counter sessions unchanged" 0 "$(delta sessions)"
assert_eq "no expectation from the UDP flood" "$n0" "$(count_new)"
assert_alive "tbhelperd still running" "$KT_DAEMON_PID"

kt_step "malformed frames after a valid HELLO"
kt_status > "$KT_WORK/before.json"
kt_guest hugetcp --host "$TB_TARGET_ADDR" --service chat --malformed huge-length --malformed-after-hello --timeout 20 --stream-timeout 3
kt_say "guest exit status $KT_RC (the host's reaction is tbsim's business; the firewall's is ours)"
kt_guest truncudp --host "$TB_TARGET_ADDR" --legacy-udp --service control --malformed truncated-datagram --malformed-after-hello --timeout 20 --stream-timeout 3
kt_wait_counter malformed $(( $(kt_counter_from "$KT_WORK/before.json" malformed) + 2 ))
assert_ge "counter malformed grew (TCP huge length + UDP truncated datagram)" 2 "$(delta malformed)"
assert_ge "counter sessions grew (the two HELLOs were valid)" 2 "$(delta sessions)"
assert_alive "tbhelperd still running" "$KT_DAEMON_PID"

kt_step "every queued packet answered: verdicts gathered per receive and sent in batches (docs/daemon.md#queue)"
_queue_empty() { [ "$(kt_nfqueue_waiting)" = 0 ]; }
kt_wait_for 10 _queue_empty || true
assert_eq "queue 407 holds no packet after the floods" 0 "$(kt_nfqueue_waiting)"
kt_status > "$KT_WORK/after-floods.json"
assert_eq "one verdict per queued packet (status: verdicts = packets)" \
    "$(kt_counter_from "$KT_WORK/after-floods.json" packets)" "$(kt_counter_from "$KT_WORK/after-floods.json" verdicts)"
assert_eq "no verdict refused by the kernel (verdict_errors)" 0 "$(kt_counter_from "$KT_WORK/after-floods.json" verdict_errors)"

kt_step "a good session afterwards"
kt_guest good --host "$TB_TARGET_ADDR" --service intercom --timeout 20 --stream-timeout 5
assert_guest_ok "intercom after the floods"
assert_streams "UDP stream crossed the firewall" udp True 1
kt_finish
