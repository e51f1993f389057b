#!/bin/bash
# 74: a HELLO whose guest name carries NUL, ESC, BEL, DEL and "<0>" (issue 8,
# item 8: a NUL and "<0>" made journald record a forged emergency message;
# ESC sequences reach terminals). The daemon logs the HELLO (log level
# debug); its log must hold no byte below 0x20 other than newline and tab and
# no 0x7f, and show the bytes escaped (\x00, \x1b, \x07, \x7f).
. "$(dirname "$0")/lib.sh"
kt_begin "a guest name with control bytes is escaped in the daemon's log"
kt_need tbhelperd tbsim
kt_topo routed
kt_config 'log_level = "debug"'
kt_daemon_start
kt_rules_apply
kt_host main --dynamic-base 46900

# "ev" NUL "il<0>" ESC "[31m" BEL DEL "x" NL "<0>forged"
name_hex=657600696c3c303e1b5b33316d077f780a3c303e666f72676564
kt_step "HELLO over TCP 407 with the name bytes $name_hex"
kt_status > "$KT_WORK/before.json"
kt_attack_guest name name --host "$TB_TARGET_ADDR" --name-hex "$name_hex"
assert_eq "the host answered the HELLO (HELLO-ACK class 0101)" 0101 "$(kt_attack_field name answer_class)"
kt_wait_counter sessions $(( $(kt_counter_from "$KT_WORK/before.json" sessions) + 1 )) 10
_name_logged() { grep -aq 'il<0>' "$KT_WORK/tbhelperd.log"; }
kt_wait_for 10 _name_logged
assert_grep "the daemon logged the HELLO's name" 'il<0>' "$KT_WORK/tbhelperd.log"
assert_no_control_bytes "no control byte (< 0x20 but newline and tab, 0x7f) in the daemon's log" "$KT_WORK/tbhelperd.log"
assert_grep "ESC shown escaped as \\x1b" '\\x1b\[31m' "$KT_WORK/tbhelperd.log"
assert_grep "NUL shown escaped as \\x00" 'ev\\x00il' "$KT_WORK/tbhelperd.log"
assert_grep "BEL and DEL shown escaped" '\\x07\\x7fx' "$KT_WORK/tbhelperd.log"
assert_no_grep "the name's newline did not start a line of its own" '^<0>forged' "$KT_WORK/tbhelperd.log"
kt_host_stop

kt_good_session good --dynamic-base 46950
kt_finish
