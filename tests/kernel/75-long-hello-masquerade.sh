#!/bin/bash
# 75: the exploit's 176-byte HELLO (A11, docs/protocol-model.md#a11) from behind masquerade (issue
# 9). Its body carries the guest's own address twice: at offsets 6-9 and again
# at 160-163 (B3). Under source NAT the daemon rewrites both copies that equal
# G = 198.51.100.2 to the address G is translated to (203.0.113.1), same
# length, checksums fixed (B8). The tbsim host reads both copies and logs
# them: both must arrive rewritten, over TCP 407 and over legacy UDP 407, and
# the sessions must still work.
. "$(dirname "$0")/lib.sh"
kt_begin "masquerade: both guest-address copies of a 176-byte HELLO arrive rewritten"
kt_need tbhelperd tbsim
kt_topo masq
kt_daemon_start
kt_rules_apply
kt_host main --legacy-ports --dynamic-base 47000

kt_step "TCP contact, intercom, 176-byte HELLO with the guest's address at 6-9 and 160-163"
kt_guest tcp --host "$TB_TARGET_ADDR" --service intercom --long-hello --address-in-hello auto --timeout 20 --stream-timeout 5
assert_guest_ok "intercom with a long HELLO from behind masquerade"
assert_grep "guest: sent both copies as its own address $TB_GUEST_ADDR" \
    "sent HELLO service intercom embedded-guest-address $TB_GUEST_ADDR second-guest-address $TB_GUEST_ADDR \(176-byte body\)" \
    "$KT_WORK/guest-tcp.log"
assert_grep "host (TCP): both copies arrived rewritten to $TB_GUEST_SEEN" \
    "HELLO from $TB_GUEST_SEEN:[0-9]+ service intercom embedded-guest-address $TB_GUEST_SEEN second-guest-address $TB_GUEST_SEEN \(copies agree\)" \
    "$KT_WORK/host-main.log"
assert_streams "UDP stream crossed the firewall, source-NATed (echo ok)" udp True 1

kt_step "legacy UDP contact, control, 176-byte HELLO"
kt_guest udp --host "$TB_TARGET_ADDR" --legacy-udp --service control --long-hello --address-in-hello auto --timeout 20 --stream-timeout 5
assert_guest_ok "legacy control with a long HELLO from behind masquerade"
assert_grep "host (UDP): both copies arrived rewritten to $TB_GUEST_SEEN" \
    "HELLO from $TB_GUEST_SEEN:[0-9]+ service control embedded-guest-address $TB_GUEST_SEEN second-guest-address $TB_GUEST_SEEN \(copies agree\)" \
    "$KT_WORK/host-main.log"
assert_streams "TCP 1417 stream crossed the firewall (echo ok)" tcp True 1 1417
assert_no_grep "the host never saw the private guest address" "$TB_GUEST_ADDR" "$KT_WORK/host-main.log"

kt_step "a third address in the second copy is left as it is (B8: only copies equal to G)"
kt_guest other --host "$TB_TARGET_ADDR" --service chat --long-hello --address-in-hello 192.0.2.50 --timeout 20 --stream-timeout 5
assert_grep "host: a copy that is not G arrives unchanged" \
    "HELLO from $TB_GUEST_SEEN:[0-9]+ service chat embedded-guest-address 192\.0\.2\.50 second-guest-address 192\.0\.2\.50 \(copies agree\)" \
    "$KT_WORK/host-main.log"

kt_step "daemon counters"
kt_status > "$KT_WORK/status.json"
assert_ge "counter rewrites (two copies in each of two HELLOs)" 2 "$(kt_counter_from "$KT_WORK/status.json" rewrites)"
assert_alive "tbhelperd still running" "$KT_DAEMON_PID"
kt_finish
