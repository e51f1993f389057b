#!/bin/bash
# 77: GSO under a port forward (DNAT, docs/daemon.md#gso). The same framed
# bulk as scenario 76, to the firewall's forwarded address D; the host embeds
# its own address H in HELLO-ACK and PORT-OFFER. The engine may rewrite this
# connection, and a rewritten payload goes back to the kernel as
# CHECKSUM_NONE, so its super-packets (and packets whose checksum is not
# computed yet) go unexamined to the segment queue, which the kernel fills
# with checksummed segments: the offer inside the host's last super-packet is
# read there and rewritten H -> D in its segment. A wrong checksum in the
# rewritten segment would make the guest's stack drop it (the offer never
# arrives); a rewritten super-packet would make the kernel warn
# (skb_warn_bad_offload).
. "$(dirname "$0")/lib.sh"
kt_begin "GSO under DNAT: super-packets go to the segment queue; the offer inside one is rewritten and its stream opens"
kt_need tbhelperd
kt_topo dnat
kt_daemon_start
kt_rules_apply
kt_status > "$KT_WORK/before.json"
kt_dmesg_mark

PORT=42171
kt_step "framed bulk to D=$TB_TARGET_ADDR: 1 MiB each way, then a PORT-OFFER of TCP $PORT embedding H=$TB_HOST_ADDR"
kt_bulk_offer bulk "$PORT" "$TB_HOST_ADDR"
assert_eq "HELLO-ACK's embedded address rewritten H -> D" "$TB_TARGET_ADDR" "$(kt_attack_field bulk ack_address)"
assert_eq "the offer reached the guest, port intact" "$PORT" "$(kt_attack_field bulk offer_port)"
assert_eq "the offer's embedded address rewritten H -> D (read in its segment)" "$TB_TARGET_ADDR" \
    "$(kt_attack_field bulk offer_address)"
assert_eq "the offered stream to D reached H ($(kt_attack_field bulk stream_detail))" True \
    "$(kt_attack_field bulk stream_ok)"

kt_step "what went to the segment queue"
packets=$(kt_delta packets)
gso=$(kt_delta gso_packets)
requeues=$(kt_delta segment_requeues)
echo "FIGURE: $packets packets handled on both queues, $gso super-packets seen on the contact queue, $requeues sent to the segment queue"
assert_ge "super-packets sent on to the segment queue" 1 "$requeues"
assert_ge "counter rewrites (HELLO-ACK and offer)" 2 "$(kt_delta rewrites)"
assert_eq "counter rewrite_failures" 0 "$(kt_delta rewrite_failures)"
assert_eq "counter verdict_errors" 0 "$(kt_counter verdict_errors)"
in_fw cat /proc/net/netfilter/nfnetlink_queue > "$KT_WORK/queues.txt"
kt_indent < "$KT_WORK/queues.txt"
assert_grep "the segment queue (408) is bound in the firewall" "^ *408 " "$KT_WORK/queues.txt"
kt_step "a second daemon whose segment queue is taken does not start, and says which key to change"
printf 'queue = 600\nsegment_queue = 408\n' > "$KT_WORK/second.conf"
timeout 30 ip netns exec "$TB_NS_FW" "$TBD" --config "$KT_WORK/second.conf" --foreground \
    --socket "$KT_WORK/second.sock" > "$KT_WORK/second.log" 2>&1
rc=$?
kt_indent < "$KT_WORK/second.log"
assert_ne "the second daemon exited with an error" 0 "$rc"
assert_grep "its error names the taken queue and segment_queue" "queue 408 already bound.*segment_queue" "$KT_WORK/second.log"
assert_alive "the first daemon runs on" "$KT_DAEMON_PID"
assert_eq "the first daemon still holds the segment queue" 1 \
    "$(in_fw awk '$1 == 408' /proc/net/netfilter/nfnetlink_queue | wc -l)"

kt_dmesg_since > "$KT_WORK/dmesg.txt"
assert_no_grep "no kernel warning (bad offload, WARNING, BUG)" "bad_offload|WARNING|BUG" "$KT_WORK/dmesg.txt"
kt_finish
