#!/bin/bash
# 51: fail-open. While tbhelperd is stopped (SIGTERM) the helper stays
# registered and the helper rules stay loaded, and the contact traffic keeps
# working: TCP 407 (control with its service data both ways) and UDP 407
# contact; only the offered streams have no expectation (blocked). A
# restarted daemon serves again. (A crashed daemon: 52.)
. "$(dirname "$0")/lib.sh"
kt_begin "daemon stopped: contact traffic is not blocked (fail-open)"
kt_need tbhelperd tbsim
kt_topo routed
kt_daemon_start
kt_rules_apply
kt_host main --legacy-ports --dynamic-base 48000

kt_step "daemon stopped with SIGTERM"
kt_daemon_stop TERM
assert_ok "helper 'timbuktu' still registered" kt_helper_registered
assert_ok "helper rules still loaded" in_fw nft list table inet tbhelper
kt_guest tcp-control --host "$TB_TARGET_ADDR" --service control --timeout 15 --stream-timeout 5
assert_guest_ok "TCP 407 contact, control with its service data both ways"
kt_guest udp-contact --host "$TB_TARGET_ADDR" --legacy-udp --service control --expect-blocked --timeout 15 --stream-timeout 3
assert_eq "UDP 407 contact answered (HELLO-ACK)" True "$G_ACK"
assert_streams "offered TCP 1417 blocked (nobody created an expectation)" tcp False 1 1417
kt_guest tcp-intercom --host "$TB_TARGET_ADDR" --service intercom --expect-blocked --timeout 15 --stream-timeout 3
assert_eq "TCP 407 intercom contact answered (HELLO-ACK)" True "$G_ACK"
assert_streams "intercom's UDP stream blocked (no expectation)" udp False 1

kt_step "daemon started again: offers work again"
kt_daemon_start
kt_guest back --host "$TB_TARGET_ADDR" --service intercom --timeout 15 --stream-timeout 5
assert_guest_ok "intercom after the restart"
assert_streams "UDP stream crossed the firewall" udp True 1
kt_finish
