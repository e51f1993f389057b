#!/bin/bash
# 63: tbhelperctl check. On a correct setup (daemon, rules, a default-drop
# filter that passes TCP and UDP contact and related streams) it prints "no
# problems found" and exits 0. Each misconfiguration is then reported with
# exit 1 and its code in --json:
#   - the filter accepts UDP 407 but drops TCP 407 (A3, docs/protocol-model.md#a3): tcp-contact-dropped
#   - the filter drops related streams: related-dropped
#   - rules loaded for other ports than the configuration's: rules-mismatch
#   - rules not loaded: rules-missing
#   - daemon down: daemon-down, and its parked (disabled) helper: helper-disabled
#   - loose rp_filter and rules without the anti-spoofing chain
#     (--no-antispoof): rp-filter-loose; with the chain: not reported
. "$(dirname "$0")/lib.sh"
kt_begin "tbhelperctl check: silent when correct, each misconfiguration reported"
kt_need tbhelperd tbhelperctl
kt_topo routed
kt_daemon_start
kt_rules_apply
CTL=("$TBCTL" --config "$KT_CONF")

# check_run NAME: tbhelperctl check --json; codes found in CODES, status in RC.
check_run() {
    in_fw "${CTL[@]}" check --json >"$KT_WORK/$1.json" 2>"$KT_WORK/$1.err"; RC=$?
    kt_indent < "$KT_WORK/$1.json"
    CODES=$(jq -r '[.[].code] | join(" ")' "$KT_WORK/$1.json" 2>&1)
}
has_code() { [[ " $CODES " == *" $1 "* ]]; }
assert_code() { # WHAT CODE
    if has_code "$2"; then kt_pass "$1 (code $2)"; else kt_fail "$1: code $2 not in '$CODES'"; fi
}

kt_step "correct setup"
in_fw "${CTL[@]}" check >"$KT_WORK/ok.txt" 2>&1; rc=$?
kt_indent < "$KT_WORK/ok.txt"
assert_eq "check exit status on a correct setup" 0 "$rc"
assert_eq "check prints exactly one line" "no problems found" "$(cat "$KT_WORK/ok.txt")"
check_run ok
assert_eq "check --json on a correct setup" "[]" "$(jq -c . "$KT_WORK/ok.json")"

kt_step "A3: the filter passes UDP 407 but drops TCP 407 (tcp-contact-dropped)"
fw_unload_baseline
in_fw nft -f - <<'NFT' || kt_die "cannot load the A3 filter"
table inet a3 {
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        udp dport { 407, 1419 } ct state new accept
    }
}
NFT
in_fw "${CTL[@]}" check >"$KT_WORK/a3.txt" 2>&1; rc=$?
kt_indent < "$KT_WORK/a3.txt"
assert_eq "check exit status (A3)" 1 "$rc"
assert_grep "A3 finding, what and fix" '^error: the forward filter \(chain inet a3 forward\) accepts UDP \{ 407, 1419 \} but drops TCP 407 .*hang.*; fix: .*nft insert rule inet a3 forward ct state new tcp dport 407 accept' "$KT_WORK/a3.txt"
check_run a3
assert_eq "check --json exit status (A3)" 1 "$RC"
assert_code "A3 in --json" tcp-contact-dropped
assert_eq "--json elements have severity, code, message, fix" true \
    "$(jq 'all(.[]; has("severity") and has("code") and has("message") and has("fix"))' "$KT_WORK/a3.json")"
in_fw nft delete table inet a3

kt_step "the filter drops related streams"
in_fw nft -f - <<'NFT' || kt_die "cannot load the no-related filter"
table inet norel {
    chain forward {
        type filter hook forward priority filter; policy drop;
        tcp dport 407 accept
        udp dport { 407, 1419 } accept
    }
}
NFT
check_run norel
assert_eq "check exit status (related dropped)" 1 "$RC"
assert_code "related streams dropped" related-dropped
in_fw nft delete table inet norel
fw_load_baseline || kt_die "baseline did not load again"

kt_step "rules for other ports than the configuration's"
printf 'tcp_contact_ports = [1843]\nudp_contact_ports = [407, 1419]\n' >"$KT_WORK/other.conf"
in_fw "$TBCTL" --config "$KT_WORK/other.conf" rules --apply >/dev/null 2>&1 || kt_die "rules --apply (other ports) failed"
in_fw "${CTL[@]}" check >"$KT_WORK/ports.txt" 2>&1; rc=$?
kt_indent < "$KT_WORK/ports.txt"
assert_eq "check exit status (wrong ports)" 1 "$rc"
assert_grep "mismatch names the ports" 'table inet tbhelper does not match .*hook prerouting lacks TCP 407.*hook prerouting has TCP 1843' "$KT_WORK/ports.txt"
assert_grep "mismatch fix" "fix: reload the rules from the configuration: tbhelperctl rules --apply --config $KT_CONF" "$KT_WORK/ports.txt"

kt_step "rules not loaded"
in_fw "$TBCTL" rules --remove >/dev/null 2>&1
check_run norules
assert_eq "check exit status (no rules)" 1 "$RC"
assert_code "rules missing" rules-missing
in_fw "${CTL[@]}" rules --apply >/dev/null 2>&1 || kt_die "rules --apply failed"
check_run again
assert_eq "correct again: exit 0" 0 "$RC"

kt_step "loose reverse-path filtering without the anti-spoofing chain"
in_fw sysctl -qw net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.default.rp_filter=2 net.ipv4.conf.gw0.rp_filter=2 >/dev/null
in_fw "${CTL[@]}" rules --apply --no-antispoof >/dev/null 2>&1 || kt_die "rules --apply --no-antispoof failed"
check_run rpf
assert_eq "check exit status (rp_filter loose, no fib rule)" 1 "$RC"
assert_code "loose reverse path reported" rp-filter-loose
assert_eq "rp-filter-loose is a warning naming gw0 loose and IPv6" true \
    "$(jq 'any(.[]; .code == "rp-filter-loose" and .severity == "warning" and (.message | contains("gw0 loose")) and (.message | contains("IPv6")))' "$KT_WORK/rpf.json")"
in_fw "${CTL[@]}" rules --apply >/dev/null 2>&1 || kt_die "rules --apply failed"
check_run rpf2
assert_eq "with the antispoof chain: exit 0 again" 0 "$RC"

kt_step "a rule that queues to the daemon's segment queue (queue-number-taken, docs/daemon.md#gso)"
in_fw nft -f - <<'NFT' || kt_die "cannot load the queueing rule"
table inet ids {
    chain forward {
        type filter hook forward priority 10; policy accept;
        tcp dport 9999 queue num 408 bypass
    }
}
NFT
check_run qnum
in_fw nft delete table inet ids
assert_eq "check exit status (a rule queues to 408)" 1 "$RC"
assert_code "the rule is reported" queue-number-taken
assert_eq "the finding names the table, the chain, the number and segment_queue" true \
    "$(jq 'any(.[]; .code == "queue-number-taken" and (.message | contains("table inet ids chain forward queues packets to queue 408")) and (.message | contains("segment_queue")))' "$KT_WORK/qnum.json")"
check_run qnum2
assert_eq "without the rule: exit 0 again" 0 "$RC"

kt_step "daemon down"
kt_daemon_stop TERM
check_run down
assert_eq "check exit status (daemon down)" 1 "$RC"
assert_code "daemon down" daemon-down
# A clean stop parks the helper (docs/daemon.md): registered but disabled.
assert_code "parked helper reported" helper-disabled
assert_eq "daemon-down message names the socket" true \
    "$(jq --arg s "$KT_SOCK" 'any(.[]; .code == "daemon-down" and (.message | contains($s)))' "$KT_WORK/down.json")"
kt_finish
