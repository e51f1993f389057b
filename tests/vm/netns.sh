#!/bin/bash
# tbhelper test topology: a sourceable bash library (not a program).
#
#   source tests/vm/netns.sh
#   topo_routed            # or topo_nat_dnat / topo_nat_masq
#   fw_load_baseline       # default-drop forward filter in the firewall
#   in_guest socat ...     # run a command in a namespace (in_fw, in_host)
#   topo_teardown
#
# Works inside the VM test bed (tests/vm/run.sh) and on any kernel with network
# namespaces, veth and nftables; needs root. It creates three network
# namespaces and touches nothing outside them (no address, route or rule in the
# caller's namespace; the veths are created directly inside the namespaces):
#
#     tbg (guest)                 tbfw (firewall)                tbh (host)
#     eth0 ----------------------- gw0        hw0 ----------------------- eth0
#     198.51.100.2/24      198.51.100.1/24    203.0.113.1/24      203.0.113.2/24
#     2001:db8:1::2/64     2001:db8:1::1/64   2001:db8:2::1/64    2001:db8:2::2/64
#
# "guest" is the Timbuktu client that opens the contact connection, "host" the
# Timbuktu server it contacts, "firewall" the box where tbhelperd runs (forwarding
# on). Only documentation address blocks (RFC 5737, RFC 3849) are used.
#
# After a topo_* function these variables (exported) describe the topology:
#   TB_TOPO          routed | dnat | masq
#   TB_GUEST_ADDR    the guest's own address (B8, docs/protocol-model.md#b8: G)            (+ ..._ADDR6)
#   TB_TARGET_ADDR   the address the guest connects to (D)           (+ ..._ADDR6)
#   TB_HOST_ADDR     the address the host listens on (H)             (+ ..._ADDR6)
#   TB_GUEST_SEEN    the source address the host sees for the guest  (+ ..._SEEN6)
#   TB_NS_GUEST TB_NS_FW TB_NS_HOST, TB_FW_GUEST_IF (gw0), TB_FW_HOST_IF (hw0)
#
#                 TB_GUEST_ADDR   TB_TARGET_ADDR  TB_HOST_ADDR  TB_GUEST_SEEN
#   routed        198.51.100.2    203.0.113.2     203.0.113.2   198.51.100.2
#   dnat          198.51.100.2    198.51.100.1    203.0.113.2   198.51.100.2
#   masq          198.51.100.2    203.0.113.2     203.0.113.2   203.0.113.1
#
# Combining with tbhelper's own rules: fw_load_baseline creates only the table
# `inet tbtest` (filter) and the topo_nat_* functions only `inet tbtestnat`;
# `tbhelperctl rules --apply` creates `inet tbhelper` (helper assignment). They
# are independent tables on the same hooks; a packet must be accepted by every
# base chain, so load both in the firewall namespace:
#     fw_load_baseline
#     in_fw tbhelperctl rules --apply [--config FILE]
# The expected (data) connections then pass the baseline through
# `ct state established,related accept`. Remove ours with fw_unload_baseline.
#
# Names can be set before sourcing: TB_NS_GUEST, TB_NS_FW, TB_NS_HOST, and the
# contact ports TB_TCP_CONTACT_PORTS ("407"), TB_UDP_CONTACT_PORTS ("407, 1419").
# The library sets no shell options; every function returns non-zero on
# failure and is safe under `set -euo pipefail`.

TB_NS_GUEST=${TB_NS_GUEST:-tbg}
TB_NS_FW=${TB_NS_FW:-tbfw}
TB_NS_HOST=${TB_NS_HOST:-tbh}
TB_FW_GUEST_IF=gw0
TB_FW_HOST_IF=hw0
# Contact ports (shared/spec/interfaces.md: tcp_contact_ports, udp_contact_ports),
# as nft set elements.
TB_TCP_CONTACT_PORTS=${TB_TCP_CONTACT_PORTS:-407}
TB_UDP_CONTACT_PORTS=${TB_UDP_CONTACT_PORTS:-407, 1419}

# Fixed addresses.
TB_G4=198.51.100.2   TB_FWG4=198.51.100.1
TB_H4=203.0.113.2    TB_FWH4=203.0.113.1
TB_G6=2001:db8:1::2  TB_FWG6=2001:db8:1::1
TB_H6=2001:db8:2::2  TB_FWH6=2001:db8:2::1

in_guest() { ip netns exec "$TB_NS_GUEST" "$@"; }
in_fw()    { ip netns exec "$TB_NS_FW" "$@"; }
in_host()  { ip netns exec "$TB_NS_HOST" "$@"; }

tb_log() { echo "netns: $*" >&2; }

# Remove the three namespaces, and with them the veths, rules and conntrack
# entries. Processes still running inside them are killed first.
topo_teardown() {
    local ns pids
    for ns in "$TB_NS_GUEST" "$TB_NS_FW" "$TB_NS_HOST"; do
        if [ -e "/run/netns/$ns" ]; then
            pids=$(ip netns pids "$ns" 2>/dev/null || true)
            if [ -n "$pids" ]; then
                # shellcheck disable=SC2086
                kill $pids 2>/dev/null || true
            fi
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
    unset TB_TOPO
    return 0
}

# Base: namespaces, veths, addresses, forwarding in the firewall. Only the
# connected routes; the topo_* functions add the rest.
_topo_base() {
    topo_teardown
    local ns
    for ns in "$TB_NS_GUEST" "$TB_NS_FW" "$TB_NS_HOST"; do
        ip netns add "$ns" || return 1
        ip -n "$ns" link set lo up || return 1
        # No IPv6 duplicate address detection: addresses are usable at once.
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
            net.ipv6.conf.default.accept_dad=0 >/dev/null || return 1
    done
    # The veth ends are created inside the namespaces directly.
    ip -n "$TB_NS_GUEST" link add eth0 type veth peer name "$TB_FW_GUEST_IF" netns "$TB_NS_FW" || return 1
    ip -n "$TB_NS_HOST"  link add eth0 type veth peer name "$TB_FW_HOST_IF"  netns "$TB_NS_FW" || return 1

    ip -n "$TB_NS_GUEST" addr add "$TB_G4/24" dev eth0 || return 1
    ip -n "$TB_NS_GUEST" addr add "$TB_G6/64" dev eth0 nodad || return 1
    ip -n "$TB_NS_FW" addr add "$TB_FWG4/24" dev "$TB_FW_GUEST_IF" || return 1
    ip -n "$TB_NS_FW" addr add "$TB_FWG6/64" dev "$TB_FW_GUEST_IF" nodad || return 1
    ip -n "$TB_NS_FW" addr add "$TB_FWH4/24" dev "$TB_FW_HOST_IF" || return 1
    ip -n "$TB_NS_FW" addr add "$TB_FWH6/64" dev "$TB_FW_HOST_IF" nodad || return 1
    ip -n "$TB_NS_HOST" addr add "$TB_H4/24" dev eth0 || return 1
    ip -n "$TB_NS_HOST" addr add "$TB_H6/64" dev eth0 nodad || return 1
    ip -n "$TB_NS_GUEST" link set eth0 up || return 1
    ip -n "$TB_NS_HOST" link set eth0 up || return 1
    ip -n "$TB_NS_FW" link set "$TB_FW_GUEST_IF" up || return 1
    ip -n "$TB_NS_FW" link set "$TB_FW_HOST_IF" up || return 1
    in_fw sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null || return 1
    # Helpers only through explicit rules (the kernel default since 4.7). The
    # sysctl exists once nf_conntrack is loaded.
    in_fw sysctl -qw net.netfilter.nf_conntrack_helper=0 >/dev/null 2>&1 || true
}

_topo_export() { # topo G D H seen G6 D6 H6 seen6
    TB_TOPO=$1
    TB_GUEST_ADDR=$2  TB_TARGET_ADDR=$3  TB_HOST_ADDR=$4  TB_GUEST_SEEN=$5
    TB_GUEST_ADDR6=$6 TB_TARGET_ADDR6=$7 TB_HOST_ADDR6=$8 TB_GUEST_SEEN6=$9
    export TB_TOPO TB_GUEST_ADDR TB_TARGET_ADDR TB_HOST_ADDR TB_GUEST_SEEN \
        TB_GUEST_ADDR6 TB_TARGET_ADDR6 TB_HOST_ADDR6 TB_GUEST_SEEN6 \
        TB_NS_GUEST TB_NS_FW TB_NS_HOST TB_FW_GUEST_IF TB_FW_HOST_IF
}

# Plain routed firewall, no NAT. The guest connects to the host's own address:
#   guest 198.51.100.2 -> host 203.0.113.2 (D = H); the host sees 198.51.100.2.
#   guest 2001:db8:1::2 -> host 2001:db8:2::2.
topo_routed() {
    _topo_base || return 1
    ip -n "$TB_NS_GUEST" route add default via "$TB_FWG4" || return 1
    ip -n "$TB_NS_GUEST" -6 route add default via "$TB_FWG6" || return 1
    ip -n "$TB_NS_HOST" route add default via "$TB_FWH4" || return 1
    ip -n "$TB_NS_HOST" -6 route add default via "$TB_FWH6" || return 1
    _topo_export routed "$TB_G4" "$TB_H4" "$TB_H4" "$TB_G4" "$TB_G6" "$TB_H6" "$TB_H6" "$TB_G6"
}
topo_setup() { topo_routed "$@"; }

# Port forward (destination NAT): the host is hidden behind the firewall, which
# forwards its own guest-side address D to the host H on the contact ports.
#   The guest connects to D = 198.51.100.1 (IPv6 2001:db8:1::1), the
#   firewall's address on the guest side. The firewall DNATs TCP 407 and
#   UDP 407, 1419 there to H = 203.0.113.2 (2001:db8:2::2). The host sees the
#   guest's real address 198.51.100.2 and answers via its default route
#   through the firewall. The guest has no route to 203.0.113.0/24 at all: it
#   reaches the host only through D.
# Spec B8: offers from the host carry H; under DNAT the helper rewrites H -> D,
# and expected streams (to D) must follow the master's translation to H.
# More forwarded ports (e.g. a data port for a test without the helper):
# fw_dnat_port tcp|udp PORT.
topo_nat_dnat() {
    _topo_base || return 1
    # guest: connected route only (no default route)
    ip -n "$TB_NS_HOST" route add default via "$TB_FWH4" || return 1
    ip -n "$TB_NS_HOST" -6 route add default via "$TB_FWH6" || return 1
    in_fw nft -f - <<NFT || return 1
table inet tbtestnat {
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "$TB_FW_GUEST_IF" ip daddr $TB_FWG4 tcp dport { $TB_TCP_CONTACT_PORTS } dnat ip to $TB_H4
        iifname "$TB_FW_GUEST_IF" ip daddr $TB_FWG4 udp dport { $TB_UDP_CONTACT_PORTS } dnat ip to $TB_H4
        iifname "$TB_FW_GUEST_IF" ip6 daddr $TB_FWG6 tcp dport { $TB_TCP_CONTACT_PORTS } dnat ip6 to $TB_H6
        iifname "$TB_FW_GUEST_IF" ip6 daddr $TB_FWG6 udp dport { $TB_UDP_CONTACT_PORTS } dnat ip6 to $TB_H6
    }
}
NFT
    _topo_export dnat "$TB_G4" "$TB_FWG4" "$TB_H4" "$TB_G4" "$TB_G6" "$TB_FWG6" "$TB_H6" "$TB_G6"
}

# One more port forward D:PORT -> H:PORT (dnat topology only).
fw_dnat_port() { # tcp|udp PORT
    in_fw nft add rule inet tbtestnat prerouting iifname "$TB_FW_GUEST_IF" \
        ip daddr "$TB_FWG4" "$1" dport "$2" dnat ip to "$TB_H4" &&
    in_fw nft add rule inet tbtestnat prerouting iifname "$TB_FW_GUEST_IF" \
        ip6 daddr "$TB_FWG6" "$1" dport "$2" dnat ip6 to "$TB_H6"
}

# Guest behind source NAT (masquerade): the guest sits on a private side and
# the firewall masquerades everything it forwards out of hw0.
#   The guest connects to the host's real address D = H = 203.0.113.2
#   (2001:db8:2::2). The host sees the firewall's address 203.0.113.1
#   (2001:db8:2::1), never 198.51.100.2: it has no route back to the guest
#   network (connected 203.0.113.0/24 only), so un-NATed packets cannot work.
# Spec B8: a HELLO from the guest carries G; under SNAT the helper rewrites
# G -> 203.0.113.1.
topo_nat_masq() {
    _topo_base || return 1
    ip -n "$TB_NS_GUEST" route add default via "$TB_FWG4" || return 1
    ip -n "$TB_NS_GUEST" -6 route add default via "$TB_FWG6" || return 1
    # host: connected route only (no default route)
    in_fw nft -f - <<NFT || return 1
table inet tbtestnat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "$TB_FW_HOST_IF" masquerade
    }
}
NFT
    _topo_export masq "$TB_G4" "$TB_H4" "$TB_H4" "$TB_FWH4" "$TB_G6" "$TB_H6" "$TB_H6" "$TB_FWH6"
}

# Baseline firewall policy in the firewall namespace, table `inet tbtest`:
# forward policy drop; accept established,related; drop invalid; from the guest
# side accept new connections only to the contact ports (TCP 407, UDP 407 and
# 1419 by default) and ICMP/ICMPv6 echo requests (for diagnostics). The
# firewall's own input/output are not filtered: ARP and ICMPv6 neighbour
# discovery are link-local (never forwarded) and need no rule; ICMP errors
# about tracked flows are `related`. Idempotent: replaces an earlier copy.
fw_load_baseline() {
    in_fw nft -f - <<NFT
table inet tbtest
delete table inet tbtest
table inet tbtest {
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        ct state invalid drop
        iifname "$TB_FW_GUEST_IF" tcp dport { $TB_TCP_CONTACT_PORTS } ct state new accept
        iifname "$TB_FW_GUEST_IF" udp dport { $TB_UDP_CONTACT_PORTS } ct state new accept
        iifname "$TB_FW_GUEST_IF" icmp type echo-request accept
        iifname "$TB_FW_GUEST_IF" icmpv6 type echo-request accept
        counter comment "dropped by the tbtest baseline"
    }
}
NFT
}

fw_unload_baseline() { in_fw nft delete table inet tbtest 2>/dev/null || true; }

# ---- probes with socat (all bounded by timeouts) ------------------------------

# Wait until something listens on tcp|udp PORT in namespace NS (max ~5 s).
tb_wait_listen() { # NS tcp|udp PORT
    local i flag=-ltnH
    [ "$2" = udp ] && flag=-lunH
    for i in $(seq 50); do
        ip netns exec "$1" ss $flag "sport = :$3" 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    return 1
}

_tb_fam() { # tcp|udp ADDR -> socat address type (TCP4, UDP6, ...)
    local p
    p=$(echo "$1" | tr '[:lower:]' '[:upper:]')
    case "$2" in *:*) echo "${p}6" ;; *) echo "${p}4" ;; esac
}
# Canonical text form of an address: IPv4 as is; IPv6 without brackets, leading
# zeros and with the longest run of zero groups as "::" (RFC 5952), so that
# socat's "[2001:0db8:0001:0000:...:0002]" compares equal to "2001:db8:1::2".
tb_canon_addr() { # ADDR
    local a=${1#[} g i n best=-1 bestlen=0 run=-1 runlen=0
    a=${a%]}
    case "$a" in *:*) ;; *) echo "$a"; return 0 ;; esac
    # expand "::" to the right number of zero groups
    if [[ "$a" == *::* ]]; then
        local left=${a%%::*} right=${a#*::} nl=0 nr=0 fill=""
        [ -n "$left" ] && nl=$(( $(tr -cd : <<<"$left" | wc -c) + 1 ))
        [ -n "$right" ] && nr=$(( $(tr -cd : <<<"$right" | wc -c) + 1 ))
        for ((i = nl + nr; i < 8; i++)); do fill+="0:"; done
        a="${left:+$left:}${fill}${right}"
        a=${a%:}
    fi
    local -a grp
    IFS=: read -r -a grp <<<"$a"
    n=${#grp[@]}
    for ((i = 0; i < n; i++)); do
        g=$((16#${grp[i]:-0}))
        grp[i]=$(printf '%x' "$g")
        if [ "$g" = 0 ]; then
            [ "$run" -lt 0 ] && run=$i && runlen=0
            runlen=$((runlen + 1))
            if [ "$runlen" -gt "$bestlen" ]; then best=$run; bestlen=$runlen; fi
        else
            run=-1
        fi
    done
    if [ "$bestlen" -lt 2 ]; then
        (IFS=:; echo "${grp[*]}")
        return 0
    fi
    local head="" tail=""
    for ((i = 0; i < best; i++)); do head+="${head:+:}${grp[i]}"; done
    for ((i = best + bestlen; i < n; i++)); do tail+="${tail:+:}${grp[i]}"; done
    echo "$head::$tail"
}

_tb_br() { case "$1" in *:*) echo "[$1]" ;; *) echo "$1" ;; esac; }

# One exchange from the guest to the host. The host listens on LISTEN:PORT
# (default TB_HOST_ADDR or TB_HOST_ADDR6, matching DST's family), the guest
# connects to DST:PORT and sends a line, the host answers "peer=<address>" with
# the source address it saw. Prints that answer; returns 0 only if it came
# back, 1 if not (blocked), 2 if the listener could not start. The address is
# in canonical form (tb_canon_addr), e.g. peer=2001:db8:1::2.
#   tb_probe tcp|udp DST PORT [LISTEN] [TIMEOUT_SECONDS (5)]
# Under TCG on a loaded machine process start-up alone can take a second:
# keep timeouts generous for probes that must succeed.
tb_probe() {
    local proto=$1 dst=$2 port=$3 listen=${4:-} t=${5:-5} lt cf srv ans
    if [ -z "$listen" ]; then
        case "$dst" in
            *:*) listen=${TB_HOST_ADDR6:-$TB_H6} ;;
            *) listen=${TB_HOST_ADDR:-$TB_H4} ;;
        esac
    fi
    lt=$(_tb_fam "$proto" "$listen")
    if [ "$proto" = tcp ]; then lt=$lt-LISTEN; else lt=$lt-RECVFROM; fi
    # shellcheck disable=SC2016
    in_host timeout $((2 * t + 15)) socat -T"$t" \
        "$lt:$port,bind=$(_tb_br "$listen"),reuseaddr" \
        SYSTEM:'read l; echo peer=$SOCAT_PEERADDR' </dev/null >/dev/null 2>&1 &
    srv=$!
    if ! tb_wait_listen "$TB_NS_HOST" "$proto" "$port"; then
        kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true
        tb_log "tb_probe: no listener on $proto/$port"
        return 2
    fi
    cf=$(_tb_fam "$proto" "$dst"):$(_tb_br "$dst"):$port
    [ "$proto" = tcp ] && cf=$cf,connect-timeout=$t
    ans=$(echo hello | in_guest timeout $((t + 1)) socat -T"$t" - "$cf" 2>/dev/null) || true
    kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true
    case "$ans" in
        peer=*) echo "peer=$(tb_canon_addr "${ans#peer=}")"; return 0 ;;
        *) return 1 ;;
    esac
}
