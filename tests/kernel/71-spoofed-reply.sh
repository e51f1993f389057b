#!/bin/bash
# 71: a spoofed host reply injected at layer 2 from the guest's segment
# (issue 8; B10, docs/protocol-model.md#b10). The guest sends a legacy UDP HELLO to the inside host V;
# then, from the guest namespace, an AF_PACKET socket on its veth sends a whole
# Ethernet frame to the firewall's MAC with V's address as IP source, carrying
# a HELLO-ACK and a PORT-OFFER: it matches the reply direction of the guest's
# UDP contact flow. Loose reverse-path filtering (rp_filter=2, Debian's
# default) lets it in, and the helper rules are written by hand here, not by
# `tbhelperctl rules` (so no `fib` anti-spoofing rule saves the day): the
# daemon's own interface check must refuse it. IPv4 (TCP 5603) and IPv6
# (TCP 5604); an echo server listens behind each offered port. Assert: no
# expectation, the port stays closed, counter `spoofed` grows.
. "$(dirname "$0")/lib.sh"
kt_begin "spoofed host replies from the guest's segment open no port (IPv4, IPv6)"
kt_need tbhelperd tbsim
kt_topo routed
in_fw sysctl -qw net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.default.rp_filter=2 \
    "net.ipv4.conf.$TB_FW_GUEST_IF.rp_filter=2" "net.ipv4.conf.$TB_FW_HOST_IF.rp_filter=2" \
    || kt_die "cannot set loose rp_filter in the firewall"
kt_say "firewall: rp_filter=$(in_fw sysctl -n net.ipv4.conf.all.rp_filter) (loose)"
kt_daemon_start
TBTEST_RULES=nft kt_rules_apply
assert_no_grep "the hand-written helper rules have no fib anti-spoofing rule" "fib" "$KT_WORK/tbhelper-table.nft"

kt_step "the victim host V: silent on UDP 407 (no ICMP error), echo servers on TCP 5603 (IPv4) and 5604 (IPv6)"
kt_attack_host sink407 sink --listen :: --udp-port 407
sink_pid=$KT_LAST_PID
kt_bg echo5603 ip netns exec "$TB_NS_HOST" socat TCP4-LISTEN:5603,reuseaddr,fork EXEC:cat
kt_bg echo5604 ip netns exec "$TB_NS_HOST" socat TCP6-LISTEN:5604,reuseaddr,fork EXEC:cat
kt_wait_for 5 _kt_listening tcp 5603 || kt_die "socat echo on 5603 did not start"
kt_wait_for 5 _kt_listening tcp 5604 || kt_die "socat echo on 5604 did not start"
fw_mac=$(kt_fw_mac)
kt_say "firewall's MAC on $TB_FW_GUEST_IF: $fw_mac"

for fam in 4 6; do
    if [ "$fam" = 4 ]; then victim=$TB_TARGET_ADDR port=5603; else victim=$TB_TARGET_ADDR6 port=5604; fi
    kt_step "IPv$fam: HELLO to $victim, then a spoofed HELLO-ACK + PORT-OFFER tcp/$port from $victim"
    kt_status > "$KT_WORK/before.json"
    go=$KT_WORK/go-$fam
    kt_say "attacker: tbattack spoof --host $victim --offer-port $port"
    ip netns exec "$TB_NS_GUEST" python3 "$KT_ATTACK" spoof --host "$victim" --iface eth0 --fw-mac "$fw_mac" \
        --offer-port "$port" --go-file "$go" >"$KT_WORK/attack-spoof$fam.json" 2>"$KT_WORK/attack-spoof$fam.log" &
    apid=$!
    # The spoofed reply must come after the daemon knows the HELLO's session.
    if kt_wait_counter sessions $(( $(kt_counter_from "$KT_WORK/before.json" sessions) + 1 )) 20; then
        kt_pass "IPv$fam: the daemon took the guest's HELLO (sessions grew)"
    else
        kt_fail "IPv$fam: counter sessions did not grow within 20 s of the HELLO"
    fi
    touch "$go"
    kt_wait_for 40 _kt_gone "$apid" || kill "$apid" 2>/dev/null
    wait "$apid"; KT_RC=$?
    kt_indent < "$KT_WORK/attack-spoof$fam.log"
    kt_say "tbattack spoof exited with status $KT_RC: $(cat "$KT_WORK/attack-spoof$fam.json")"
    assert_eq "IPv$fam: the firewall took the spoofed reply as the flow's reply direction (forwarded it to the guest)" \
        True "$(kt_attack_field "spoof$fam" spoof_forwarded_to_guest)"
    assert_eq "IPv$fam: the spoofed offer's port $port on $victim stayed closed" False \
        "$(kt_attack_field "spoof$fam" offered_port_open)"
    kt_expect_list > "$KT_WORK/expect-$fam.txt"
    assert_no_grep "IPv$fam: no pending expectation for port $port" "dport=$port " "$KT_WORK/expect-$fam.txt"
    assert_no_grep "IPv$fam: no expectation event for port $port" "NEW.* dport=$port " "$KT_EXPECT_EVENTS"
    kt_wait_counter spoofed $(( $(kt_counter_from "$KT_WORK/before.json" spoofed) + 1 )) 5
    assert_ge "IPv$fam: counter spoofed grew" 1 "$(kt_delta spoofed)"
done
kt_attack_stop "$sink_pid"
kt_wait_for 5 bash -c "! ip netns exec $TB_NS_HOST ss -lunH 'sport = :407' | grep -q ."

kt_good_session good --dynamic-base 46600
kt_finish
