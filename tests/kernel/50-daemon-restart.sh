#!/bin/bash
# 50: tbhelperd restarted in the middle of a session. A TCP intercom session
# gets its first offer (UDP), the guest's stream works; then the daemon is
# stopped (SIGTERM: the helper stays registered) and started again; 15 s
# after the first offer the host sends a second round of offers on the same
# contact connection. The new daemon must pick the session up (B7, docs/protocol-model.md#b7: the
# stream stays framed) and expect the second port: the second stream works.
. "$(dirname "$0")/lib.sh"
kt_begin "daemon restarted mid-session: the second round of offers still works"
kt_need tbhelperd tbsim
kt_topo routed
kt_daemon_start
kt_rules_apply
kt_host main --dynamic-base 47000 --second-offer-after 15

kt_step "intercom session, first round of offers"
kt_guest_bg restart --host "$TB_TARGET_ADDR" --service intercom --wait-offers 2 --timeout 60 --stream-timeout 5
if kt_wait_for 20 grep -q 'offer udp/47000 .*stream ok' "$KT_WORK/guest-restart.log"; then
    kt_pass "first stream (udp/47000) worked before the restart"
else
    kt_fail "the first stream udp/47000 did not work within 20 s"
fi
assert_grep "expectation for the first offer" "NEW.*proto=17 src=$TB_GUEST_ADDR dst=$TB_TARGET_ADDR sport=0 dport=47000 " "$KT_EXPECT_EVENTS"

kt_step "restart tbhelperd while the contact connection stays open"
# If the second round came before the old daemon stopped, this proves
# nothing; if it comes while no daemon runs, the second stream fails below.
if grep -q 'second round' "$KT_WORK/host-main.log"; then
    kt_fail "the second round was sent before the daemon was stopped (too slow here?): the restart is not tested"
fi
kt_daemon_stop TERM
assert_ok "helper 'timbuktu' still registered after SIGTERM" kt_helper_registered
kt_daemon_start

kt_step "second round of offers, handled by the new daemon"
kt_guest_wait restart 60
assert_guest_ok "intercom across the restart"
assert_grep "host sent the second round" "second round" "$KT_WORK/host-main.log"
assert_streams "both UDP streams worked" udp True 2
assert_streams "the second stream (udp/47001) worked" udp True 1 47001
assert_grep "expectation for the second offer (new daemon)" "NEW.*proto=17 src=$TB_GUEST_ADDR dst=$TB_TARGET_ADDR sport=0 dport=47001 .*dport=407( |$)" "$KT_EXPECT_EVENTS"
kt_status > "$KT_WORK/status.json"
assert_ge "new daemon: counter expectations_created" 1 "$(kt_counter_from "$KT_WORK/status.json" expectations_created)"
assert_ge "new daemon: counter restored_sessions" 1 "$(kt_counter_from "$KT_WORK/status.json" restored_sessions)"
kt_finish
