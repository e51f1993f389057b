#!/bin/bash
# 15: the firewall is real. With no tbhelperd (no helper registered, no helper
# rules) the contact ports still pass (the baseline allows them), but every
# stream the host offers is dropped by the default-drop forward filter:
#   - legacy UDP contact, control's fixed TCP 1417;
#   - TCP contact, intercom's dynamic UDP port and drag and drop's dynamic TCP
#     port.
# The same sessions pass in 10-legacy-udp-contact and 20-tcp-contact, where
# the only difference is the running daemon and its rules.
. "$(dirname "$0")/lib.sh"
kt_begin "without tbhelperd the offered streams are blocked"
kt_need tbsim
kt_topo routed
if kt_helper_registered; then
    kt_note "a helper 'timbuktu' is registered already (outside the VM?); no rules use it here"
fi
kt_host main --legacy-ports
dropped0=$(kt_fw_dropped)

kt_step "legacy UDP contact (UDP 407), control: TCP 1417 must be blocked"
kt_guest legacy --host "$TB_TARGET_ADDR" --legacy-udp --service control --expect-blocked --timeout 20 --stream-timeout 3
assert_eq "legacy --expect-blocked: guest exit status" 0 "$KT_RC"
assert_contact
assert_streams "legacy: TCP 1417 stream attempted and blocked" tcp False 1 1417
assert_eq "legacy: no stream got through" 0 "$(( $(kt_streams tcp True) + $(kt_streams udp True) ))"

kt_step "TCP contact (TCP 407), intercom: the dynamic UDP port must be blocked"
kt_guest intercom --host "$TB_TARGET_ADDR" --service intercom --expect-blocked --timeout 20 --stream-timeout 3
assert_eq "intercom --expect-blocked: guest exit status" 0 "$KT_RC"
assert_contact
assert_streams "intercom: UDP stream attempted and blocked" udp False 1
assert_eq "intercom: no stream got through" 0 "$(( $(kt_streams tcp True) + $(kt_streams udp True) ))"

kt_step "TCP contact (TCP 407), drag and drop: the dynamic TCP port must be blocked"
kt_guest dnd --host "$TB_TARGET_ADDR" --service drag-and-drop --expect-blocked --timeout 20 --stream-timeout 3
assert_eq "drag-and-drop --expect-blocked: guest exit status" 0 "$KT_RC"
assert_contact
assert_streams "drag-and-drop: TCP stream attempted and blocked" tcp False 1
assert_eq "drag-and-drop: no stream got through" 0 "$(( $(kt_streams tcp True) + $(kt_streams udp True) ))"

kt_step "the firewall dropped them; nothing was expected"
assert_gt "baseline drop counter grew" "${dropped0:-0}" "$(kt_fw_dropped)"
kt_expect_list > "$KT_WORK/expect-final.txt"
assert_eq "conntrack -L expect is empty" 0 "$(grep -c . "$KT_WORK/expect-final.txt")"
assert_no_grep "no expectation was ever created" 'NEW' "$KT_EXPECT_EVENTS"
kt_finish
