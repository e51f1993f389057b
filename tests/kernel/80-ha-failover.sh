#!/bin/bash
# 80: a firewall pair (docs/ha.md). Two firewall nodes fa (active) and fb
# (backup) between the guest and the host, in ONE kernel: network namespaces
# g, fa, fb, h and two bridge namespaces (the guest's and the host's segment).
# Each firewall runs tbhelperd (its own queue 407: the queue is per namespace;
# the helper registration is global, docs/ha.md#test-bed) and Debian's
# conntrackd in FTFW mode with ExpectationSync for timbuktu over a dedicated
# link synca--syncb (conntrackd's lexer rejects interface names that read as
# hex numbers, such as fa2). conntrackd is Debian's own binary, unpacked by
# tools/fetch-conntrackd.sh into build/conntrackd (never installed: that would
# start a conntrackd service on the machine running the tests).
#
#   tbg 198.51.100.2 --[tbbg br0]-- fa gw0 | fb gw0      (gateway 198.51.100.1)
#   tbh 203.0.113.2  --[tbbh br0]-- fa hw0 | fb hw0      (gateway 203.0.113.1)
#   fa synca 192.0.2.1 ---------------- fb syncb 192.0.2.2   (conntrackd, UDP 3780)
#
# Failover = the two gateway addresses move from fa to fb (ip addr del/add)
# and the guest and the host forget the old MAC (ip neigh flush all), which
# is what keepalived does with a virtual address and gratuitous ARP.
#
# Steps:
#   1. a pending expectation created by fa's daemon (intercom over TCP 407,
#      the guest's stream held back at fa) appears in fb's kernel table
#      (conntrack -L expect in fb) through conntrackd; after failover the
#      guest's stream passes fb (fb never saw the offer). Measured: the sync
#      delay (expectation on fa -> on fb) and the failover gap (address move
#      -> the guest's stream tracked by fb).
#   2. a framed TCP contact (intercom) opened through fb, a second round of
#      offers 10 s later; between the rounds the addresses move back to fa
#      (failback). fa's daemon never saw the contact: it rebuilds the session
#      from the state fb's daemon sent it over the sync link
#      (docs/ha.md#session-state) and expects the second offer; the second
#      stream passes fa. Without that copy it would judge the connection "not
#      Timbuktu" (the host speaks first) and detach it.
#   3. a legacy UDP contact through fa, its streams held at fa; failover to
#      fb; the streams pass fb.
#   4. fa's daemon is down while a contact runs through fb; it starts, asks
#      fb's daemon for its running sessions (resync request), and after the
#      failover to fa expects the contact's second offer.
. "$(dirname "$0")/lib.sh"
kt_begin "firewall pair: a pending expectation follows the connection to the backup through conntrackd; the stream passes after failover"
kt_need tbhelperd tbhelperctl tbsim

CTD_DIR=$KT_REPO/build/conntrackd
CTD=$CTD_DIR/usr/sbin/conntrackd
[ -x "$CTD" ] || kt_die "$CTD is missing: run tools/fetch-conntrackd.sh on the host (tests/kernel/run-all.sh does it before the boot)"

HA_NS_A=tbfa HA_NS_B=tbfb HA_BR_G=tbbg HA_BR_H=tbbh
TB_NS_FW=$HA_NS_A
HA_SYNC_A=192.0.2.1 HA_SYNC_B=192.0.2.2

# lib.sh's EXIT trap removes the namespaces through topo_teardown: ours are six.
topo_teardown() {
    local ns pids
    for ns in "$TB_NS_GUEST" "$HA_NS_A" "$HA_NS_B" "$TB_NS_HOST" "$HA_BR_G" "$HA_BR_H"; do
        [ -e "/run/netns/$ns" ] || continue
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        # shellcheck disable=SC2086
        [ -n "$pids" ] && kill $pids 2>/dev/null
        ip netns del "$ns" 2>/dev/null || true
    done
    return 0
}

ha_topo() {
    topo_teardown
    local ns
    for ns in "$TB_NS_GUEST" "$HA_NS_A" "$HA_NS_B" "$TB_NS_HOST" "$HA_BR_G" "$HA_BR_H"; do
        ip netns add "$ns" && ip -n "$ns" link set lo up || return 1
    done
    for ns in "$HA_BR_G" "$HA_BR_H"; do
        ip -n "$ns" link add br0 type bridge && ip -n "$ns" link set br0 up || return 1
    done
    # ns:ifname  <->  bridge-namespace:port (pg, pfa, pfb / ph, pfa, pfb: a lone
    # "h" would be read by ip(8) as "help")
    ip -n "$TB_NS_GUEST" link add eth0 type veth peer name pg netns "$HA_BR_G" || return 1
    ip -n "$HA_NS_A" link add gw0 type veth peer name pfa netns "$HA_BR_G" || return 1
    ip -n "$HA_NS_B" link add gw0 type veth peer name pfb netns "$HA_BR_G" || return 1
    ip -n "$TB_NS_HOST" link add eth0 type veth peer name ph netns "$HA_BR_H" || return 1
    ip -n "$HA_NS_A" link add hw0 type veth peer name pfa netns "$HA_BR_H" || return 1
    ip -n "$HA_NS_B" link add hw0 type veth peer name pfb netns "$HA_BR_H" || return 1
    local p
    for p in pg pfa pfb; do ip -n "$HA_BR_G" link set "$p" master br0 up || return 1; done
    for p in ph pfa pfb; do ip -n "$HA_BR_H" link set "$p" master br0 up || return 1; done
    ip -n "$HA_NS_A" link add synca type veth peer name syncb netns "$HA_NS_B" || return 1
    ip -n "$HA_NS_A" addr add "$HA_SYNC_A/24" dev synca || return 1
    ip -n "$HA_NS_B" addr add "$HA_SYNC_B/24" dev syncb || return 1
    ip -n "$TB_NS_GUEST" addr add "$TB_G4/24" dev eth0 || return 1
    ip -n "$TB_NS_HOST" addr add "$TB_H4/24" dev eth0 || return 1
    ip -n "$HA_NS_A" addr add "$TB_FWG4/24" dev gw0 || return 1
    ip -n "$HA_NS_A" addr add "$TB_FWH4/24" dev hw0 || return 1
    for ns in "$HA_NS_A" "$HA_NS_B"; do
        ip -n "$ns" link set gw0 up && ip -n "$ns" link set hw0 up || return 1
        ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 >/dev/null || return 1
        ip netns exec "$ns" sysctl -qw net.netfilter.nf_conntrack_helper=0 >/dev/null 2>&1
    done
    ip -n "$HA_NS_A" link set synca up && ip -n "$HA_NS_B" link set syncb up || return 1
    ip -n "$TB_NS_GUEST" link set eth0 up && ip -n "$TB_NS_HOST" link set eth0 up || return 1
    ip -n "$TB_NS_GUEST" route add default via "$TB_FWG4" || return 1
    ip -n "$TB_NS_HOST" route add default via "$TB_FWH4" || return 1
    _topo_export routed "$TB_G4" "$TB_H4" "$TB_H4" "$TB_G4" "" "" "" ""
}

# in_node NODE(a|b) COMMAND...
in_node() { local ns=$HA_NS_A; [ "$1" = b ] && ns=$HA_NS_B; shift; ip netns exec "$ns" "$@"; }
node_ns() { if [ "$1" = b ]; then echo "$HA_NS_B"; else echo "$HA_NS_A"; fi; }

# ha_conntrackd_start NODE: conntrackd FTFW on the sync link, in the foreground
# (lib.sh's trap stops it); ready when its UNIX socket answers `-s`.
declare -A HA_CTD_CONF=()
ha_conntrackd_start() {
    local node=$1 self peer ifname conf
    if [ "$node" = a ]; then self=$HA_SYNC_A peer=$HA_SYNC_B ifname=synca
    else self=$HA_SYNC_B peer=$HA_SYNC_A ifname=syncb; fi
    conf=$KT_WORK/conntrackd-$node.conf
    HA_CTD_CONF[$node]=$conf
    # The same file as packaging/examples/ha/conntrackd.conf but for the
    # paths and addresses (one clause a line: conntrackd 1.4.7's parser).
    cat > "$conf" <<CONF
General {
    HashSize 8192
    HashLimit 65536
    LogFile $KT_WORK/conntrackd-$node.log
    Syslog off
    LockFile $KT_WORK/conntrackd-$node.lock
    UNIX {
        Path $KT_WORK/conntrackd-$node.ctl
    }
    NetlinkBufferSize 2097152
    NetlinkBufferSizeMaxGrowth 8388608
    Filter From Userspace {
        Protocol Accept {
            TCP
            UDP
        }
        Address Ignore {
            IPv4_address 127.0.0.1
            IPv4_address $HA_SYNC_A
            IPv4_address $HA_SYNC_B
        }
    }
}
Sync {
    Mode FTFW {
        DisableExternalCache on
    }
    UDP {
        IPv4_address $self
        IPv4_Destination_Address $peer
        Port 3780
        Interface $ifname
        Checksum on
    }
    Options {
        ExpectationSync {
            timbuktu
        }
    }
}
CONF
    kt_say "conntrackd in $(node_ns "$node"): $CTD -C $conf"
    kt_bg "conntrackd-$node-out" ip netns exec "$(node_ns "$node")" "$CTD" -C "$conf"
    _ha_ctd_ready() { in_node "$1" "$CTD" -C "${HA_CTD_CONF[$1]}" -s >/dev/null 2>&1; }
    kt_wait_for 20 _ha_ctd_ready "$node" || {
        kt_indent < "$KT_WORK/conntrackd-$node-out.log"; kt_indent < "$KT_WORK/conntrackd-$node.log" 2>/dev/null
        kt_die "conntrackd in $(node_ns "$node") did not answer on its UNIX socket within 20 s"
    }
    kt_pass "conntrackd (FTFW, ExpectationSync timbuktu) running in $(node_ns "$node")"
}

# ha_daemon_start NODE: tbhelperd in the node's namespace, its own socket.
declare -A HA_DAEMON_PID=()
ha_daemon_start() {
    local node=$1 sock=$KT_WORK/tbhelperd-$1.sock log=$KT_WORK/tbhelperd-$1.log
    echo "---- tbhelperd start at +$(kt_elapsed)s" >> "$log"
    local conf=$KT_WORK/tbhelper-$node.conf peer=$HA_SYNC_B ifname=synca
    [ "$node" = b ] && peer=$HA_SYNC_A ifname=syncb
    { cat "$KT_CONF"; echo "ha_sync_interface = \"$ifname\""; echo "ha_sync_peer = \"$peer\""; } > "$conf"
    ip netns exec "$(node_ns "$node")" "$TBD" --config "$conf" --foreground --socket "$sock" >>"$log" 2>&1 &
    HA_DAEMON_PID[$node]=$!
    KT_PIDS+=("$!")
    KT_DAEMON_STARTED=1
    _ha_daemon_ready() { KT_SOCK=$KT_WORK/tbhelperd-$1.sock kt_status; }
    kt_wait_for 20 _ha_daemon_ready "$node" || kt_die "tbhelperd in $(node_ns "$node") did not answer on $sock within 20 s"
    kt_wait_for 5 kt_helper_registered || kt_die "helper 'timbuktu' not registered after tbhelperd in $(node_ns "$node") became ready"
    kt_pass "tbhelperd ready in $(node_ns "$node") (pid ${HA_DAEMON_PID[$node]})"
}
ha_status() { KT_SOCK=$KT_WORK/tbhelperd-$1.sock kt_status; }

# ha_failover FROM TO: the gateway addresses move; neighbours forget the MAC.
ha_failover() {
    local from=$1 to=$2
    in_node "$from" ip addr del "$TB_FWG4/24" dev gw0
    in_node "$from" ip addr del "$TB_FWH4/24" dev hw0
    in_node "$to" ip addr add "$TB_FWG4/24" dev gw0
    in_node "$to" ip addr add "$TB_FWH4/24" dev hw0
    in_guest ip neigh flush all
    in_host ip neigh flush all
}

# now_s: wall clock in seconds with microseconds (conntrack -o timestamp's clock).
now_s() { echo "${EPOCHREALTIME/,/.}"; }
# ev_time FILE ERE: the timestamp of the first matching conntrack -E line.
ev_time() { grep -m1 -E -- "$2" "$1" 2>/dev/null | sed -n 's/^\[\([0-9.]*\)\].*/\1/p'; }
secs_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

kt_step "topology: guest, firewalls fa and fb, host; bridges for both segments; sync link"
ha_topo || kt_die "the firewall-pair topology could not be set up"
for n in a b; do
    TB_NS_FW=$(node_ns $n) fw_load_baseline || kt_die "baseline filter did not load in $(node_ns $n)"
done
kt_bg expect-events-a ip netns exec "$HA_NS_A" stdbuf -oL conntrack -E expect -o timestamp
kt_bg expect-events-b ip netns exec "$HA_NS_B" stdbuf -oL conntrack -E expect -o timestamp
kt_bg ct-events-b ip netns exec "$HA_NS_B" stdbuf -oL conntrack -E -e NEW -p udp -o timestamp
kt_say "guest $TB_G4 -> host $TB_H4; gateways on $HA_NS_A; sync link $HA_SYNC_A -- $HA_SYNC_B"

kt_config
kt_step "tbhelperd on both nodes, helper rules on both"
ha_daemon_start a
ha_daemon_start b
for n in a b; do
    out=$(in_node $n "$TBCTL" rules --config "$KT_CONF" --apply 2>&1) \
        || { printf '%s\n' "$out" | kt_indent; kt_die "tbhelperctl rules --apply failed in $(node_ns $n)"; }
done
kt_pass "helper rules loaded in both firewalls"

kt_step "conntrackd on both nodes"
ha_conntrackd_start a
ha_conntrackd_start b

kt_host main --dynamic-base 40000 --lifetime 120

# ---- 1. a pending expectation follows the contact to fb ---------------------------------
kt_step "1. intercom through fa, the guest's stream held back at fa; the expectation reaches fb"
kt_guest_hold   # in fa (TB_NS_FW): the guest's stream packets die there before conntrack
kt_guest_bg intercom --host "$TB_TARGET_ADDR" --service intercom --timeout 60 --stream-timeout 40
exp_re="proto=17 src=$TB_GUEST_ADDR dst=$TB_TARGET_ADDR sport=0 dport=40[0-9]+ .*master-src=$TB_GUEST_ADDR master-dst=$TB_TARGET_ADDR sport=[0-9]+ dport=407"
kt_wait_expect 20 "$exp_re" "$KT_WORK/expect-a.txt" || kt_die "no pending UDP expectation in fa within 20 s of the intercom contact"
t_exp_a=$(now_s)
kt_pass "pending UDP expectation in fa: $(grep -m1 'proto=17' "$KT_WORK/expect-a.txt" | cut -c1-160)"
_exp_on_b() { in_node b conntrack -L expect > "$KT_WORK/expect-b.txt" 2>/dev/null; grep -Eq -- "$exp_re" "$KT_WORK/expect-b.txt"; }
if kt_wait_for 20 _exp_on_b; then
    t_exp_b=$(now_s)
    kt_pass "the same expectation in fb's kernel table, through conntrackd: $(grep -m1 'proto=17' "$KT_WORK/expect-b.txt" | cut -c1-160)"
    assert_grep "fb's copy names the helper timbuktu" "proto=17 .*helper=timbuktu" "$KT_WORK/expect-b.txt"
    # From the kernels' own event timestamps (conntrack -E expect in fa and fb).
    port1=$(grep -m1 -oE 'proto=17 src=[^ ]+ dst=[^ ]+ sport=0 dport=[0-9]+' "$KT_WORK/expect-a.txt" | sed 's/.*dport=//')
    e_a=$(ev_time "$KT_WORK/expect-events-a.log" "NEW.*proto=17 .*dport=$port1 ")
    e_b=$(ev_time "$KT_WORK/expect-events-b.log" "NEW.*proto=17 .*dport=$port1 ")
    # (conntrack -o timestamp stamps an event when the tool reads it: two
    # readers can disagree by a few ms, so a delay below 0.01 s prints as 0.00)
    if [ -n "$e_a" ] && [ -n "$e_b" ]; then HA_SYNC_DELAY=$(awk -v a="$e_a" -v b="$e_b" 'BEGIN { d = b - a; if (d < 0) d = 0; printf "%.2f", d }')
    else HA_SYNC_DELAY="<= $(secs_between "$t_exp_a" "$t_exp_b") (polled)"; fi
    kt_note "expectation sync delay fa -> fb (NEW event in fa -> NEW event in fb): $HA_SYNC_DELAY s"
else
    kt_fail "the expectation did not reach fb within 20 s"; kt_indent < "$KT_WORK/expect-b.txt"
fi
in_node b conntrack -L -p tcp --orig-port-dst 407 > "$KT_WORK/ct-contact-b.txt" 2>/dev/null
assert_grep "fb has the contact connection too, with its helper" "dport=407 .*helper=timbuktu" "$KT_WORK/ct-contact-b.txt"

kt_step "1. failover fa -> fb; the held stream now goes through fb"
t_fail=$(now_s)
ha_failover a b
kt_say "gateway addresses moved to $HA_NS_B at $t_fail"
kt_guest_wait intercom 60
kt_guest_release   # fa's hold table: step 2 comes back to fa
assert_guest_ok "intercom across the failover"
assert_streams "the offered UDP stream crossed fb (echo ok)" udp True 1
dport=$(kt_stream_field udp port)
in_node b conntrack -L -p udp --orig-port-dst "${dport:-1}" > "$KT_WORK/ct-stream-b.txt" 2>/dev/null
assert_grep "fb tracked the stream (guest -> host UDP ${dport:-?})" "src=$TB_GUEST_ADDR dst=$TB_TARGET_ADDR .*dport=${dport:-none} " "$KT_WORK/ct-stream-b.txt"
assert_eq "fb's daemon never saw the offer: expectations it created" 0 "$(kt_counter_in "$(ha_status b)" expectations_created)"
t_new=$(grep -m1 -E "NEW.* src=$TB_GUEST_ADDR dst=$TB_TARGET_ADDR sport=[0-9]+ dport=${dport:-none} " "$KT_WORK/ct-events-b.log" | sed -n 's/^\[\([0-9.]*\)\].*/\1/p')
if [ -n "$t_new" ]; then
    HA_GAP=$(secs_between "$t_fail" "$t_new")
    kt_note "failover gap (address move -> the guest's held stream tracked by fb): $HA_GAP s (the guest resends every second)"
else
    kt_fail "no NEW event for the stream in fb's conntrack -E log"
fi

# ---- 2. a framed contact continues through the other node; a later offer ----------------
kt_step "2. intercom through fb with a second round of offers; failback fb -> fa between the rounds"
kt_host_stop
kt_host second --dynamic-base 41000 --lifetime 120 --second-offer-after 10
before_a=$(ha_status a); before_b=$(ha_status b)
kt_guest_bg second --host "$TB_TARGET_ADDR" --service intercom --wait-offers 2 --timeout 60 --stream-timeout 10
_first_on_b() { v=$(kt_counter_in "$(ha_status b)" expectations_created); _kt_isnum "$v" && [ "$v" -ge 1 ]; }
kt_wait_for 20 _first_on_b || kt_fail "fb's daemon created no expectation for the first offer within 20 s"
_peer_has() { # NODE: the node's daemon holds at least one state from its peer
    [[ $(ha_status "$1") =~ \"held\":\ *([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge 1 ]; }
kt_wait_for 10 _peer_has a && kt_pass "fa's daemon holds fb's session state (ha_sync held >= 1)" \
    || kt_fail "fa's daemon received no session state from fb"
sleep 2   # the first stream's echo (through fb) is done
t_fail2=$(now_s)
ha_failover b a
kt_say "gateway addresses moved back to $HA_NS_A at $t_fail2 (failback)"
kt_guest_wait second 70
assert_guest_ok "intercom with two rounds of offers across the failback"
assert_eq "both offered UDP streams crossed (the second one through fa)" 2 "$(kt_streams udp True)"
st_a=$(ha_status a)
assert_ge "fa's daemon rebuilt the session from fb's copy (peer_restored_sessions)" 1 "$(kt_counter_in "$st_a" peer_restored_sessions)"
assert_ge "fa's daemon created the expectation for the second offer" 1 \
    "$(( $(kt_counter_in "$st_a" expectations_created) - $(kt_counter_in "$before_a" expectations_created) ))"
assert_no_grep "fa's daemon never judged a taken-over connection not Timbuktu" "not Timbuktu" "$KT_WORK/tbhelperd-a.log"
assert_no_grep "fb's daemon never judged a taken-over connection not Timbuktu" "not Timbuktu" "$KT_WORK/tbhelperd-b.log"
# The second round's port: the guest's second offer (the first came through fb).
port2=$(python3 -c 'import json,sys; o=json.load(open(sys.argv[1])).get("offers") or []; print(o[1]["port"] if len(o) > 1 else "")' "$KT_WORK/guest-second.json" 2>/dev/null)
t_exp2=$(ev_time "$KT_WORK/expect-events-a.log" "NEW.*proto=17 .*dport=${port2:-none} ")
[ -n "$t_exp2" ] && HA_SECOND=$(secs_between "$t_fail2" "$t_exp2") \
    && kt_note "second offer (UDP $port2) expected by fa's daemon $HA_SECOND s after the failback (the host sent it ~10 s after the first)"

# ---- 3. a legacy UDP session the same -------------------------------------------------------
kt_step "3. legacy UDP contact through fa, its streams held at fa; failover fa -> fb; they pass fb"
kt_guest_hold
kt_guest_bg legacy --host "$TB_TARGET_ADDR" --legacy-udp --service intercom --timeout 60 --stream-timeout 40
leg_re="proto=17 src=$TB_GUEST_ADDR dst=$TB_TARGET_ADDR sport=0 dport=41[0-9]+ .*master-src=$TB_GUEST_ADDR master-dst=$TB_TARGET_ADDR sport=[0-9]+ dport=407"
kt_wait_expect 20 "$leg_re" "$KT_WORK/expect-legacy-a.txt" || kt_fail "no pending expectation of the legacy UDP contact in fa within 20 s"
_leg_on_b() { in_node b conntrack -L expect > "$KT_WORK/expect-legacy-b.txt" 2>/dev/null; grep -Eq -- "$leg_re" "$KT_WORK/expect-legacy-b.txt"; }
kt_wait_for 20 _leg_on_b && kt_pass "the legacy contact's expectation is in fb's table (master UDP 407)" \
    || kt_fail "the legacy contact's expectation did not reach fb within 20 s"
ha_failover a b
kt_guest_wait legacy 60
kt_guest_release
assert_guest_ok "legacy UDP intercom across the failover"
assert_streams "the legacy session's offered streams crossed fb" udp True 1
assert_eq "failed streams of the legacy session" 0 "$(( $(kt_streams udp False) + $(kt_streams tcp False) ))"

# ---- 4. a backup daemon that starts while sessions run ---------------------------------------
kt_step "4. fa's daemon is down (killed with its watchdog: in one kernel a clean stop would park the helper for fb too); a contact through fb; fa's daemon starts; failover fb -> fa before the second offer"
wd=$(pgrep -P "${HA_DAEMON_PID[a]}" 2>/dev/null | head -n1)
kill -KILL ${wd:+"$wd"} "${HA_DAEMON_PID[a]}" 2>/dev/null
wait "${HA_DAEMON_PID[a]}" 2>/dev/null
kt_host_stop
kt_host late --dynamic-base 42000 --lifetime 120 --second-offer-after 25
before_b=$(ha_status b)   # before the guest: its first offer may be handled within the status request
kt_guest_bg late --host "$TB_TARGET_ADDR" --service intercom --wait-offers 2 --timeout 70 --stream-timeout 10
_late_first() { v=$(kt_counter_in "$(ha_status b)" expectations_created); w=$(kt_counter_in "$before_b" expectations_created); _kt_isnum "$v" && [ "$v" -gt "$w" ]; }
kt_wait_for 20 _late_first || kt_fail "fb's daemon created no expectation for the first offer within 20 s"
ha_daemon_start a
kt_wait_for 10 _peer_has a && kt_pass "the new daemon in fa received fb's running sessions at its start (resync)" \
    || kt_fail "the new daemon in fa holds no state from fb"
[[ $(ha_status b) =~ \"resync_requests\":\ *([0-9]+) ]] && assert_ge "fb answered fa's resync request" 1 "${BASH_REMATCH[1]}"
ha_failover b a
kt_guest_wait late 80
assert_guest_ok "intercom whose second offer comes after the backup's daemon started and took over"
assert_eq "both offered UDP streams crossed (the second one through fa)" 2 "$(kt_streams udp True)"
assert_ge "fa's new daemon rebuilt the session from fb's copy" 1 "$(kt_counter_in "$(ha_status a)" peer_restored_sessions)"
assert_no_grep "fa's daemons never judged a taken-over connection not Timbuktu" "not Timbuktu" "$KT_WORK/tbhelperd-a.log"

kt_step "tbhelperctl status and check on both nodes: the role, conntrackd's expectation sync, the sync link"
for n in a b; do
    role=backup; [ "$n" = a ] && role=active   # fa holds the addresses after step 4
    rf=$KT_WORK/ha-role-$n
    TBHELPER_HA_ROLE_FILE=$rf "$KT_REPO/packaging/examples/ha/tbhelper-ha-notify" INSTANCE tbhelper \
        "$( [ $role = active ] && echo MASTER || echo BACKUP )" 100
    TBHELPER_HA_ROLE_FILE=$rf TBHELPER_CONNTRACKD_CONF=${HA_CTD_CONF[$n]} \
        in_node $n "$TBCTL" status --json --config "$KT_WORK/tbhelper-$n.conf" --socket "$KT_WORK/tbhelperd-$n.sock" \
        > "$KT_WORK/ctl-status-$n.json" 2>&1
    assert_eq "status on $(node_ns $n): ha.role" "$role" "$(kt_json "$KT_WORK/ctl-status-$n.json" 'd["ha"]["role"]')"
    assert_eq "status on $(node_ns $n): conntrackd syncs timbuktu expectations" True \
        "$(kt_json "$KT_WORK/ctl-status-$n.json" 'd["ha"]["conntrackd_syncs_timbuktu"]')"
    assert_eq "status on $(node_ns $n): the daemon's sync link" "$( [ $n = a ] && echo synca || echo syncb)" \
        "$(kt_json "$KT_WORK/ctl-status-$n.json" 'd["ha_sync"]["interface"]')"
done
sed 's/timbuktu$/ftp/' "${HA_CTD_CONF[a]}" > "$KT_WORK/conntrackd-noexp.conf"
TBHELPER_HA_ROLE_FILE=$KT_WORK/ha-role-a TBHELPER_CONNTRACKD_CONF=$KT_WORK/conntrackd-noexp.conf \
    in_node a "$TBCTL" check --json --config "$KT_WORK/tbhelper-a.conf" --socket "$KT_WORK/tbhelperd-a.sock" \
    > "$KT_WORK/ctl-check-noexp.json" 2>&1
assert_grep "check names a conntrackd that does not sync timbuktu's expectations" '"ha-expectations-not-synced"' "$KT_WORK/ctl-check-noexp.json"

kt_step "summary"
kt_note "HA figures: sync_delay_s=${HA_SYNC_DELAY:-?} failover_gap_s=${HA_GAP:-?} second_offer_after_failback_s=${HA_SECOND:-?}"
for n in a b; do assert_alive "tbhelperd in $(node_ns $n) still running" "${HA_DAEMON_PID[$n]}"; done
kt_finish
