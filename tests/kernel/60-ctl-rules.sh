#!/bin/bash
# 60: tbhelperctl rules. Before the helper is registered, --apply refuses with
# the documented line (exit 3) and loads nothing. With tbhelperd running:
# --apply loads table inet tbhelper (ct helper objects of type "timbuktu" for
# TCP and UDP, prerouting and output chains assigning them on the configured
# contact ports); a second --apply replaces it (one copy, no duplicate
# rules); --apply with other ports replaces the ports; --remove deletes it and
# a second --remove says there is nothing to remove (exit 0). The printed
# ruleset loads with nft -f as is, and --iptables output passes
# iptables-restore --test. The anti-spoofing chain (fib, priority raw) loads
# and drops a datagram to UDP 407 whose source the firewall routes elsewhere
# (a guest using the host's subnet), while real contact traffic passes;
# --no-antispoof leaves the chain out.
. "$(dirname "$0")/lib.sh"
kt_begin "tbhelperctl rules: apply, replace, remove"
kt_need tbhelperd tbhelperctl
kt_topo routed
kt_config
CTL=("$TBCTL" --config "$KT_CONF")

# ---- before the helper exists ---------------------------------------------------
kt_step "rules --apply before tbhelperd registered the helper"
if kt_helper_registered; then
    kt_note "helper timbuktu is registered already (not a fresh kernel): the refusal is not tested"
else
    in_fw "${CTL[@]}" rules --apply >"$KT_WORK/apply0.out" 2>&1; rc=$?
    kt_indent < "$KT_WORK/apply0.out"
    assert_eq "exit status without a registered helper" 3 "$rc"
    assert_grep "says the helper is not registered" \
        '^tbhelperctl: helper timbuktu is not registered: start tbhelperd first' "$KT_WORK/apply0.out"
    assert_not_ok "nothing loaded" in_fw nft list table inet tbhelper
fi

kt_daemon_start

# ---- apply -------------------------------------------------------------------------
kt_step "rules --apply"
in_fw "${CTL[@]}" rules --apply >"$KT_WORK/apply1.out" 2>&1; rc=$?
kt_indent < "$KT_WORK/apply1.out"
assert_eq "rules --apply exit status" 0 "$rc"
assert_grep "says what it loaded" '^table inet tbhelper loaded from .*: helper timbuktu on TCP 407; UDP 407,1419' "$KT_WORK/apply1.out"
in_fw nft list table inet tbhelper >"$KT_WORK/table1.nft" 2>&1
kt_indent < "$KT_WORK/table1.nft"
assert_grep "ct helper object timbuktu-tcp" '^\s+ct helper timbuktu-tcp \{' "$KT_WORK/table1.nft"
assert_grep "ct helper object timbuktu-udp" '^\s+ct helper timbuktu-udp \{' "$KT_WORK/table1.nft"
assert_grep "helper type timbuktu, tcp" 'type "timbuktu" protocol tcp' "$KT_WORK/table1.nft"
assert_grep "helper type timbuktu, udp" 'type "timbuktu" protocol udp' "$KT_WORK/table1.nft"
assert_grep "prerouting chain" 'type filter hook prerouting priority filter; policy accept;' "$KT_WORK/table1.nft"
assert_grep "output chain" 'type filter hook output priority filter; policy accept;' "$KT_WORK/table1.nft"
assert_eq "TCP 407 assigned in prerouting and output" 2 \
    "$(grep -cE 'ct state new tcp dport 407 ct helper set "timbuktu-tcp"' "$KT_WORK/table1.nft")"
assert_eq "UDP 407, 1419 assigned in prerouting and output" 2 \
    "$(grep -cE 'ct state new udp dport \{ 407, 1419 \} ct helper set "timbuktu-udp"' "$KT_WORK/table1.nft")"

assert_grep "antispoof chain before conntrack" 'chain antispoof \{' "$KT_WORK/table1.nft"
assert_grep "antispoof chain at priority raw" 'type filter hook prerouting priority raw; policy accept;' "$KT_WORK/table1.nft"
assert_eq "4 fib anti-spoofing rules (TCP and UDP, dport and sport)" 4 \
    "$(grep -cE '(tcp|udp) (d|s)port .* fib saddr \. mark \. iif oif missing drop' "$KT_WORK/table1.nft")"

kt_step "the antispoof chain drops a spoofed source and passes real contact traffic"
# The guest takes an address of the host's subnet (203.0.113.77): the firewall
# routes that subnet out of hw0, so the datagram arriving on gw0 is spoofed.
in_guest ip addr add 203.0.113.77/32 dev eth0 || kt_die "cannot add the spoofed address"
in_fw conntrack -F >/dev/null 2>&1
echo spoofed | in_guest socat -u - UDP4-SENDTO:203.0.113.2:407,bind=203.0.113.77:40077
echo real | in_guest socat -u - UDP4-SENDTO:203.0.113.2:407,bind=198.51.100.2:40078
sleep 0.3
in_fw conntrack -L -p udp 2>/dev/null >"$KT_WORK/ct-spoof.txt"
kt_indent < "$KT_WORK/ct-spoof.txt"
assert_no_grep "spoofed source never reached conntrack" 'src=203\.0\.113\.77' "$KT_WORK/ct-spoof.txt"
assert_grep "the real guest's datagram passed to conntrack" 'src=198\.51\.100\.2 .*sport=40078' "$KT_WORK/ct-spoof.txt"
in_guest ip addr del 203.0.113.77/32 dev eth0

kt_step "rules --apply --no-antispoof leaves the chain out"
in_fw "${CTL[@]}" rules --apply --no-antispoof >"$KT_WORK/apply-noas.out" 2>&1; rc=$?
kt_indent < "$KT_WORK/apply-noas.out"
assert_eq "--no-antispoof exit status" 0 "$rc"
assert_grep "--no-antispoof says so" 'no anti-spoofing chain \(--no-antispoof\)' "$KT_WORK/apply-noas.out"
in_fw nft list table inet tbhelper >"$KT_WORK/table-noas.nft" 2>&1
assert_no_grep "no antispoof chain" 'antispoof|fib ' "$KT_WORK/table-noas.nft"
assert_eq "helper assignments unchanged" 4 "$(grep -c 'ct helper set' "$KT_WORK/table-noas.nft")"
in_fw "${CTL[@]}" rules --apply >/dev/null 2>&1 || kt_fail "rules --apply after --no-antispoof failed"

# ---- apply again: replaces ----------------------------------------------------------------
kt_step "rules --apply a second time replaces the table"
in_fw "${CTL[@]}" rules --apply >"$KT_WORK/apply2.out" 2>&1; rc=$?
assert_eq "second --apply exit status" 0 "$rc"
in_fw nft list table inet tbhelper >"$KT_WORK/table2.nft" 2>&1
assert_eq "still one table inet tbhelper" 1 "$(in_fw nft list tables | grep -c '^table inet tbhelper$')"
assert_eq "still 4 helper assignments (no duplicates)" 4 "$(grep -c 'ct helper set' "$KT_WORK/table2.nft")"
assert_eq "same table text" "$(cat "$KT_WORK/table1.nft")" "$(cat "$KT_WORK/table2.nft")"

kt_step "rules --apply with other contact ports replaces the ports"
cat >"$KT_WORK/other.conf" <<EOF
tcp_contact_ports = [1843, 407]
udp_contact_ports = [407]
EOF
in_fw "$TBCTL" --config "$KT_WORK/other.conf" rules --apply >"$KT_WORK/apply3.out" 2>&1; rc=$?
kt_indent < "$KT_WORK/apply3.out"
assert_eq "--apply other ports exit status" 0 "$rc"
in_fw nft list table inet tbhelper >"$KT_WORK/table3.nft" 2>&1
kt_indent < "$KT_WORK/table3.nft"
assert_eq "TCP 1843 and 407 assigned twice" 2 \
    "$(grep -cE 'tcp dport \{ (1843, 407|407, 1843) \} ct helper set "timbuktu-tcp"' "$KT_WORK/table3.nft")"
assert_eq "UDP 407 only" 2 "$(grep -cE 'udp dport 407 ct helper set "timbuktu-udp"' "$KT_WORK/table3.nft")"
assert_no_grep "UDP 1419 gone" '1419' "$KT_WORK/table3.nft"

# ---- the printed forms ------------------------------------------------------------------
kt_step "printed ruleset loads with nft -f; --iptables passes iptables-restore --test"
in_fw "${CTL[@]}" rules >"$KT_WORK/printed.nft" 2>&1
assert_ok "nft -c -f of the printed ruleset" in_fw nft -c -f "$KT_WORK/printed.nft"
in_fw "${CTL[@]}" rules --iptables >"$KT_WORK/ipt.rules" 2>&1
assert_grep "iptables form has CT --helper timbuktu" '^-A PREROUTING -p tcp --dport 407 -j CT --helper timbuktu$' "$KT_WORK/ipt.rules"
assert_grep "iptables form has the rpfilter anti-spoofing rule" '^-A PREROUTING -p udp --sport 407 -m rpfilter --validmark --invert -j DROP$' "$KT_WORK/ipt.rules"
if command -v iptables-restore >/dev/null; then
    assert_ok "iptables-restore --test" in_fw iptables-restore --test "$KT_WORK/ipt.rules"
    assert_ok "ip6tables-restore --test" in_fw ip6tables-restore --test "$KT_WORK/ipt.rules"
else
    kt_note "iptables-restore not installed: --iptables output not loaded"
fi

# ---- remove -------------------------------------------------------------------------------
kt_step "rules --remove, twice"
in_fw "${CTL[@]}" rules --remove >"$KT_WORK/rm1.out" 2>&1; rc=$?
assert_eq "--remove exit status" 0 "$rc"
assert_grep "--remove says so" '^table inet tbhelper removed$' "$KT_WORK/rm1.out"
assert_not_ok "table gone" in_fw nft list table inet tbhelper
assert_ok "the administrator's table (inet tbtest) untouched" in_fw nft list table inet tbtest
in_fw "${CTL[@]}" rules --remove >"$KT_WORK/rm2.out" 2>&1; rc=$?
assert_eq "second --remove exit status (absent is not an error)" 0 "$rc"
assert_grep "second --remove says nothing to remove" '^table inet tbhelper is not loaded; nothing to remove$' "$KT_WORK/rm2.out"
kt_finish
