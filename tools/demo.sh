#!/bin/bash
# tbhelper end-to-end demonstration (`make demo` runs it after `make`).
#
#   tools/demo.sh            run it where it can run (see below)
#   tools/demo.sh --inside   the demonstration itself (root, helper-capable kernel)
#
# It installs nothing (`make deps` does). On a kernel that can register
# userspace conntrack helpers (any Debian/Ubuntu/Fedora kernel), as root, it
# runs right here in three network namespaces; otherwise it runs inside a
# Debian 12 kernel under QEMU (tests/vm/run.sh; the first run fetches the
# kernel package, which needs root).
#
# What it shows, with a header per section: a guest, a default-drop firewall
# running tbhelperd and a host (tbsim); the firewall's ruleset; a legacy
# session (UDP 407 contact, control on TCP 1417) and a TCP session (TCP 407,
# intercom's dynamic UDP port, drag and drop's dynamic TCP port); the
# expectations the daemon created, listed by `tbhelperctl expectations` while
# they are pending; the streams that crossed the firewall; the same session
# blocked once the helper rules are removed; the daemon's log and its
# counters (`tbhelperctl status`). Exit status 0 only if every step worked.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ "${1:-}" != --inside ]; then
    for b in tbhelperd tbhelperctl tbsim; do
        [ -x "$repo/build/$b" ] || { echo "demo: build/$b is missing: run 'make' first" >&2; exit 1; }
    done
    helper_kernel() {
        [ -d /sys/module/nfnetlink_cthelper ] && return 0
        [ "$(id -u)" = 0 ] && modprobe -q nfnetlink_cthelper 2>/dev/null && [ -d /sys/module/nfnetlink_cthelper ]
    }
    if [ "$(id -u)" = 0 ] && { [ -n "${TBVM:-}" ] || helper_kernel; }; then
        echo "demo: running on this kernel ($(uname -r)), in network namespaces tbg, tbfw, tbh"
        exec timeout -k 15 "${TBDEMO_TIMEOUT:-300}" bash "$0" --inside
    fi
    command -v qemu-system-x86_64 >/dev/null 2>&1 \
        || { echo "demo: kernel $(uname -r) cannot register userspace helpers and qemu-system-x86_64 is missing: run 'make deps'" >&2; exit 1; }
    vmargs=(--timeout "${TBDEMO_TIMEOUT:-300}" --keep "$repo")
    if [ "$(id -u)" != 0 ]; then
        [ -s "$repo/build/vm/kernel-version" ] \
            || { echo "demo: the VM test bed must be prepared once as root: sudo tests/vm/prepare.sh" >&2; exit 1; }
        vmargs+=(--no-prepare)
    fi
    echo "demo: kernel $(uname -r) here has no nfnetlink_cthelper (userspace helpers);"
    echo "demo: booting a Debian 12 kernel under QEMU (tests/vm/run.sh), about 10-30 s"
    exec "$repo/tests/vm/run.sh" "${vmargs[@]}" -- bash "$0" --inside
fi

# ---- the demonstration (root, in namespaces) -------------------------------------
KT_NAME=demo KT_KIND=DEMO
# shellcheck source=tests/kernel/lib.sh
. "$repo/tests/kernel/lib.sh"

section() {
    echo
    echo "════════════════════════════════════════════════════════════════════════"
    echo "  $*"
    echo "════════════════════════════════════════════════════════════════════════"
}
show() { # TITLE COMMAND...: a command and its output, indented
    local title=$1; shift
    echo "── $title"
    "$@" 2>&1 | sed 's/^/   │ /'
}
ctl() { in_fw "$TBCTL" "$@"; }   # tbhelperctl in the firewall (kernel state is per namespace)
daemon_log_since() { # LINE: the daemon's log from that line on
    tail -n +"$1" "$KT_WORK/tbhelperd.log" | sed 's/^/   │ /'
}
log_mark() { wc -l < "$KT_WORK/tbhelperd.log"; }

kt_begin "Timbuktu Pro sessions across a default-drop firewall running tbhelperd"
kt_need tbhelperd tbhelperctl tbsim

section "1. The test bed: guest ── firewall (tbhelperd) ── host"
kt_topo routed
cat <<EOF
   guest  (namespace tbg)   198.51.100.2   2001:db8:1::2    runs: tbsim guest
   firewall (tbfw)          198.51.100.1 | 203.0.113.1      runs: tbhelperd
   host   (namespace tbh)   203.0.113.2    2001:db8:2::2    runs: tbsim host
   The firewall forwards with policy DROP: only TCP 407 and UDP 407/1419
   (the contact ports) and packets of established or related connections pass.
EOF

section "2. tbhelperd starts in the firewall and registers the helper"
kt_daemon_start
if command -v nfct >/dev/null 2>&1; then
    show "nfct list helper (the kernel's helper table: registered by tbhelperd)" nfct list helper
fi
kt_rules_apply
show "the firewall's ruleset (nft list ruleset in tbfw)" in_fw nft list ruleset

section "3. Legacy session: HELLO over UDP 407, control offered on TCP 1417"
kt_host main --legacy-ports --dynamic-base 40000 --lifetime 90
mark=$(log_mark)
kt_guest_hold   # the guest waits a moment before opening its stream, so we can look
kt_guest_bg legacy --host "$TB_TARGET_ADDR" --legacy-udp --service control --timeout 40 --stream-timeout 20
if kt_wait_expect 15 "dport=1417 "; then
    show "tbhelperctl expectations (pending: the guest has not opened TCP 1417 yet)" ctl expectations
    kt_pass "expectation guest -> host TCP 1417 pending in the kernel"
else
    kt_fail "no expectation for TCP 1417 appeared"
fi
kt_guest_release
kt_guest_wait legacy 45
assert_guest_ok "legacy control session"
assert_streams "TCP 1417 crossed the firewall" tcp True 1 1417
echo "── what tbhelperd logged for this session"
daemon_log_since $((mark + 1))

section "4. TCP session: intercom over TCP 407, a dynamic UDP port for sound"
mark=$(log_mark)
kt_guest_hold
kt_guest_bg intercom --host "$TB_TARGET_ADDR" --service intercom --timeout 40 --stream-timeout 20
if kt_wait_expect 15 "proto=17 "; then
    show "tbhelperctl expectations (pending)" ctl expectations
    kt_pass "UDP expectation pending in the kernel"
else
    kt_fail "no UDP expectation appeared"
fi
kt_guest_release
kt_guest_wait intercom 45
assert_guest_ok "intercom session"
assert_streams "the UDP sound stream crossed the firewall" udp True 1
echo "── what tbhelperd logged for this session"
daemon_log_since $((mark + 1))

section "5. TCP session: drag and drop, a dynamic TCP port"
kt_guest dnd --host "$TB_TARGET_ADDR" --service drag-and-drop --timeout 20 --stream-timeout 5
assert_guest_ok "drag-and-drop session"
assert_streams "the dynamic TCP stream crossed the firewall" tcp True 1
show "the firewall's connection table for the streams (conntrack -L)" \
    bash -c "ip netns exec $TB_NS_FW conntrack -L 2>/dev/null | grep -v 'dport=407 '"

section "6. The same session without the helper rules: blocked"
ctl rules --config "$KT_CONF" --remove >/dev/null 2>&1 || kt_rules_remove
kt_guest blocked --host "$TB_TARGET_ADDR" --service intercom --expect-blocked --timeout 20 --stream-timeout 3
assert_eq "without the helper the intercom stream is dropped (guest --expect-blocked)" 0 "$KT_RC"
kt_rules_apply >/dev/null

section "7. tbhelperd's counters"
show "tbhelperctl status" "$TBCTL" status

section "Result"
kt_finish
