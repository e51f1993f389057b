#!/bin/bash
# Smoke test of the VM test bed. Runs INSIDE the guest (needs root and a
# distribution kernel with modules); from the host:
#
#   tests/vm/run.sh -- tests/vm/smoke.sh
#
# Checks: the netfilter modules tbhelper needs load, the cthelper netlink
# subsystem answers, the three-namespace topology forwards, the baseline
# default-drop filter really drops (TCP/UDP 5000) and lets the contact ports
# through (TCP 407, UDP 407/1419), IPv4 and IPv6, the DNAT and masquerade
# variants translate as documented, and an nftables `ct helper` object for a
# kernel helper ("ftp") loads (nft_ct and the helper autoload through
# /lib/modules). Prints PASS/FAIL lines and "N passed, N failed"; exits 1 if
# anything failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/netns.sh
. "$here/netns.sh"

passed=0 failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() { # description command...
    local d=$1; shift
    local out
    if out=$("$@" 2>&1); then pass "$d"; else fail "$d"; [ -n "$out" ] && printf '      %s\n' "$out" | head -n 10; fi
    return 0
}
# Like check, but in this shell (for functions that set variables).
step() { # description command...
    local d=$1; shift
    local log
    log=$(mktemp)
    if "$@" >"$log" 2>&1; then pass "$d"; else fail "$d"; sed 's/^/      /' "$log" | head -n 10; fi
    rm -f "$log"
    return 0
}
# Expect tb_probe to succeed with a given peer address (one retry: a loaded
# machine under TCG can be slow).
probe_ok() { # description proto dst port expected_peer
    local d=$1 ans
    if ans=$(tb_probe "$2" "$3" "$4") || ans=$(tb_probe "$2" "$3" "$4" "" 10); then
        if [ "$ans" = "peer=$5" ]; then pass "$d ($ans)"; else fail "$d: got $ans, want peer=$5"; fi
    else
        fail "$d: no answer"
    fi
}
drops() { # packets counted by the baseline's final (drop) counter
    in_fw nft list chain inet tbtest forward 2>/dev/null \
        | sed -n 's/.*counter packets \([0-9]*\) .*dropped by.*/\1/p'
}
# Expect no answer. With "counted", also require the baseline's drop counter
# to move, so that a slow machine cannot fake a PASS.
probe_blocked() { # description proto dst port [counted]
    local d=$1 ans rc=0 before after
    before=$(drops)
    ans=$(tb_probe "$2" "$3" "$4" "" 2) || rc=$?
    after=$(drops)
    case $rc in
        0) fail "$d: got through ($ans)" ;;
        1) if [ "${5:-}" = counted ] && ! [ "${after:-0}" -gt "${before:-0}" ]; then
               fail "$d: no answer, but the drop counter did not move ($before -> $after)"
           else
               pass "$d"
           fi ;;
        *) fail "$d: probe error $rc" ;;
    esac
}

[ "$(id -u)" = 0 ] || { echo "FAIL: smoke.sh needs root (run it through tests/vm/run.sh)"; exit 1; }
trap topo_teardown EXIT
t0=$SECONDS
echo "smoke: kernel $(uname -r)"

# --- modules --------------------------------------------------------------------
for m in nfnetlink_cthelper nft_ct nfnetlink_queue nf_conntrack_netlink nf_nat nft_nat nft_masq; do
    check "modprobe $m" modprobe "$m"
done

# --- cthelper netlink subsystem -------------------------------------------------
if command -v nfct >/dev/null 2>&1; then
    check "nfct list helper answers" nfct list helper
elif command -v python3 >/dev/null 2>&1; then
    # NFNL_SUBSYS_CTHELPER (9) << 8 | NFNL_MSG_CTHELPER_GET (1), dump; a kernel
    # without nfnetlink_cthelper answers with an error instead of NLMSG_DONE.
    check "cthelper netlink dump answers" python3 - <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
hdr = struct.pack("=IHHII", 16 + 4, (9 << 8) | 1, 0x1 | 0x300, 1, 0)
s.send(hdr + struct.pack("=BBH", socket.AF_UNSPEC, 0, 0))
while True:
    data = s.recv(65536)
    off = 0
    while off < len(data):
        ln, typ = struct.unpack_from("=IH", data, off)
        if typ == 2:  # NLMSG_ERROR
            err = struct.unpack_from("=i", data, off + 16)[0]
            if err != 0:
                print("netlink error", -err); sys.exit(1)
        if typ == 3:  # NLMSG_DONE
            sys.exit(0)
        off += (ln + 3) & ~3
PY
else
    check "nfnetlink_cthelper module present" test -d /sys/module/nfnetlink_cthelper
fi

# --- routed topology --------------------------------------------------------------
step "topo_routed" topo_routed
check "ping guest -> host (IPv4)" in_guest ping -c1 -W2 "$TB_HOST_ADDR"
check "ping guest -> host (IPv6)" in_guest ping -6 -c1 -W2 "$TB_HOST_ADDR6"
probe_ok "no filter: tcp/5000 guest -> host" tcp "$TB_TARGET_ADDR" 5000 "$TB_GUEST_SEEN"

check "fw_load_baseline" fw_load_baseline
check "fw_load_baseline again (idempotent)" fw_load_baseline
check "baseline policy is drop" bash -c "ip netns exec $TB_NS_FW nft list chain inet tbtest forward | grep -q 'policy drop'"
probe_blocked "baseline drops tcp/5000 (IPv4)" tcp "$TB_TARGET_ADDR" 5000 counted
probe_blocked "baseline drops tcp/5000 (IPv6)" tcp "$TB_TARGET_ADDR6" 5000 counted
probe_blocked "baseline drops udp/5000 (IPv4)" udp "$TB_TARGET_ADDR" 5000 counted
probe_ok "baseline passes tcp/407 (IPv4)" tcp "$TB_TARGET_ADDR" 407 "$TB_GUEST_SEEN"
probe_ok "baseline passes tcp/407 (IPv6)" tcp "$TB_TARGET_ADDR6" 407 "$TB_GUEST_SEEN6"
probe_ok "baseline passes udp/407 (IPv4)" udp "$TB_TARGET_ADDR" 407 "$TB_GUEST_SEEN"
probe_ok "baseline passes udp/1419 (IPv4)" udp "$TB_TARGET_ADDR" 1419 "$TB_GUEST_SEEN"
probe_ok "baseline passes udp/1419 (IPv6)" udp "$TB_TARGET_ADDR6" 1419 "$TB_GUEST_SEEN6"
check "conntrack in tbfw saw tcp/407" bash -c \
    "ip netns exec $TB_NS_FW conntrack -L -p tcp --dport 407 2>/dev/null | grep -q 'dport=407'"

# --- nftables ct helper object (kernel helper; autoloads nf_conntrack_ftp) ---------
check "nft ct helper \"ftp\" object + rule load" in_fw nft -f - <<'NFT'
table inet tbtest {
    ct helper ftph { type "ftp" protocol tcp; }
    chain pre {
        type filter hook prerouting priority filter; policy accept;
        tcp dport 21 ct helper set "ftph"
    }
}
NFT
check "nf_conntrack_ftp autoloaded" test -d /sys/module/nf_conntrack_ftp
if in_fw nft add ct helper inet tbtest tbt '{ type "timbuktu" protocol tcp; }' 2>/dev/null; then
    echo "INFO: a helper named timbuktu is registered (tbhelperd running?)"
else
    echo "INFO: ct helper \"timbuktu\" not loadable (expected: no tbhelperd registered it)"
fi
check "fw_unload_baseline" fw_unload_baseline

# --- DNAT (port forward) ----------------------------------------------------------
step "topo_nat_dnat" topo_nat_dnat
check "fw_load_baseline (dnat)" fw_load_baseline
probe_ok "dnat: tcp/407 to 198.51.100.1 reaches host" tcp "$TB_TARGET_ADDR" 407 "$TB_GUEST_SEEN"
probe_ok "dnat: tcp/407 to 2001:db8:1::1 reaches host" tcp "$TB_TARGET_ADDR6" 407 "$TB_GUEST_SEEN6"
probe_ok "dnat: udp/1419 to 198.51.100.1 reaches host" udp "$TB_TARGET_ADDR" 1419 "$TB_GUEST_SEEN"
probe_blocked "dnat: tcp/5000 to 198.51.100.1 not forwarded (firewall answers RST)" tcp "$TB_TARGET_ADDR" 5000
check "dnat: guest has no route to 203.0.113.2" bash -c "! ip netns exec $TB_NS_GUEST ip route get 203.0.113.2 >/dev/null 2>&1"

# --- masquerade -------------------------------------------------------------------
step "topo_nat_masq" topo_nat_masq
check "fw_load_baseline (masq)" fw_load_baseline
probe_ok "masq: tcp/407 host sees 203.0.113.1" tcp "$TB_TARGET_ADDR" 407 "$TB_GUEST_SEEN"
probe_ok "masq: tcp/407 host sees 2001:db8:2::1" tcp "$TB_TARGET_ADDR6" 407 "$TB_GUEST_SEEN6"
probe_ok "masq: udp/407 host sees 203.0.113.1" udp "$TB_TARGET_ADDR" 407 "$TB_GUEST_SEEN"
probe_blocked "masq: tcp/5000 dropped" tcp "$TB_TARGET_ADDR" 5000 counted

topo_teardown
check "teardown leaves no namespace" bash -c "! ip netns list | grep -Eqw 'tbg|tbfw|tbh'"

echo "smoke: $((SECONDS - t0)) s"
echo "smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
