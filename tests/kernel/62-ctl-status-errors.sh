#!/bin/bash
# 62: tbhelperctl status and the error paths scripts rely on.
#   - status --json: version, queue, helpers [{name, l3, l4}], uptime, counters
#     {packets ... rewrites}; the text form; counters move after a session;
#   - daemon down: status exits 3 with "cannot reach tbhelperd at PATH:
#     <strerror> (is tbhelperd running? systemctl status tbhelperd)";
#   - usage errors exit 2 and say what was expected;
#   - a bad configuration file exits 2 and names file:line:key;
#   - without CAP_NET_ADMIN: "permission denied talking to the kernel (run as
#     root or with CAP_NET_ADMIN)", exit 3.
. "$(dirname "$0")/lib.sh"
kt_begin "tbhelperctl status and error paths"
kt_need tbhelperd tbhelperctl tbsim
kt_topo routed
kt_daemon_start
kt_rules_apply
kt_host main --dynamic-base 40000

# run NAME COMMAND...: output (stdout+stderr) in $KT_WORK/NAME.out, status in RC.
run() { local n=$1; shift; "$@" >"$KT_WORK/$n.out" 2>&1; RC=$?; kt_indent < "$KT_WORK/$n.out"; }

kt_step "status --json"
run status0 in_fw "$TBCTL" status --json
assert_eq "status --json exit status" 0 "$RC"
S=$KT_WORK/status0.out
# One jq for all mandatory keys (every process start is slow under TCG).
missing=$(jq -r '[(["version","queue","helpers","uptime","counters"][] as $k | select(has($k) | not) | $k),
    (["packets","sessions","not_timbuktu","offers","expectations_created","expectations_refused","malformed",
      "forged","rewrites"][] as $k | select(.counters | has($k) | not) | "counters.\($k)")] | join(" ")' "$S")
assert_eq "mandatory keys of status --json (missing ones listed)" "" "$missing"
assert_eq "version" "$(cat "$KT_REPO/VERSION")" "$(jq -r .version "$S")"
assert_eq "queue" 407 "$(jq -r .queue "$S")"
assert_eq "segment_queue (gso on by default, docs/daemon.md#gso)" 408 "$(jq -r .segment_queue "$S")"
assert_eq "helpers: timbuktu registered for tcp" true \
    "$(jq '[.helpers[] | select(.name == "timbuktu" and .l4 == "tcp")] | length > 0' "$S")"
assert_eq "helpers: timbuktu registered for udp" true \
    "$(jq '[.helpers[] | select(.name == "timbuktu" and .l4 == "udp")] | length > 0' "$S")"
assert_eq "uptime is a number" number "$(jq -r '.uptime | type' "$S")"
sessions0=$(jq -r .counters.sessions "$S")

kt_guest chat --host "$TB_TARGET_ADDR" --service chat --timeout 20 --stream-timeout 5
assert_guest_ok "chat session"
run status1 in_fw "$TBCTL" status --json
assert_eq "counters.sessions went up by one" $((sessions0 + 1)) "$(jq -r .counters.sessions "$KT_WORK/status1.out")"

run status-text in_fw "$TBCTL" status
assert_eq "status exit status" 0 "$RC"
assert_grep "text: version line" '^tbhelperd [0-9.]+, pid [0-9]+, up ' "$KT_WORK/status-text.out"
assert_grep "text: queue" '^queue +407, segments on 408$' "$KT_WORK/status-text.out"
assert_grep "text: helpers" '^helpers +timbuktu ipv[46]/(tcp|udp)' "$KT_WORK/status-text.out"
assert_grep "text: counters" '^  expectations_created +[0-9]+$' "$KT_WORK/status-text.out"

kt_step "usage errors exit 2"
run u1 "$TBCTL" bogus
assert_eq "unknown command: exit 2" 2 "$RC"
assert_grep "unknown command named" "unknown command 'bogus'; expected one of: rules, expectations, status, watch, check, analyze" "$KT_WORK/u1.out"
run u2 "$TBCTL" status --frobnicate
assert_eq "unknown option: exit 2" 2 "$RC"
assert_grep "unknown option named" 'frobnicate' "$KT_WORK/u2.out"
run u3 "$TBCTL"
assert_eq "no command: exit 2" 2 "$RC"
run u4 "$TBCTL" rules --apply --remove
assert_eq "--apply --remove: exit 2" 2 "$RC"
assert_grep "--apply --remove explained" 'exclude each other' "$KT_WORK/u4.out"
run u5 "$TBCTL" analyze
assert_eq "analyze without a file: exit 2" 2 "$RC"
assert_grep "analyze says what is missing" 'FILE.pcap is required' "$KT_WORK/u5.out"
run help "$TBCTL" --help
assert_eq "--help: exit 0" 0 "$RC"
for c in rules expectations status watch check analyze; do
    assert_grep "--help lists $c" "^  $c " "$KT_WORK/help.out"
done

kt_step "a bad configuration file names file, line and key"
printf 'queue = 407\ntcp_contact_ports = [407]\nudp_contact_ports = "1419"\n' >"$KT_WORK/bad.conf"
run bad1 in_fw "$TBCTL" --config "$KT_WORK/bad.conf" rules
assert_eq "bad config: exit 2" 2 "$RC"
assert_grep "bad config: file:line: key" "^tbhelperctl: $KT_WORK/bad.conf:3: key 'udp_contact_ports': " "$KT_WORK/bad1.out"
printf 'tcp_contact_ports = [407]\nmystery = 1\n' >"$KT_WORK/bad2.conf"
run bad2 in_fw "$TBCTL" --config "$KT_WORK/bad2.conf" check
assert_eq "unknown key: exit 2" 2 "$RC"
assert_grep "unknown key named" "bad2.conf:2: key 'mystery': unknown key" "$KT_WORK/bad2.out"
run bad3 in_fw "$TBCTL" --config "$KT_WORK/absent.conf" rules
assert_eq "missing --config file: exit 2" 2 "$RC"
assert_grep "missing file named" "absent.conf" "$KT_WORK/bad3.out"

kt_step "without CAP_NET_ADMIN"
if command -v setpriv >/dev/null; then
    run noperm in_fw setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$TBCTL" expectations
    assert_eq "expectations as nobody: exit 3" 3 "$RC"
    assert_grep "permission message" '^tbhelperctl: permission denied talking to the kernel \(run as root or with CAP_NET_ADMIN\)$' "$KT_WORK/noperm.out"
    run noperm2 in_fw setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$TBCTL" --config /dev/null check
    assert_eq "check as nobody: exit 3" 3 "$RC"
    assert_grep "check: permission message" 'permission denied talking to the kernel' "$KT_WORK/noperm2.out"
else
    kt_note "setpriv missing: permission path not tested"
fi

kt_step "daemon down"
kt_daemon_stop TERM
run down in_fw "$TBCTL" status
assert_eq "status with the daemon down: exit 3" 3 "$RC"
assert_grep "daemon-down message" "^tbhelperctl: cannot reach tbhelperd at $KT_SOCK: .+ \\(is tbhelperd running\\? systemctl status tbhelperd\\)$" "$KT_WORK/down.out"
run down2 in_fw "$TBCTL" --socket "$KT_WORK/nowhere.sock" status --json
assert_eq "--socket to nowhere: exit 3" 3 "$RC"
assert_grep "--socket path and strerror" "cannot reach tbhelperd at $KT_WORK/nowhere.sock: No such file or directory" "$KT_WORK/down2.out"
TBHELPER_SOCKET=$KT_WORK/env.sock run down3 in_fw "$TBCTL" status
assert_grep "TBHELPER_SOCKET is used" "cannot reach tbhelperd at $KT_WORK/env.sock:" "$KT_WORK/down3.out"
kt_finish
