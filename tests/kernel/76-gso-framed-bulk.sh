#!/bin/bash
# 76: GSO on a framed contact stream (docs/daemon.md#gso). The guest and the
# host each send 1 MiB of frames of an opcode the model ignores (B6) over a
# TCP 407 intercom contact, the host's PORT-OFFER in the same write as its
# megabyte, so the offer sits inside a GSO super-packet. Routed (no NAT): the
# engine never rewrites here, so the contact queue reads super-packets whole
# (gso_packets > 0), sends nothing to the segment queue, and queues far fewer
# packets than the stream has segments; the offer is still found and its
# stream opened. A daemon without GSO queues every MTU-sized segment (more
# packets than the 2 MiB have segments) and fails the count.
. "$(dirname "$0")/lib.sh"
kt_begin "GSO: a framed stream's super-packets are read whole; an offer after 1 MiB opens its stream"
kt_need tbhelperd
kt_topo routed
kt_daemon_start
kt_rules_apply
kt_status > "$KT_WORK/before.json"
kt_dmesg_mark

PORT=42170
BYTES=1048576
kt_step "framed bulk: 1 MiB each way, then a PORT-OFFER of TCP $PORT inside the host's last super-packet"
kt_bulk_offer bulk "$PORT" "$TB_HOST_ADDR" "$BYTES"
assert_eq "the guest's megabyte was sent" "$BYTES" "$(kt_attack_field bulk sent)"
assert_eq "the offer reached the guest, port intact" "$PORT" "$(kt_attack_field bulk offer_port)"
assert_eq "the offer's address is the host's (no NAT: unchanged)" "$TB_HOST_ADDR" "$(kt_attack_field bulk offer_address)"
assert_eq "the offered stream crossed the default-drop filter ($(kt_attack_field bulk stream_detail))" True \
    "$(kt_attack_field bulk stream_ok)"
assert_grep "expectation guest -> host:$PORT" "NEW.*proto=6 src=$TB_GUEST_ADDR dst=$TB_HOST_ADDR sport=0 dport=$PORT " \
    "$KT_EXPECT_EVENTS"

kt_step "the queue took super-packets, not segments"
packets=$(kt_delta packets)
gso=$(kt_delta gso_packets)
requeues=$(kt_delta segment_requeues)
# 2 MiB of payload in MSS-sized segments (1448 bytes with timestamps).
segments=$(( 2 * BYTES / 1448 ))
echo "FIGURE: $packets packets queued for $((2 * BYTES)) bytes of framed payload ($segments segments of 1448 bytes), $gso of them super-packets, $requeues sent to the segment queue"
assert_ge "super-packets read whole on the contact queue" 1 "$gso"
assert_eq "nothing sent to the segment queue (the connection is not NATed)" 0 "$requeues"
if _kt_isnum "$packets" && [ "$packets" -lt "$segments" ]; then
    kt_pass "fewer queued packets ($packets) than the stream's data segments ($segments)"
else
    kt_fail "queued packets ($packets) not fewer than the stream's data segments ($segments): GSO did not take"
fi
assert_eq "counter verdict_errors" 0 "$(kt_counter verdict_errors)"
kt_dmesg_since > "$KT_WORK/dmesg.txt"
assert_no_grep "no kernel warning (bad offload, WARNING, BUG)" "bad_offload|WARNING|BUG" "$KT_WORK/dmesg.txt"

kt_step "gso = false: the kernel segments everything on the one queue, as in version 0.1"
kt_daemon_stop TERM
kt_config 'gso = false'
kt_daemon_start
kt_status > "$KT_WORK/before.json"
assert_eq "no segment queue in the status" null "$(jq -r .segment_queue "$KT_WORK/before.json")"
assert_eq "queue 408 is not bound" 0 "$(in_fw awk '$1 == 408' /proc/net/netfilter/nfnetlink_queue | wc -l)"
kt_bulk_offer bulk-off "$((PORT + 1))" "$TB_HOST_ADDR" "$BYTES"
assert_eq "the offer still reached the guest" "$((PORT + 1))" "$(kt_attack_field bulk-off offer_port)"
assert_eq "its stream crossed the filter ($(kt_attack_field bulk-off stream_detail))" True \
    "$(kt_attack_field bulk-off stream_ok)"
packets=$(kt_delta packets)
echo "FIGURE: gso = false: $packets packets queued for the same 2 MiB"
assert_eq "no super-packet reached the daemon" 0 "$(kt_delta gso_packets)"
assert_ge "one queued packet per segment at least" "$segments" "$packets"
kt_finish
