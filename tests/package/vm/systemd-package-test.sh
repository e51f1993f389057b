#!/bin/bash
# The package test proper, run INSIDE the kernel test bed booted with systemd
# (tests/vm/run-systemd.sh): on Debian 12's kernel and the machine's own root
# (tests/package/20-systemd-vm.sh), and on Debian 13's kernel and a Debian 13
# root (tests/package/30-systemd-vm-deb13.sh). Not run directly by
# tests/check.sh (no NN- prefix).
#
#   TBTEST_PKG_DEB=/path/to/tbhelper_<version>_<arch>.deb  (required)
#   TBTEST_BUILD=DIR   where tbsim is (default <repo>/build)
#
# Topology: tests/package/vm/lib.sh (guest and host namespaces routed
# through the initial namespace, which is the firewall).
#
# The firewall's filter is a default-drop forward chain (table inet tbtest,
# tests/vm/netns.sh's fw_load_baseline): established,related and the contact
# ports only. The helper rules are the package's: `tbhelperctl rules --apply`.
#
# Steps: dpkg -i; the service runs, the firewall is unchanged and the dynamic
# streams are blocked; systemctl enable --now; the metrics timer is not
# enabled, and once started writes /var/lib/prometheus/node-exporter/
# tbhelper.prom (parsed with prometheus_client where the root has it); rules --apply; a legacy (UDP
# 407 -> TCP 1417 control) and a TCP (TCP 407 -> UDP intercom) session pass;
# systemctl reload between the two offer rounds of one TCP session; systemctl
# stop: contact traffic still passes; start again; dpkg -r (= apt-get remove): rules,
# service and helper registration gone, conffile kept; dpkg -P: nothing left.
# Also: the rules as an include of /usr/share/tbhelper/tbhelper.nft in
# /etc/nftables.conf loaded by nftables.service, and `tbhelperd --unregister`
# refusing while rules still reference the helper.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
build=${TBTEST_BUILD:-$repo/build}
tbsim=$build/tbsim
deb=${TBTEST_PKG_DEB:-}
# nfct unpacked by tests/package/nfct-tool.sh when the root has none (Debian's
# package would bring conntrackd's service along).
if ! command -v nfct >/dev/null 2>&1 && [ -x "${TBTEST_NFCT_DIR:-}/nfct" ]; then
    export PATH=$TBTEST_NFCT_DIR:$PATH
fi
work=$(mktemp -d /tmp/tbpkg.XXXXXX)
# shellcheck source=tests/package/vm/lib.sh
. "$repo/tests/package/vm/lib.sh"
in_fw() { "$@"; }
export TB_HOST_ADDR=$TB_H4

diagnostics() {
    step "diagnostics"
    echo "-- systemctl status tbhelperd"; systemctl status --no-pager tbhelperd 2>&1 | ind
    echo "-- journalctl -u tbhelperd"; journalctl -u tbhelperd --no-pager -o short-monotonic 2>&1 | tail -n 60 | ind
    echo "-- nft list ruleset"; nft list ruleset 2>&1 | ind
    echo "-- nfct list helper"; nfct list helper 2>&1 | ind
    echo "-- conntrack -L expect"; conntrack -L expect 2>&1 | ind
    echo "-- conntrack -L"; conntrack -L 2>&1 | head -n 30 | ind
    for f in "$work"/*.log; do [ -f "$f" ] && { echo "-- $(basename "$f")"; tail -n 40 "$f" | ind; }; done
}

echo "################ package test under systemd: $(basename "${deb:-?}")"
echo "$(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r), PID 1 $(ps -p 1 -o comm=), systemd $(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')"
[ "$(ps -p 1 -o comm=)" = systemd ] || { echo "FAIL: PID 1 is not systemd (run me with tests/vm/run-systemd.sh)"; exit 1; }
[ -n "$deb" ] && [ -f "$deb" ] || { echo "FAIL: TBTEST_PKG_DEB='$deb' is not a file"; exit 1; }
[ -x "$tbsim" ] || { echo "FAIL: $tbsim missing (make)"; exit 1; }
state=$(systemctl is-system-running 2>&1); echo "system state: $state"
systemctl --failed --no-legend 2>&1 | ind

# ---- topology ----------------------------------------------------------------------
step "topology: guest and host namespaces routed through the initial namespace (firewall)"
check "guest 198.51.100.2 - firewall (initial namespace) - host 203.0.113.2" setup_topology
nft list ruleset > "$work/ruleset-empty.nft" 2>&1
check "baseline default-drop forward filter (table inet tbtest)" fw_load_baseline
nft list ruleset > "$work/ruleset-before.nft" 2>&1

# tbsim host: contact TCP 407 and UDP 407, TCP 1417-1420 (legacy streams),
# dynamic ports from 40000, a second offer round 8 s into each framed TCP
# contact (for the reload in the middle of a session).
ip netns exec "$TB_NS_HOST" "$tbsim" host --listen "$TB_H4" --legacy-ports --dynamic-base 40000 \
    --second-offer-after 8 --timeout 600 > "$work/tbsim-host.log" 2>&1 &
pids+=($!)
listening() { in_host ss "-l${1:0:1}nH" "sport = :$2" | grep -q .; }
wait_for 10 listening tcp 407 && wait_for 5 listening udp 407 \
    && pass "tbsim host listens on TCP 407, UDP 407" || fail "tbsim host does not listen"

# guest NAME EXPECTED-RC ARGS...: one tbsim guest session, output in NAME.log
guest() {
    local name=$1 want=$2 rc; shift 2
    timeout -k 5 90 ip netns exec "$TB_NS_GUEST" "$tbsim" guest --host "$TB_H4" --timeout 40 --stream-timeout 5 "$@" \
        > "$work/guest-$name.log" 2>&1
    rc=$?
    ind < "$work/guest-$name.log"
    if [ "$rc" = "$want" ]; then pass "guest $name: exit $rc ($*)"; else fail "guest $name: exit $rc, expected $want ($*)"; fi
}

# ---- install ---------------------------------------------------------------------------
# Speed only (dpkg over 9p under TCG is slow): no man-db index rebuild in the
# trigger. The maintainer scripts run exactly as on a real machine.
rm -f /var/lib/man-db/auto-update
step "dpkg -i $(basename "$deb")"
dpkg -i "$deb" > "$work/dpkg-i.log" 2>&1; rc=$?
ind < "$work/dpkg-i.log"
[ "$rc" = 0 ] && pass "dpkg -i" || fail "dpkg -i exit $rc"
check "dpkg: tbhelper installed" sh -c 'dpkg-query -W -f="\${Status}" tbhelper | grep -qx "install ok installed"'
check "the package started tbhelperd.service" systemctl is-active --quiet tbhelperd
check "the package enabled tbhelperd.service" systemctl is-enabled --quiet tbhelperd
nft list ruleset > "$work/ruleset-after-install.nft" 2>&1
check "installing did not change the firewall (nft list ruleset identical)" \
    cmp "$work/ruleset-before.nft" "$work/ruleset-after-install.nft"
for m in nfnetlink_cthelper nfnetlink_queue nf_conntrack_netlink nft_ct; do
    check "module $m loaded" test -d "/sys/module/$m"
done
check "helper timbuktu registered (nfct list helper)" wait_for 5 sh -c 'nfct list helper | grep -q timbuktu'
nfct list helper 2>&1 | ind

step "the firewall alone: the offered streams are blocked"
guest blocked 0 --legacy-udp --service control --expect-blocked

step "systemctl enable --now tbhelperd (docs/install.md)"
check "systemctl enable --now tbhelperd" systemctl enable --now tbhelperd
mainpid=$(systemctl show -p MainPID --value tbhelperd)
echo "MainPID $mainpid"
check "tbhelperd runs (pid $mainpid)" kill -0 "$mainpid"
capeff=$(sed -n 's/^CapEff:\t//p' "/proc/$mainpid/status" 2>/dev/null)
capbnd=$(sed -n 's/^CapBnd:\t//p' "/proc/$mainpid/status" 2>/dev/null)
[ "$capeff" = 0000000000001000 ] && [ "$capbnd" = 0000000000001000 ] \
    && pass "daemon capabilities: CAP_NET_ADMIN only (CapEff $capeff, CapBnd $capbnd)" \
    || fail "daemon capabilities: CapEff $capeff CapBnd $capbnd (want 0000000000001000)"
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$mainpid/status")
user=$(ps -o user= -p "$mainpid")
[ -n "$uid" ] && [ "$uid" != 0 ] && pass "daemon runs as the dynamic user $user (uid $uid), not root" \
    || fail "daemon uid '$uid' (want a DynamicUser)"
exposure=$(systemd-analyze security --no-pager tbhelperd.service 2>/dev/null | sed -n 's/.*Overall exposure level for tbhelperd.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] && awk -v e="$exposure" 'BEGIN { exit !(e <= 4.0) }' \
    && pass "systemd-analyze security tbhelperd.service (installed, running): exposure $exposure" \
    || fail "systemd-analyze security: exposure '${exposure:-?}' (want <= 4.0)"
check "NoNewPrivs" grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$mainpid/status"
check "seccomp filter on" grep -q '^Seccomp:[[:space:]]*2' "/proc/$mainpid/status"
check "control socket /run/tbhelper/tbhelperd.sock" test -S /run/tbhelper/tbhelperd.sock
modes="$(stat -c '%a %U' /run/tbhelper) / $(stat -c '%a %U' /run/tbhelper/tbhelperd.sock)"
[ "$modes" = "750 tbhelperd / 660 tbhelperd" ] && pass "modes: /run/tbhelper $modes" \
    || fail "modes /run/tbhelper, socket: $modes (want 750 tbhelperd / 660 tbhelperd)"
tbhelperctl status > "$work/status.txt" 2>&1; rc=$?
ind < "$work/status.txt"
[ "$rc" = 0 ] && pass "tbhelperctl status (root, default socket)" || fail "tbhelperctl status exit $rc"

step "the metrics timer (docs/metrics.md#textfile-collector): installed, not enabled; started, it writes the file"
prom_dir=/var/lib/prometheus/node-exporter
prom=$prom_dir/tbhelper.prom
check "tbhelper-metrics.timer and .service are installed" systemctl cat tbhelper-metrics.timer tbhelper-metrics.service
check_not "the package did not enable tbhelper-metrics.timer" systemctl is-enabled --quiet tbhelper-metrics.timer
check_not "the package did not start tbhelper-metrics.timer" systemctl is-active --quiet tbhelper-metrics.timer
check_not "nothing written by the install ($prom)" test -e "$prom"
# What Debian's prometheus-node-exporter package creates (the unit does not).
mkdir -p "$prom_dir"
check "systemctl start tbhelper-metrics.timer" systemctl start tbhelper-metrics.timer
check "the timer ran tbhelper-metrics.service: $prom written" wait_for 45 test -s "$prom"
check "$prom: mode 0644" test "$(stat -c %a "$prom")" = 644
check "only tbhelper.prom in $prom_dir (no temporary file left)" test "$(ls -A "$prom_dir")" = tbhelper.prom
prom_shape() {
    if grep -Ev '^(# (HELP|TYPE) tbhelper_[a-z_]+ .+|tbhelper_[a-z_]+(\{[a-z_]+="[^"]*"\})? [0-9.e+-]+)$' "$prom"; then
        return 1
    fi
    grep -qx 'tbhelper_up 1' "$prom"
}
if /usr/bin/python3 -c 'import prometheus_client' 2>/dev/null; then
    # The Prometheus project's parser (python3-prometheus-client).
    check "$prom parses (prometheus_client) with tbhelper_up 1, tbhelper_uptime_seconds" \
        /usr/bin/python3 "$repo/tests/kernel/tools/check_metrics.py" "$prom" tbhelper_up == 1 tbhelper_uptime_seconds '>=' 0
else
    # No parser in this root: every sample line has the format's shape, and tbhelper_up is 1.
    note "python3-prometheus-client missing in this root: a line-shape check instead of the parser"
    check "$prom: every line a comment or 'name[{labels}] value', tbhelper_up 1" prom_shape
fi
check "journal: tbhelper-metrics.service finished" sh -c \
    "journalctl -u tbhelper-metrics.service --no-pager -o cat | grep -Eiq 'Finished|Deactivated successfully'"
check "systemctl stop tbhelper-metrics.timer" systemctl stop tbhelper-metrics.timer

step "boot order: tbhelperd before nftables.service (for the include), no ordering cycle"
check "systemctl enable nftables" systemctl enable nftables
check "tbhelperd.service is ordered Before=nftables.service" sh -c 'systemctl show -p Before --value tbhelperd | tr " " "\n" | grep -qx nftables.service'
systemd-analyze verify --man=no default.target multi-user.target sysinit.target tbhelperd.service nftables.service \
    > "$work/verify.txt" 2>&1
grep -i 'tbhelperd' "$work/verify.txt" | ind
check_not "systemd-analyze verify: no ordering cycle" grep -qi 'cycle' "$work/verify.txt"
check_not "systemd-analyze verify: nothing about tbhelperd.service" grep -q 'tbhelperd' "$work/verify.txt"

step "tbhelperctl rules --apply"
check "tbhelperctl rules --apply" tbhelperctl rules --apply
check "table inet tbhelper loaded" nft list table inet tbhelper
tbhelperctl check > "$work/check.txt" 2>&1; rc=$?
ind < "$work/check.txt"
# On Debian 13 (TBTEST_PKG_STRICT_CHECK=1, tests/package/30-systemd-vm-deb13.sh)
# this correct setup must be reported as correct.
if [ "${TBTEST_PKG_STRICT_CHECK:-0}" = 1 ]; then
    [ "$rc" = 0 ] && pass "tbhelperctl check: the correct setup is reported correct (exit 0)" \
        || fail "tbhelperctl check reports problems in a correct setup (exit $rc, output above)"
else
    note "tbhelperctl check exit $rc"
fi

# ---- sessions ---------------------------------------------------------------------------
step "legacy session: UDP 407 contact, control offered on TCP 1417"
guest legacy 0 --legacy-udp --service control
check "legacy: 1 of 1 stream(s) worked" grep -q '1 of 1 stream(s) worked' "$work/guest-legacy.log"

step "TCP session: TCP 407 contact, intercom offered on a dynamic UDP port"
guest tcp 0 --service intercom
check "TCP: 1 of 1 stream(s) worked" grep -q '1 of 1 stream(s) worked' "$work/guest-tcp.log"

step "journald: the daemon's events carry TBHELPER_ fields (docs/daemon.md#journald-fields)"
journal_expect() { # the intercom expectation's entry, selected by its field as an administrator would
    journalctl -u tbhelperd TBHELPER_EVENT=expect -o json --no-pager > "$work/journal-expect.json" 2>&1
    python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
ok = [r for r in rows if r.get("TBHELPER_SERVICE") == "intercom" and r.get("TBHELPER_GUEST") == "198.51.100.2"
      and r.get("TBHELPER_HOST") == "203.0.113.2" and r.get("TBHELPER_PROTO") == "udp"
      and r.get("TBHELPER_PORT", "").isdigit() and r.get("TBHELPER_CONTACT_PORT") == "407"
      and ": expect udp 198.51.100.2 -> 203.0.113.2:" in r.get("MESSAGE", "")
      and r.get("PRIORITY") == "6" and r.get("SYSLOG_IDENTIFIER") == "tbhelperd"]
print(len(rows), "entries with TBHELPER_EVENT=expect,", len(ok), "of them the intercom offer with every field")
sys.exit(0 if ok and all(r.get("TBHELPER_EVENT") == "expect" for r in rows) else 1)' "$work/journal-expect.json"
}
if wait_for 10 journal_expect; then
    pass "journalctl -u tbhelperd TBHELPER_EVENT=expect: the offer, with guest, host, service, proto, port"
else
    fail "no journal entry TBHELPER_EVENT=expect with its fields"; tail -n 5 "$work/journal-expect.json" | ind
fi
check "journalctl TBHELPER_EVENT=hello selects the recognized session" \
    sh -c "journalctl -u tbhelperd TBHELPER_EVENT=hello -o cat --no-pager | grep -q 'HELLO'"
check "an event's entry is still a plain line for journalctl -u tbhelperd" \
    sh -c "journalctl -u tbhelperd -o cat --no-pager | grep -q ': expect udp 198.51.100.2 -> 203.0.113.2:'"

step "systemctl reload in the middle of a TCP session (between its two offer rounds)"
timeout -k 5 90 ip netns exec "$TB_NS_GUEST" "$tbsim" guest --host "$TB_H4" --timeout 60 --stream-timeout 5 \
    --service drag-and-drop --wait-offers 2 > "$work/guest-reload.log" 2>&1 &
gpid=$!
if wait_for 20 grep -q 'stream ok' "$work/guest-reload.log"; then
    pass "first offer's stream passed before the reload"
else
    fail "no stream of the first offer round within 20 s"
fi
check "systemctl reload tbhelperd" systemctl reload tbhelperd
wait "$gpid"; rc=$?
ind < "$work/guest-reload.log"
[ "$rc" = 0 ] && pass "guest across the reload: exit 0" || fail "guest across the reload: exit $rc"
check "both offer rounds' streams passed (2 of 2)" grep -q '2 of 2 stream(s) worked' "$work/guest-reload.log"
check "same daemon after the reload (pid $mainpid)" test "$(systemctl show -p MainPID --value tbhelperd)" = "$mainpid"
check "the journal shows the reload" sh -c "journalctl -u tbhelperd --no-pager | grep -Eqi 'reload|SIGHUP|configuration'"
tbhelperctl status --json > "$work/status.json" 2>&1
ind < "$work/status.json"
check "status counters: expectations_created >= 4" python3 -c '
import json,sys; d=json.load(open(sys.argv[1])); c=d["counters"]["expectations_created"]; print(c); sys.exit(0 if c >= 4 else 1)' "$work/status.json"

step "persistent rules: /etc/nftables.conf includes /usr/share/tbhelper/tbhelper.nft"
nft list table inet tbtest > "$work/tbtest.nft"
check "tbhelperctl rules --remove" tbhelperctl rules --remove
check_not "table inet tbhelper gone after rules --remove" nft list table inet tbhelper
cat > /etc/nftables.conf <<NFT
#!/usr/sbin/nft -f
flush ruleset
include "$work/tbtest.nft"
include "/usr/share/tbhelper/tbhelper.nft"
NFT
check "systemctl start nftables (loads the include; the helper is registered)" systemctl start nftables
check "table inet tbhelper loaded from the include" nft list table inet tbhelper
guest include 0 --service intercom
check "TCP session with the included rules: 1 of 1 stream(s) worked" grep -q '1 of 1 stream(s) worked' "$work/guest-include.log"

step "systemctl stop: traffic on the contact port is not blocked"
check "systemctl stop tbhelperd" systemctl stop tbhelperd
check_not "tbhelperd.service inactive" systemctl is-active --quiet tbhelperd
check "helper stays registered after stop" sh -c 'nfct list helper | grep -q timbuktu'
check "rules stay loaded after stop" nft list table inet tbhelper
guest stopped-tcp 0 --service send-files
check "TCP 407 contact with the daemon stopped: service data passed" grep -q 'OK: HELLO-ACK received' "$work/guest-stopped-tcp.log"
guest stopped-udp 0 --legacy-udp --service control --expect-blocked
check "UDP 407 contact with the daemon stopped: HELLO-ACK received (streams blocked: no helper)" \
    grep -q 'HELLO-ACK from host' "$work/guest-stopped-udp.log"

step "systemctl start again (helper and rules still in place, as after an upgrade)"
check "systemctl start tbhelperd" systemctl start tbhelperd
guest again 0 --service intercom
check "TCP session after the restart: 1 of 1 stream(s) worked" grep -q '1 of 1 stream(s) worked' "$work/guest-again.log"

# ---- removal ----------------------------------------------------------------------------
step "drop-in from docs/install.md: ExecStartPost=-/usr/sbin/tbhelperctl rules --apply"
mkdir -p /etc/systemd/system/tbhelperd.service.d
printf '[Service]\nExecStartPost=-/usr/sbin/tbhelperctl rules --apply\n' > /etc/systemd/system/tbhelperd.service.d/rules.conf
systemctl daemon-reload
check "nft delete table inet tbhelper" nft delete table inet tbhelper
check "systemctl restart tbhelperd (with the drop-in)" systemctl restart tbhelperd
check "the drop-in loaded table inet tbhelper (tbhelperctl inside the sandbox)" nft list table inet tbhelper
journalctl -u tbhelperd --no-pager | grep -i 'tbhelperctl\|table inet' | tail -n 3 | ind
rm -rf /etc/systemd/system/tbhelperd.service.d
systemctl daemon-reload

step "tbhelperd --unregister refuses while a ruleset still references the helper"
check "systemctl stop tbhelperd" systemctl stop tbhelperd
out=$(tbhelperd --unregister 2>&1); rc=$?
printf '%s\n' "$out" | ind
[ "$rc" != 0 ] && pass "tbhelperd --unregister fails (exit $rc) while table inet tbhelper references the helper" \
    || fail "tbhelperd --unregister succeeded while rules reference the helper"
check "helper still registered" sh -c 'nfct list helper | grep -q timbuktu'
check "systemctl start tbhelperd" systemctl start tbhelperd

step "a table of the administrator's own references the helper (TCP): removal must go on"
nft -f - <<'NFT'
table inet mine {
    ct helper tbt { type "timbuktu" protocol tcp; l3proto inet; }
}
NFT
check "table inet mine with a ct helper object of type timbuktu" nft list table inet mine

step "dpkg -r tbhelper (what apt-get remove runs)"
# Files and symlinks of the package (not its directories: /lib is a symlink of
# the merged /usr here, /usr/share/man/man8 belongs to others too).
dpkg-deb -c "$deb" | awk '$1 ~ /^[-l]/ { print $6 }' | sed 's|^\.||' > "$work/files.txt"
dpkg -r tbhelper > "$work/dpkg-r.log" 2>&1; rc=$?
ind < "$work/dpkg-r.log"
[ "$rc" = 0 ] && pass "dpkg -r" || fail "dpkg -r exit $rc"
check "prerm warned about the include in /etc/nftables.conf" grep -q 'nftables.conf includes /usr/share/tbhelper/tbhelper.nft' "$work/dpkg-r.log"
check_not "tbhelperd.service not running" systemctl is-active --quiet tbhelperd
check_not "no tbhelperd process" pgrep -x tbhelperd
check_not "table inet tbhelper gone" nft list table inet tbhelper
check "the administrator's own table inet tbtest untouched" nft list table inet tbtest
check "prerm said the registration stays, and why" grep -q 'stays registered' "$work/dpkg-r.log"
nfct list helper > "$work/helpers-after-remove.txt" 2>&1
check "the UDP registrations are gone (nothing referenced them)" sh -c "! grep -A3 timbuktu '$work/helpers-after-remove.txt' | grep -q 'l4protonum = 17'"
check "the TCP registrations stay (table inet mine references them)" grep -q 'l4protonum = 6' "$work/helpers-after-remove.txt"
check "the administrator deletes table inet mine" nft delete table inet mine
check "... and the registration: nfct delete helper timbuktu" nfct delete helper timbuktu
check_not "helper timbuktu unregistered (nfct list helper)" sh -c 'nfct list helper | grep -q timbuktu'
check "conffile kept on remove" test -f /etc/tbhelper/tbhelper.conf
check "dpkg: config-files state" sh -c 'dpkg-query -W -f="\${Status}" tbhelper | grep -qx "deinstall ok config-files"'
check_not "/usr/sbin/tbhelperd gone" test -e /usr/sbin/tbhelperd

step "dpkg -P tbhelper"
dpkg -P tbhelper > "$work/dpkg-P.log" 2>&1; rc=$?
ind < "$work/dpkg-P.log"
[ "$rc" = 0 ] && pass "dpkg -P" || fail "dpkg -P exit $rc"
check_not "dpkg knows no tbhelper" dpkg-query -W tbhelper
# Every file and symlink of the package, and the directories only it owns.
left=()
while read -r f; do
    [ -n "$f" ] || continue
    if [ -L "$f" ] || [ -f "$f" ]; then left+=("$f"); fi
done < "$work/files.txt"
for d in /etc/tbhelper /usr/share/tbhelper /usr/share/doc/tbhelper; do
    [ -e "$d" ] && left+=("$d")
done
((${#left[@]} == 0)) && pass "no file of the package left ($(wc -l < "$work/files.txt") paths checked)" \
    || fail "left behind: ${left[*]}"
check_not "/etc/tbhelper gone" test -e /etc/tbhelper
check_not "/run/tbhelper gone" test -e /run/tbhelper
check_not "no enablement symlink left" sh -c 'ls /etc/systemd/system/*/tbhelperd.service /var/lib/systemd/deb-systemd-helper-enabled/*/tbhelperd.service /var/lib/systemd/deb-systemd-helper-enabled/tbhelperd.service* 2>/dev/null | grep .'
check_not "systemd knows no tbhelperd.service" sh -c 'systemctl list-unit-files tbhelperd.service --no-legend | grep -q tbhelperd'
check_not "helper timbuktu not registered" sh -c 'nfct list helper | grep -q timbuktu'
check_not "table inet tbhelper gone" nft list table inet tbhelper

((fails)) && diagnostics
summary "package test under systemd"
