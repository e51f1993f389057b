#!/bin/bash
# 31: the guest is behind masquerade (source NAT). The firewall masquerades
# everything leaving towards the host, which has no route back to the guest's
# network: only translated packets can work. Spec B8: the guest's HELLO
# embeds its own address G = 198.51.100.2; tbhelperd rewrites it to the
# address G is translated to (203.0.113.1), so the host sees a consistent
# address; the expected streams follow the master's source NAT.
# Sessions: TCP intercom (UDP stream) and legacy UDP control (TCP 1417).
. "$(dirname "$0")/lib.sh"
kt_begin "masquerade (SNAT): sessions work, the HELLO's embedded guest address is rewritten"
kt_need tbhelperd tbsim
kt_topo masq
kt_daemon_start
kt_rules_apply
kt_host main --legacy-ports --dynamic-base 44000

kt_step "TCP contact, intercom, the HELLO embeds the guest's own address"
kt_guest intercom --host "$TB_TARGET_ADDR" --service intercom --address-in-hello auto --timeout 20 --stream-timeout 5
# At once: the UDP stream's conntrack entry lives 30 s (the kernel's UDP
# timeout), and the checks below take longer than that on a loaded machine.
in_fw conntrack -L -p udp > "$KT_WORK/ct-udp.txt" 2>/dev/null
assert_guest_ok "intercom from behind masquerade"
assert_contact
assert_streams "UDP stream crossed the firewall, source-NATed (echo ok)" udp True 1
assert_grep "host: HELLO from the firewall's address, embedded guest address rewritten G -> $TB_GUEST_SEEN" \
    "HELLO from $TB_GUEST_SEEN:[0-9]+ service intercom embedded-guest-address $TB_GUEST_SEEN\b" "$KT_WORK/host-main.log"
assert_no_grep "host never saw the private guest address" "$TB_GUEST_ADDR" "$KT_WORK/host-main.log"
assert_grep "the firewall source-NATed the UDP stream" \
    "udp .*src=$TB_GUEST_ADDR dst=$TB_HOST_ADDR sport=[0-9]+ dport=44[0-9]+ .*src=$TB_HOST_ADDR dst=$TB_GUEST_SEEN " "$KT_WORK/ct-udp.txt"

kt_step "legacy UDP contact, control on TCP 1417"
kt_guest control --host "$TB_TARGET_ADDR" --legacy-udp --service control --address-in-hello auto --timeout 20 --stream-timeout 5
assert_guest_ok "legacy control from behind masquerade"
assert_streams "TCP 1417 stream crossed the firewall (echo ok)" tcp True 1 1417
assert_grep "host: legacy HELLO's embedded guest address rewritten" \
    "HELLO from $TB_GUEST_SEEN:[0-9]+ service control embedded-guest-address $TB_GUEST_SEEN\b" "$KT_WORK/host-main.log"

kt_step "daemon counters"
kt_status > "$KT_WORK/status.json"
assert_ge "counter rewrites" 2 "$(kt_counter_from "$KT_WORK/status.json" rewrites)"
assert_ge "counter expectations_created" 2 "$(kt_counter_from "$KT_WORK/status.json" expectations_created)"
kt_finish
