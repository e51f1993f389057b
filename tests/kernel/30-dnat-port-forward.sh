#!/bin/bash
# 30: the host is behind the firewall's port forward (DNAT). The guest
# contacts the firewall's address D = 198.51.100.1, forwarded to the host
# H = 203.0.113.2 on TCP 407 and UDP 407/1419 only; the guest has no route to
# 203.0.113.0/24 at all. Spec B8:
#   - the host embeds H in its HELLO-ACK and (with --offer-address self) in
#     its PORT-OFFERs; tbhelperd rewrites H -> D, so the guest sees the
#     address it contacted, and opens the offered streams to D;
#   - the expectation (guest -> D:port) follows the master's translation, so
#     the stream reaches H:port.
# Sessions: TCP intercom (UDP stream, offer address H), legacy UDP control
# (TCP 1417), then TCP drag and drop with offer address 0.0.0.0.
. "$(dirname "$0")/lib.sh"
kt_begin "port forward (DNAT): sessions work, embedded host address rewritten to the forwarded address"
kt_need tbhelperd tbsim
kt_topo dnat
kt_daemon_start
kt_rules_apply
kt_host self --legacy-ports --offer-address self --dynamic-base 42000

kt_step "TCP contact to D=$TB_TARGET_ADDR, intercom, offers carry the host's own address"
kt_guest intercom --host "$TB_TARGET_ADDR" --service intercom --timeout 20 --stream-timeout 5
# At once: the UDP stream's conntrack entry lives 30 s (the kernel's UDP
# timeout), and the checks below take longer than that on a loaded machine.
in_fw conntrack -L -p udp > "$KT_WORK/ct-udp.txt" 2>/dev/null
assert_guest_ok "intercom via the port forward"
assert_contact
assert_eq "HELLO-ACK's embedded host address rewritten H -> D" "$TB_TARGET_ADDR" \
    "$G_ACK_ADDR"
assert_ge "offers received" 1 "$G_NOFFERS"
assert_eq "every offer's address rewritten H -> D" "$TB_TARGET_ADDR" "$(tr ' ' '\n' <<< "$G_OFFER_ADDRS" | sort -u | tr '\n' ' ' | sed 's/ $//')"
assert_streams "UDP stream to D crossed the firewall and reached H (echo ok)" udp True 1
assert_grep "host saw the guest's own address" "HELLO from $TB_GUEST_SEEN:[0-9]+ service intercom" "$KT_WORK/host-self.log"
assert_grep "expectation guest -> D (UDP), master guest -> D:407" \
    "NEW.*proto=17 src=$TB_GUEST_ADDR dst=$TB_TARGET_ADDR sport=0 dport=42[0-9]+ .*master-src=$TB_GUEST_ADDR master-dst=$TB_TARGET_ADDR sport=[0-9]+ dport=407" "$KT_EXPECT_EVENTS"
assert_grep "the firewall translated the UDP stream D -> H" \
    "udp .*src=$TB_GUEST_ADDR dst=$TB_TARGET_ADDR sport=[0-9]+ dport=42[0-9]+ .*src=$TB_HOST_ADDR dst=$TB_GUEST_ADDR " "$KT_WORK/ct-udp.txt"

kt_step "legacy UDP contact to D, control on TCP 1417"
kt_guest control --host "$TB_TARGET_ADDR" --legacy-udp --service control --timeout 20 --stream-timeout 5
assert_guest_ok "legacy control via the port forward"
assert_eq "legacy HELLO-ACK's embedded host address rewritten H -> D" "$TB_TARGET_ADDR" \
    "$G_ACK_ADDR"
assert_streams "TCP 1417 to D reached H (echo ok)" tcp True 1 1417
kt_host_stop

kt_step "TCP contact to D, drag and drop, offer address 0.0.0.0"
kt_host zero --offer-address zero --dynamic-base 43000
kt_guest dnd --host "$TB_TARGET_ADDR" --service drag-and-drop --timeout 20 --stream-timeout 5
assert_guest_ok "drag-and-drop via the port forward"
assert_eq "HELLO-ACK's embedded host address rewritten H -> D" "$TB_TARGET_ADDR" \
    "$G_ACK_ADDR"
assert_streams "TCP stream to D:43xxx reached H (echo ok)" tcp True 1

kt_step "daemon counters"
kt_status > "$KT_WORK/status.json"
assert_ge "counter rewrites (2 HELLO-ACKs + offers + 1 HELLO-ACK)" 4 "$(kt_counter_from "$KT_WORK/status.json" rewrites)"
assert_ge "counter expectations_created" 3 "$(kt_counter_from "$KT_WORK/status.json" expectations_created)"
assert_eq "counter expectations_refused" 0 "$(kt_counter_from "$KT_WORK/status.json" expectations_refused)"
kt_finish
