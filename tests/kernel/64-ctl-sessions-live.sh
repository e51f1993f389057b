#!/bin/bash
# 64: tbhelperctl sessions lists live sessions as the daemon tracks them.
# Two guests keep their contact open (tbsim guest --wait-offers N with more
# offers asked for than the host makes, so the contact stays up until the
# guest's --timeout) while their offered streams are held back
# (kt_guest_hold), so each session has an expectation pending:
#   - a TCP intercom session (contact TCP 407) and a legacy UDP chat session
#     (contact UDP 407) are both listed by `sessions --json`, and the list
#     agrees with the status's sessions_tracked;
#   - each row carries what the daemon knows: proto, guest (the guest's
#     address), guest_port (the master's source port as the kernel's
#     expectation names it), host, contact_port 407, service, phase, offers
#     (at least 1), expectations (joined with the kernel's pending
#     expectations by master tuple: at least 1), age;
#   - the table for people shows one row per session with the same facts;
#   - once the guests have gone and the daemon has forgotten the sessions
#     (TCP close; the UDP one stays until its idle limit), the TCP one is no
#     longer listed.
. "$(dirname "$0")/lib.sh"
kt_begin "tbhelperctl sessions lists live sessions"
kt_need tbhelperd tbhelperctl tbsim
kt_topo routed
kt_daemon_start
kt_rules_apply
kt_host main --dynamic-base 40000

kt_step "two guests keep their contact open, their streams held back"
kt_guest_hold
kt_guest_bg tcp-intercom --host "$TB_TARGET_ADDR" --service intercom --wait-offers 9 --timeout 50 --stream-timeout 2
kt_bg udp-chat timeout -k 5 60 ip netns exec "$TB_NS_GUEST" "$TBSIM" guest --legacy-udp \
    --host "$TB_TARGET_ADDR" --service chat --wait-offers 9 --timeout 50 --stream-timeout 2
_kt_two_pending() { [ "$(kt_expect_list | grep -c "src=$TB_GUEST_ADDR dst=$TB_TARGET_ADDR")" -ge 2 ]; }
kt_wait_for 30 _kt_two_pending || kt_die "not two pending expectations within 30 s: $(kt_expect_list | tr '\n' ' ')"
kt_pass "both sessions have an expectation pending"
in_fw "$TBCTL" expectations --json >"$KT_WORK/exp.json" 2>"$KT_WORK/exp.err"
kt_indent < "$KT_WORK/exp.json"

kt_step "sessions --json: both live sessions with the daemon's facts"
# Both forms are read at once, before the (slow, under TCG) assertions.
in_fw "$TBCTL" sessions --json >"$KT_WORK/sessions.json" 2>"$KT_WORK/sessions.err"; rc=$?
in_fw "$TBCTL" sessions >"$KT_WORK/sessions.txt" 2>&1; rc_table=$?
kt_indent < "$KT_WORK/sessions.json"
kt_indent < "$KT_WORK/sessions.err"
assert_eq "sessions --json exit status" 0 "$rc"
assert_eq "one JSON array" array "$(jq -r type "$KT_WORK/sessions.json" 2>&1)"
tracked=$(in_fw "$TBCTL" status --json | jq .sessions_tracked)
assert_eq "the list agrees with the status's sessions_tracked" "$tracked" "$(jq length "$KT_WORK/sessions.json")"
s() { # PROTO JQ-FILTER over that protocol's session
    jq -r --arg p "$1" "[.[] | select(.proto == \$p and .guest == \"$TB_GUEST_ADDR\")] | if length == 1 then .[0] | $2 else \"sessions: \(length)\" end" \
        "$KT_WORK/sessions.json" 2>&1
}
for proto in tcp udp; do
    case $proto in tcp) svc=intercom ;; udp) svc=chat ;; esac
    assert_eq "$proto: host" "$TB_TARGET_ADDR" "$(s $proto .host)"
    assert_eq "$proto: contact_port" 407 "$(s $proto .contact_port)"
    assert_eq "$proto: service" "$svc" "$(s $proto .service)"
    ph=$(s $proto .phase)
    if [[ $ph =~ ^[a-z][a-z_-]*$ ]]; then kt_pass "$proto: phase ($ph)"; else kt_fail "$proto: phase: '$ph'"; fi
    assert_ge "$proto: offers made" 1 "$(s $proto .offers)"
    assert_ge "$proto: expectations live (the kernel's, by master tuple)" 1 "$(s $proto .expectations)"
    assert_ge "$proto: age" 0 "$(s $proto .age)"
    gp=$(s $proto .guest_port)
    mp=$(jq -r --arg p "$proto" --arg s "$svc" '[.[] | select(.master.proto == $p and .service == $s) | .master.sport] | first' \
        "$KT_WORK/exp.json" 2>&1)
    assert_eq "$proto: guest_port is the expectation's master source port" "$mp" "$gp"
done

kt_step "sessions: the table for people"
kt_indent < "$KT_WORK/sessions.txt"
assert_eq "sessions (table) exit status" 0 "$rc_table"
assert_grep "a row for the TCP intercom session" "^tcp +$TB_GUEST_ADDR[: ].*$TB_TARGET_ADDR[: ]+.*intercom" "$KT_WORK/sessions.txt"
assert_grep "a row for the UDP chat session" "^udp +$TB_GUEST_ADDR[: ].*$TB_TARGET_ADDR[: ]+.*chat" "$KT_WORK/sessions.txt"

kt_step "the guests go: the closed TCP session leaves the list"
kt_guest_release
kt_guest_wait tcp-intercom 60
kt_note "TCP guest exit status: $KT_RC (not asserted: it asked for more offers than the host makes)"
_kt_tcp_gone() {
    in_fw "$TBCTL" sessions --json >"$KT_WORK/sessions-after.json" 2>/dev/null \
        && [ "$(jq '[.[] | select(.proto == "tcp")] | length' "$KT_WORK/sessions-after.json")" = 0 ]
}
if kt_wait_for 15 _kt_tcp_gone; then kt_pass "the TCP session is no longer listed"; else kt_fail "the TCP session is still listed"; fi
kt_indent < "$KT_WORK/sessions-after.json"

kt_finish
