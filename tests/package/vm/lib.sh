# shellcheck shell=bash
# What the package tests that run INSIDE the test bed share
# (tests/package/vm/systemd-package-test.sh, firewall-managers-test.sh):
# the result lines, waiting, and the topology. Sourced after `repo` is set.
# Each PASS/FAIL line carries the seconds since the test started, so a run's
# log shows where its time went.
#
# Topology: the daemon runs in the initial network namespace (where systemd
# starts it; NFQUEUE is per namespace), so the initial namespace IS the
# firewall. The guest and the host are network namespaces routed through it:
#
#     tbpg (guest)                 initial namespace (firewall)     tbph (host)
#     eth0 ------------------------ tbpgw0       tbphw0 ---------------- eth0
#     198.51.100.2/24          198.51.100.1/24   203.0.113.1/24     203.0.113.2/24

t0=$EPOCHREALTIME
fails=0 passes=0 failed=()

el() { # seconds since t0, one decimal
    local now=${EPOCHREALTIME/[.,]/} start=${t0/[.,]/}
    local d=$(( (now - start) / 100000 ))
    echo "$((d / 10)).$((d % 10))"
}
step() { echo; echo "== $* (+$(el)s)"; }
pass() { passes=$((passes + 1)); echo "PASS: $* (+$(el)s)"; }
fail() { fails=$((fails + 1)); failed+=("$*"); echo "FAIL: $* (+$(el)s)"; }
note() { echo "NOTE: $*"; }
ind() { sed 's/^/    /'; }
check() { # WHAT COMMAND...: pass when COMMAND exits 0
    local what=$1 out; shift
    if out=$("$@" 2>&1); then pass "$what"; else fail "$what"; printf '%s\n' "$out" | tail -n 15 | ind; fi
}
check_not() { # WHAT COMMAND...: pass when COMMAND fails
    local what=$1 out; shift
    if out=$("$@" 2>&1); then fail "$what"; printf '%s\n' "$out" | tail -n 15 | ind; else pass "$what"; fi
}
wait_for() { # SECONDS COMMAND...: until COMMAND succeeds, every 0.2 s
    local end=$(( ${EPOCHREALTIME/[.,]/} + $1 * 1000000 )); shift
    until "$@" >/dev/null 2>&1; do
        (( ${EPOCHREALTIME/[.,]/} >= end )) && return 1
        sleep 0.2
    done
}

# tests/vm/netns.sh for its helpers (in_guest, in_host, fw_load_baseline,
# tb_probe) and addresses, with our own namespaces and the initial
# namespace as firewall.
TB_NS_GUEST=tbpg TB_NS_HOST=tbph
# shellcheck source=tests/vm/netns.sh
. "$repo/tests/vm/netns.sh"
TB_FW_GUEST_IF=tbpgw0 TB_FW_HOST_IF=tbphw0

setup_topology() {
    ip netns add "$TB_NS_GUEST" && ip netns add "$TB_NS_HOST" || return 1
    ip -n "$TB_NS_GUEST" link set lo up && ip -n "$TB_NS_HOST" link set lo up || return 1
    ip link add "$TB_FW_GUEST_IF" type veth peer name eth0 netns "$TB_NS_GUEST" || return 1
    ip link add "$TB_FW_HOST_IF" type veth peer name eth0 netns "$TB_NS_HOST" || return 1
    ip addr add "$TB_FWG4/24" dev "$TB_FW_GUEST_IF" && ip link set "$TB_FW_GUEST_IF" up || return 1
    ip addr add "$TB_FWH4/24" dev "$TB_FW_HOST_IF" && ip link set "$TB_FW_HOST_IF" up || return 1
    ip -n "$TB_NS_GUEST" addr add "$TB_G4/24" dev eth0 && ip -n "$TB_NS_GUEST" link set eth0 up || return 1
    ip -n "$TB_NS_HOST" addr add "$TB_H4/24" dev eth0 && ip -n "$TB_NS_HOST" link set eth0 up || return 1
    ip -n "$TB_NS_GUEST" route add default via "$TB_FWG4" || return 1
    ip -n "$TB_NS_HOST" route add default via "$TB_FWH4" || return 1
    sysctl -qw net.ipv4.ip_forward=1 || return 1
}

# Background processes of the test (tbsim hosts): killed with the namespaces at exit.
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    ip netns del "$TB_NS_GUEST" 2>/dev/null
    ip netns del "$TB_NS_HOST" 2>/dev/null
}
trap cleanup EXIT

# The end of a test: its counts, what did not pass, the exit status.
summary() { # NAME
    echo
    echo "$1: $passes passed, $fails failed (+$(el)s)"
    local f
    for f in "${failed[@]}"; do echo "  not passing: $f"; done
    ((fails == 0))
}
