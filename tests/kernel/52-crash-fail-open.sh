#!/bin/bash
# 52: fail-open after a crash. tbhelperd is killed with SIGKILL (no chance to
# clean up): the helper stays registered and enabled, nobody reads queue
# 407. Contact traffic must still pass: TCP 407 and UDP 407 contact work.
#
# Kernel background (6.1): nfnl_userspace_cthelper queues with
# NF_VERDICT_FLAG_QUEUE_BYPASS, so with no queue listener the packet itself
# passes, but it is queued from the conntrack confirm hook and the bypass
# skips the confirmation: the connection never enters the conntrack table and
# a stateful firewall drops the answer. A graceful stop (51) avoids this by
# disabling the helper first; a crash cannot.
. "$(dirname "$0")/lib.sh"
kt_begin "daemon killed (SIGKILL): contact traffic is not blocked"
kt_need tbhelperd tbsim
kt_topo routed
kt_daemon_start
kt_rules_apply
kt_host main --legacy-ports --dynamic-base 49000

kt_step "daemon killed with SIGKILL"
kt_daemon_stop KILL
assert_ok "helper 'timbuktu' still registered" kt_helper_registered
kt_guest tcp-control --host "$TB_TARGET_ADDR" --service control --timeout 10 --stream-timeout 5
assert_guest_ok "TCP 407 contact, control with its service data both ways"
kt_guest udp-contact --host "$TB_TARGET_ADDR" --legacy-udp --service control --expect-blocked --timeout 10 --stream-timeout 3
assert_eq "UDP 407 contact answered (HELLO-ACK)" True "$G_ACK"
in_fw conntrack -L > "$KT_WORK/ct-after-crash.txt" 2>&1
assert_grep "the TCP 407 contact connection entered the conntrack table" "tcp .*dport=407 " "$KT_WORK/ct-after-crash.txt"

kt_step "daemon started again: offers work again"
kt_daemon_start
kt_guest back --host "$TB_TARGET_ADDR" --service intercom --timeout 15 --stream-timeout 5
assert_guest_ok "intercom after the restart"
assert_streams "UDP stream crossed the firewall" udp True 1
kt_finish
