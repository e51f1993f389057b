# shellcheck shell=bash
# tbhelper kernel scenarios: the library every tests/kernel/NN-*.sh sources.
#
# A scenario runs as root on a kernel with nfnetlink_cthelper (inside the VM
# test bed, or directly on a distribution kernel): tests/kernel/run-scenario.sh
# decides where. It is a plain bash script:
#
#   . "$(dirname "$0")/lib.sh"
#   kt_begin "legacy UDP contact opens TCP 1417"   # modules, checks, traps
#   kt_topo routed                                  # routed | dnat | masq
#   kt_config 'allowed_ports = ["1024-65535"]'      # optional: config lines
#   kt_daemon_start                                 # tbhelperd in tbfw, ready
#   kt_rules_apply                                  # inet tbhelper + baseline
#   kt_host main --legacy-ports                     # tbsim host in tbh
#   kt_guest legacy --legacy-udp --service control  # tbsim guest in tbg
#   assert_eq "guest exit status" 0 "$KT_RC"
#   kt_finish                                       # PASS/FAIL line, exit code
#
# Everything a scenario starts (daemon, simulators, monitors, namespaces) is
# stopped by an EXIT trap, also on failure or signal. On failure the trap
# prints the diagnostics first: ruleset, conntrack table, expectations, the
# daemon's status and every log.
#
# Output: "== step" headers, "PASS: ..." / "FAIL: ..." per assertion, "NOTE: "
# lines, and one last line "SCENARIO PASS|FAIL name (...)".
#
# Environment (all optional):
#   TBTEST_BUILD=DIR      where tbhelperd, tbhelperctl, tbsim are (default build/)
#   TBTEST_RULES=auto|ctl|nft
#                         how the helper assignment is loaded: `tbhelperctl
#                         rules --apply` (ctl), lib.sh's own nft text (nft), or
#                         ctl when build/tbhelperctl exists, else nft (auto)
#   TBTEST_VERBOSE=1      print every log at the end, also on success
#   TBTEST_KEEP=1         keep the work directory (only useful outside the VM)
#   TBTEST_DEBUG=1        set -x

# shellcheck disable=SC2034  # many variables are for the scenarios
set -uo pipefail
[ "${TBTEST_DEBUG:-0}" = 1 ] && set -x

KT_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KT_BUILD=${TBTEST_BUILD:-$KT_REPO/build}
TBD=$KT_BUILD/tbhelperd
TBCTL=$KT_BUILD/tbhelperctl
TBSIM=$KT_BUILD/tbsim
KT_NAME=${KT_NAME:-$(basename "${BASH_SOURCE[1]:-$0}" .sh)}
KT_KIND=${KT_KIND:-SCENARIO}   # the word of the last line (tools/demo.sh: DEMO)

# shellcheck source=tests/vm/netns.sh
. "$KT_REPO/tests/vm/netns.sh"

KT_WORK=$(mktemp -d "${TMPDIR:-/tmp}/tbkt.XXXXXX")
KT_SOCK=$KT_WORK/tbhelperd.sock
KT_CONF=$KT_WORK/tbhelper.conf
export TBHELPER_SOCKET=$KT_SOCK
KT_PASSES=0
KT_FAILS=0
KT_FAILED=()
KT_PIDS=()            # background processes (simulators, monitors)
KT_DAEMON_PID=""
KT_DAEMON_STARTED=0   # a daemon was started at least once (helper registered)
KT_RC=0               # exit status of the last kt_guest / kt_run
KT_T0=$SECONDS
KT_EPOCH0=$EPOCHREALTIME
KT_DONE=0

# ---- output --------------------------------------------------------------------

kt_elapsed() { awk -v a="${KT_EPOCH0/,/.}" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.1f", b - a }'; }
kt_say()  { echo "[$KT_NAME +$(kt_elapsed)s] $*"; }
kt_step() { echo; echo "== $* (+$(kt_elapsed)s)"; }
kt_note() { echo "NOTE: $*"; }
kt_indent() { sed 's/^/    /'; }

kt_pass() { KT_PASSES=$((KT_PASSES + 1)); echo "PASS: $*"; }
kt_fail() { KT_FAILS=$((KT_FAILS + 1)); KT_FAILED+=("$*"); echo "FAIL: $*"; }
# Fatal: the scenario cannot go on. The EXIT trap prints the diagnostics.
kt_die()  { kt_fail "$*"; exit 1; }
# Not a pass: the scenario could not run here (counts as a failure in CI).
kt_skip() {
    echo "########################################################################"
    echo "### SKIP $KT_NAME: $*"
    echo "########################################################################"
    KT_DONE=1 KT_SKIP_REASON=$*
    exit 77
}

# ---- assertions (record and go on; kt_finish sets the exit status) ----------------

assert_eq() { # WHAT EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then kt_pass "$1 (= $3)"; else kt_fail "$1: expected '$2', got '$3'"; fi
}
assert_ne() { # WHAT UNEXPECTED ACTUAL
    if [ "$2" != "$3" ]; then kt_pass "$1 ('$3')"; else kt_fail "$1: got '$3'"; fi
}
_kt_isnum() { [[ $1 =~ ^-?[0-9]+$ ]]; }
assert_ge() { # WHAT MIN ACTUAL
    if _kt_isnum "$3" && [ "$3" -ge "$2" ]; then kt_pass "$1 ($3 >= $2)"
    else kt_fail "$1: expected >= $2, got '$3'"; fi
}
assert_gt() { # WHAT THAN ACTUAL
    if _kt_isnum "$3" && [ "$3" -gt "$2" ]; then kt_pass "$1 ($3 > $2)"
    else kt_fail "$1: expected > $2, got '$3'"; fi
}
assert_grep() { # WHAT ERE FILE
    if grep -Eq -- "$2" "$3" 2>/dev/null; then
        kt_pass "$1 [$(grep -Em1 -- "$2" "$3" | cut -c1-160)]"
    else
        kt_fail "$1: no line matching /$2/ in $(basename "$3")"
    fi
}
assert_no_grep() { # WHAT ERE FILE
    if grep -Eq -- "$2" "$3" 2>/dev/null; then
        kt_fail "$1: unexpected line in $(basename "$3"): $(grep -Em1 -- "$2" "$3" | cut -c1-200)"
    else
        kt_pass "$1"
    fi
}
assert_ok() { # WHAT COMMAND... (exit status 0)
    local what=$1 out; shift
    if out=$("$@" 2>&1); then kt_pass "$what"
    else kt_fail "$what: '$*' failed"; printf '%s\n' "$out" | tail -n 15 | kt_indent; fi
}
assert_not_ok() { # WHAT COMMAND... (exit status non-zero)
    local what=$1 out; shift
    if out=$("$@" 2>&1); then kt_fail "$what: '$*' succeeded"; printf '%s\n' "$out" | tail -n 15 | kt_indent
    else kt_pass "$what"; fi
}
assert_alive() { # WHAT PID
    if [ -n "$2" ] && kill -0 "$2" 2>/dev/null; then kt_pass "$1 (pid $2 running)"
    else kt_fail "$1: process ${2:-?} is gone"; fi
}

# ---- waits (all bounded) -----------------------------------------------------------

# kt_wait_for SECONDS COMMAND...: run COMMAND every 0.1 s until it succeeds.
kt_wait_for() {
    local limit=$1 end; shift
    end=$(( ${EPOCHREALTIME/[.,]/} + limit * 1000000 ))
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        (( ${EPOCHREALTIME/[.,]/} >= end )) && return 1
        sleep 0.1
    done
}

# ---- setup ---------------------------------------------------------------------------

# Modules the scenarios need (a kernel that has them built in answers too).
# One modprobe for all: every process start is slow under TCG.
KT_MODULES_REQUIRED=(nf_conntrack nfnetlink_cthelper nfnetlink_queue nf_conntrack_netlink nft_ct nf_nat nft_nat)
KT_MODULES_OPTIONAL=(nft_masq nft_chain_nat veth)

kt_modules() {
    local m missing=()
    modprobe -a -q "${KT_MODULES_REQUIRED[@]}" "${KT_MODULES_OPTIONAL[@]}" 2>/dev/null \
        || for m in "${KT_MODULES_REQUIRED[@]}" "${KT_MODULES_OPTIONAL[@]}"; do modprobe -q "$m" 2>/dev/null; done
    for m in "${KT_MODULES_REQUIRED[@]}"; do
        [ -d "/sys/module/$m" ] || missing+=("$m")
    done
    ((${#missing[@]} == 0)) || kt_die "kernel modules missing: ${missing[*]} (kernel $(uname -r); need CONFIG_NF_CT_NETLINK_HELPER and friends)"
}

# kt_need BIN...: each of tbhelperd tbhelperctl tbsim must be built.
kt_need() {
    local b p
    for b in "$@"; do
        p=$KT_BUILD/$b
        [ -x "$p" ] || kt_die "$p is missing: run 'make' first (or it is not written yet)"
    done
}

kt_begin() { # DESCRIPTION
    trap _kt_exit EXIT
    trap 'echo "signal: interrupted"; exit 143' TERM INT HUP
    echo "################ ${KT_KIND,,} $KT_NAME: $1"
    echo "kernel $(uname -r)${TBVM:+ (VM test bed)}, work dir $KT_WORK"
    [ "$(id -u)" = 0 ] || kt_skip "needs root (use tests/kernel/run-scenario.sh)"
    kt_modules
}

kt_topo() { # routed | dnat | masq
    kt_step "topology: $1"
    case "$1" in
        routed) topo_routed ;;
        dnat) topo_nat_dnat ;;
        masq) topo_nat_masq ;;
        *) kt_die "kt_topo: unknown topology $1" ;;
    esac || kt_die "topology $1 could not be set up"
    fw_load_baseline || kt_die "baseline filter (inet tbtest) did not load"
    kt_say "guest $TB_GUEST_ADDR / $TB_GUEST_ADDR6 -> target $TB_TARGET_ADDR / $TB_TARGET_ADDR6 (host $TB_HOST_ADDR, host sees guest as $TB_GUEST_SEEN); baseline default-drop filter loaded"
    # Expectation events, from now on, for the assertions and the diagnostics.
    kt_bg expect-events ip netns exec "$TB_NS_FW" stdbuf -oL conntrack -E expect -o timestamp
    KT_EXPECT_EVENTS=$KT_WORK/expect-events.log
    sleep 0.2
}

# ---- configuration and daemon -----------------------------------------------------------

# kt_config [LINE...]: write the daemon's config; each LINE 'key = value'
# replaces the default for its key.
declare -A KT_CFG=(
    [queue]='407'
    [log_level]='"debug"'
)
kt_config() {
    local line key
    for line in "$@"; do
        key=${line%%=*}; key=${key// /}
        KT_CFG[$key]=${line#*=}
    done
    : > "$KT_CONF"
    for key in $(printf '%s\n' "${!KT_CFG[@]}" | sort); do
        echo "$key = $(echo "${KT_CFG[$key]}" | sed 's/^ *//')" >> "$KT_CONF"
    done
}

# The daemon's status over its control socket (docs/control-socket.md): one
# JSON line on stdout; fails when the socket does not answer or says ok:false.
kt_status() { _kt_sock_request status; }
kt_sock_expectations() { _kt_sock_request expectations; }
_kt_sock_request() {
    local out
    out=$(printf '{"command": "%s"}\n' "$1" | timeout 5 socat -t 3 - "UNIX-CONNECT:$KT_SOCK" 2>/dev/null) || return 1
    [[ $out =~ \"ok\":\ *true ]] || { printf '%s\n' "$out" >&2; return 1; }
    printf '%s\n' "$out"
}
# kt_counter_in JSON NAME: a counter out of a status line ("" if absent).
kt_counter_in() {
    # (the counters object holds a nested one, other_opcodes: no [^}] here)
    local rest
    [[ $1 =~ \"counters\":(.*)$ ]] || { echo ""; return; }
    rest=${BASH_REMATCH[1]}
    if [[ $rest =~ \"$2\":\ *([0-9]+) ]]; then echo "${BASH_REMATCH[1]}"; else echo ""; fi
}
# kt_counter NAME: a counter from the running daemon ("" if none).
kt_counter() { kt_counter_in "$(kt_status 2>/dev/null)" "$1"; }
# kt_wait_counter NAME MIN [SECONDS (10)]: wait until the daemon's counter
# reaches MIN (the daemon may still be working through queued packets).
kt_wait_counter() {
    _kt_counter_ge() { local v; v=$(kt_counter "$1"); _kt_isnum "$v" && [ "$v" -ge "$2" ]; }
    kt_wait_for "${3:-10}" _kt_counter_ge "$1" "$2"
}
# kt_counter_from FILE NAME: from a saved status (kt_status > FILE).
kt_counter_from() { kt_counter_in "$(cat "$1" 2>/dev/null)" "$2"; }
# The kernel's helper table holds "timbuktu" (nfct list helper; without nfct,
# which Debian ships with conntrackd, a cthelper netlink dump in python3).
kt_helper_registered() {
    if command -v nfct >/dev/null 2>&1; then
        nfct list helper 2>/dev/null | grep -q timbuktu
    else
        python3 - <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
s.settimeout(3)
# NFNL_SUBSYS_CTHELPER (9) << 8 | NFNL_MSG_CTHELPER_GET (1), NLM_F_REQUEST|NLM_F_DUMP
s.send(struct.pack("=IHHII", 20, (9 << 8) | 1, 0x1 | 0x300, 1, 0) + struct.pack("=BBH", 0, 0, 0))
found = False
while True:
    data = s.recv(65536)
    off = 0
    while off < len(data):
        ln, typ = struct.unpack_from("=IH", data, off)
        if typ == 2 and struct.unpack_from("=i", data, off + 16)[0] != 0:
            sys.exit(1)
        if typ == 3:
            sys.exit(0 if found else 1)
        if b"timbuktu\0" in data[off:off + ln]:
            found = True
        off += (ln + 3) & ~3
PY
    fi
}

kt_daemon_start() { # [extra tbhelperd args]
    kt_need tbhelperd
    [ -s "$KT_CONF" ] || kt_config
    kt_step "start tbhelperd in the firewall namespace"
    kt_say "config $KT_CONF:"; kt_indent < "$KT_CONF"
    echo "---- tbhelperd start at +$(kt_elapsed)s" >> "$KT_WORK/tbhelperd.log"
    # ip netns exec execs the program: $! is the daemon itself.
    ip netns exec "$TB_NS_FW" "$TBD" --config "$KT_CONF" --foreground --socket "$KT_SOCK" "$@" \
        >>"$KT_WORK/tbhelperd.log" 2>&1 &
    KT_DAEMON_PID=$!
    KT_DAEMON_STARTED=1
    local ready=0 i
    for i in $(seq 150); do
        if ! kill -0 "$KT_DAEMON_PID" 2>/dev/null; then
            wait "$KT_DAEMON_PID"; local rc=$?
            KT_DAEMON_PID=""
            kt_die "tbhelperd exited during startup (status $rc)"
        fi
        if kt_status >/dev/null 2>&1; then ready=1; break; fi
        sleep 0.1
    done
    ((ready)) || kt_die "tbhelperd did not answer on $KT_SOCK within 15 s"
    kt_wait_for 5 kt_helper_registered || kt_die "helper 'timbuktu' not registered in the kernel (nfct list helper) after the daemon became ready"
    kt_pass "tbhelperd ready (pid $KT_DAEMON_PID) and helper 'timbuktu' registered"
}

# kt_daemon_stop [SIGNAL]: stop it (TERM by default), wait up to 10 s.
kt_daemon_stop() {
    local sig=${1:-TERM} pid=$KT_DAEMON_PID
    [ -n "$pid" ] || return 0
    kill -"$sig" "$pid" 2>/dev/null
    if kt_wait_for 10 _kt_gone "$pid"; then
        wait "$pid" 2>/dev/null; local rc=$?
        kt_say "tbhelperd (pid $pid) stopped by SIG$sig, status $rc"
    else
        kt_fail "tbhelperd (pid $pid) still running 10 s after SIG$sig; killing it"
        kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    fi
    KT_DAEMON_PID=""
}
_kt_gone() { ! kill -0 "$1" 2>/dev/null; }

# ---- rules ------------------------------------------------------------------------------

# The helper assignment of `tbhelperctl rules` written by hand; used only when
# tbhelperctl is not available (TBTEST_RULES=nft or auto without the binary).
kt_rules_nft_text() {
    local tcp=${1:-407} udp=${2:-407, 1419}
    cat <<NFT
table inet tbhelper
delete table inet tbhelper
table inet tbhelper {
    ct helper timbuktu-tcp {
        type "timbuktu" protocol tcp
        l3proto inet
    }
    ct helper timbuktu-udp {
        type "timbuktu" protocol udp
        l3proto inet
    }
    chain prerouting {
        type filter hook prerouting priority filter; policy accept;
        tcp dport { $tcp } ct helper set "timbuktu-tcp"
        udp dport { $udp } ct helper set "timbuktu-udp"
    }
}
NFT
}

# kt_rules_apply: the helper assignment (table inet tbhelper) in the firewall.
# Needs the helper to be registered (a running daemon, or one that ran).
kt_rules_apply() {
    local mode=${TBTEST_RULES:-auto} out rc
    kt_step "helper rules in the firewall namespace"
    if [ "$mode" = auto ]; then
        if [ -x "$TBCTL" ]; then mode=ctl; else mode=nft; fi
    fi
    if [ "$mode" = ctl ]; then
        kt_need tbhelperctl
        out=$(in_fw "$TBCTL" rules --config "$KT_CONF" --apply 2>&1); rc=$?
        printf '%s\n' "$out" > "$KT_WORK/rules-apply.log"
        if ((rc != 0)); then
            printf '%s\n' "$out" | tail -n 20 | kt_indent
            kt_die "tbhelperctl rules --apply failed (status $rc)"
        fi
        kt_say "loaded with: tbhelperctl rules --config $KT_CONF --apply"
    else
        kt_note "helper rules from lib.sh's own nft text (TBTEST_RULES=${TBTEST_RULES:-auto}; build/tbhelperctl $( [ -x "$TBCTL" ] && echo present || echo missing))"
        kt_rules_nft_text | in_fw nft -f - || kt_die "nft rejected lib.sh's helper rules"
    fi
    in_fw nft list table inet tbhelper > "$KT_WORK/tbhelper-table.nft" 2>&1 \
        || kt_die "table inet tbhelper is not in the firewall namespace after loading the rules"
    grep -q 'ct helper set' "$KT_WORK/tbhelper-table.nft" \
        || kt_die "table inet tbhelper has no 'ct helper set' rule: $(tr '\n' ' ' < "$KT_WORK/tbhelper-table.nft")"
    kt_pass "helper rules loaded (table inet tbhelper assigns the helper on the contact ports)"
}
kt_rules_remove() { in_fw nft delete table inet tbhelper 2>/dev/null || true; }

# ---- processes -------------------------------------------------------------------------

# kt_bg NAME COMMAND...: run in the background, output to $KT_WORK/NAME.log.
# COMMAND must be a program (ip netns exec NS PROG...), not a shell function:
# the EXIT trap stops it by its pid.
kt_bg() {
    local name=$1; shift
    "$@" >"$KT_WORK/$name.log" 2>&1 &
    KT_PIDS+=($!)
    KT_LAST_PID=$!
}

# kt_host NAME [tbsim host args...]: tbsim host in the host namespace, log in
# $KT_WORK/host-NAME.log; waits until it listens on TCP 407 (or the first
# --tcp-port) and UDP 407 (or the first --udp-port). KT_HOST_PID.
kt_host() {
    local name=$1; shift
    kt_need tbsim
    local tport=407 uport=407 prev="" a
    for a in "$@"; do
        case "$prev" in --tcp-port) [ "$tport" = 407 ] && tport=$a ;; --udp-port) [ "$uport" = 407 ] && uport=$a ;; esac
        prev=$a
    done
    kt_say "host: tbsim host $*"
    ip netns exec "$TB_NS_HOST" "$TBSIM" host --timeout 300 "$@" >"$KT_WORK/host-$name.log" 2>&1 &
    KT_HOST_PID=$!
    KT_PIDS+=("$KT_HOST_PID")
    kt_wait_for 10 _kt_listening tcp "$tport" || { kill -0 "$KT_HOST_PID" 2>/dev/null || kt_indent < "$KT_WORK/host-$name.log"; kt_die "tbsim host does not listen on TCP $tport"; }
    kt_wait_for 10 _kt_listening udp "$uport" || kt_die "tbsim host does not listen on UDP $uport"
}
_kt_listening() { # tcp|udp PORT (in the host namespace)
    local f=-ltnH; [ "$1" = udp ] && f=-lunH
    in_host ss $f "sport = :$2" 2>/dev/null | grep -q .
}

# kt_guest NAME [tbsim guest args...]: tbsim guest --json in the guest
# namespace; JSON summary in $KT_WORK/guest-NAME.json, text in
# guest-NAME.log (shown indented). Sets KT_RC and KT_GUEST_JSON. Bounded by
# TBTEST_GUEST_TIMEOUT (60 s) on top of tbsim's own --timeout.
kt_guest() {
    local name=$1; shift
    kt_need tbsim
    KT_GUEST_JSON=$KT_WORK/guest-$name.json
    kt_say "guest: tbsim guest $*"
    timeout -k 5 "${TBTEST_GUEST_TIMEOUT:-60}" ip netns exec "$TB_NS_GUEST" "$TBSIM" guest --json "$@" \
        >"$KT_GUEST_JSON" 2>"$KT_WORK/guest-$name.log"
    KT_RC=$?
    kt_indent < "$KT_WORK/guest-$name.log"
    kt_say "guest $name exited with status $KT_RC"
    _kt_digest "$KT_GUEST_JSON"
    return 0
}
# kt_guest_bg NAME args...: the same in the background; KT_GUEST_PID;
# collect with kt_guest_wait NAME SECONDS (sets KT_RC, 124 on timeout).
kt_guest_bg() {
    local name=$1; shift
    kt_need tbsim
    kt_say "guest (background): tbsim guest $*"
    timeout -k 5 "${TBTEST_GUEST_TIMEOUT:-60}" ip netns exec "$TB_NS_GUEST" "$TBSIM" guest --json "$@" \
        >"$KT_WORK/guest-$name.json" 2>"$KT_WORK/guest-$name.log" &
    KT_GUEST_PID=$!
}
kt_guest_wait() { # NAME SECONDS
    local name=$1
    KT_GUEST_JSON=$KT_WORK/guest-$name.json
    if kt_wait_for "$2" _kt_gone "$KT_GUEST_PID"; then
        wait "$KT_GUEST_PID"; KT_RC=$?
    else
        kill "$KT_GUEST_PID" 2>/dev/null; wait "$KT_GUEST_PID" 2>/dev/null; KT_RC=124
    fi
    KT_GUEST_PID=""
    kt_indent < "$KT_WORK/guest-$name.log"
    kt_say "guest $name exited with status $KT_RC"
    _kt_digest "$KT_GUEST_JSON"
}

# kt_json FILE PYTHON-EXPRESSION: evaluate over the JSON document d; prints
# the value (True/False, numbers as is), or "ERROR: ..." when it cannot.
# (python3 starts slowly under TCG: prefer the digest below.)
kt_json() {
    python3 - "$1" "$2" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    v = eval(sys.argv[2], {"d": d, "len": len, "any": any, "all": all, "sum": sum})
    print(json.dumps(v) if isinstance(v, (dict, list)) else v)
except Exception as e:
    print("ERROR: %s" % str(e).replace("\n", " ")[:200])
PY
}

# The guest's JSON summary digested once into shell variables:
#   G_OK (True/False/ERROR), G_ACK (True/False), G_ACK_ADDR (embedded host
#   address), G_NOFFERS, G_OFFER_ADDRS (space separated), G_STREAMS (array of
#   "transport port ok(1/0) bytes address forged(1/0)").
_kt_digest() { # FILE
    local code
    code=$(python3 - "$1" <<'PY'
import json, shlex, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print("G_OK=ERROR G_ACK=False G_ACK_ADDR= G_NOFFERS=0 G_OFFER_ADDRS= G_STREAMS=()")
    sys.exit(0)
ack = d.get("hello_ack") or {}
q = shlex.quote
print("G_OK=%s" % q(str(bool(d.get("ok")))))
print("G_ACK=%s" % ("True" if ack else "False"))
print("G_ACK_ADDR=%s" % q(str(ack.get("embedded_host_address", ""))))
print("G_NOFFERS=%d" % len(d.get("offers") or []))
print("G_OFFER_ADDRS=%s" % q(" ".join(str(o.get("address")) for o in d.get("offers") or [])))
st = []
for s in d.get("streams") or []:
    st.append("%s %s %d %d %s %d" % (s.get("transport"), s.get("port"), 1 if s.get("ok") else 0,
              int(s.get("bytes") or 0), s.get("address"), 1 if s.get("forged") else 0))
print("G_STREAMS=(%s)" % " ".join(q(x) for x in st))
PY
)
    G_OK=ERROR G_ACK=False G_ACK_ADDR="" G_NOFFERS=0 G_OFFER_ADDRS="" G_STREAMS=()
    eval "$code"
}

# kt_streams TRANSPORT OK(True/False) [PORT]: how many of the last guest's
# streams (forged ones excluded) have that transport and outcome.
kt_streams() {
    local want=0 n=0 t p ok b a f
    [ "$2" = True ] && want=1
    for x in "${G_STREAMS[@]+"${G_STREAMS[@]}"}"; do
        read -r t p ok b a f <<< "$x"
        [ "$t" = "$1" ] && [ "$ok" = "$want" ] && [ "$f" = 0 ] || continue
        [ -n "${3:-}" ] && [ "$p" != "$3" ] && continue
        n=$((n + 1))
    done
    echo "$n"
}
# kt_stream_field TRANSPORT FIELD(port|bytes|address) [OK]: of the first
# matching stream (forged excluded).
kt_stream_field() {
    local t p ok b a f
    for x in "${G_STREAMS[@]+"${G_STREAMS[@]}"}"; do
        read -r t p ok b a f <<< "$x"
        [ "$t" = "$1" ] && [ "$f" = 0 ] || continue
        [ -n "${3:-}" ] && [ "$ok" != "$3" ] && continue
        case $2 in port) echo "$p" ;; bytes) echo "$b" ;; address) echo "$a" ;; esac
        return 0
    done
    echo ""
}

# assert_streams WHAT TRANSPORT OK MIN [PORT]: at least MIN streams of the
# last guest with that transport and outcome (ok True/False).
assert_streams() {
    assert_ge "$1" "$4" "$(kt_streams "$2" "$3" "${5:-}")"
}
# assert_contact: the last guest got a HELLO-ACK (the contact port passed).
assert_contact() {
    assert_eq "contact answered: HELLO-ACK from the host" True "$G_ACK"
}
# assert_guest_ok WHAT: the last guest exited 0 and reports ok.
assert_guest_ok() {
    assert_eq "$1: guest exit status" 0 "$KT_RC"
    assert_eq "$1: guest summary ok" True "$G_OK"
}

# Packets dropped so far by the baseline's final counter (inet tbtest).
kt_fw_dropped() {
    in_fw nft list table inet tbtest 2>/dev/null \
        | sed -n 's/.*counter packets \([0-9]*\) bytes.*dropped by the tbtest baseline.*/\1/p' | head -n1
}

# kt_host_stop: stop the current tbsim host (to start one with other options).
kt_host_stop() {
    [ -n "${KT_HOST_PID:-}" ] || return 0
    kill -TERM "$KT_HOST_PID" 2>/dev/null
    kt_wait_for 5 _kt_gone "$KT_HOST_PID" || kill -KILL "$KT_HOST_PID" 2>/dev/null
    wait "$KT_HOST_PID" 2>/dev/null
    KT_HOST_PID=""
}

# kt_guest_hold / kt_guest_release: the firewall drops what the guest sends
# to ports 1024-65535 (the offered streams; the contact ports 407 and 1419
# pass) BEFORE conntrack sees it (prerouting, priority raw), so the
# expectation stays pending, untouched, for as long as we like; after the
# release the guest's retries (TCP SYN retransmission, UDP resend every
# second) get through. A "delayed guest" for the assertions about pending
# expectations. (Dropping in the guest's own output chain would not do: the
# guest's UDP send would fail with EPERM.)
kt_guest_hold() {
    in_fw nft -f - <<NFT || kt_die "cannot load the hold table in the firewall"
table inet tbhold {
    chain prerouting {
        type filter hook prerouting priority raw; policy accept;
        iifname "$TB_FW_GUEST_IF" meta l4proto { tcp, udp } th dport 1024-65535 th dport != 1419 counter drop
    }
}
NFT
}
kt_guest_release() { in_fw nft delete table inet tbhold 2>/dev/null; }

# ---- expectations ----------------------------------------------------------------------

# The kernel's expectation table in the firewall namespace.
kt_expect_list() { in_fw conntrack -L expect 2>/dev/null; }
# kt_wait_expect SECONDS ERE [FILE]: wait until a pending expectation matches;
# saves the table to FILE (default $KT_WORK/expect-snapshot.txt).
kt_wait_expect() {
    local limit=$1 re=$2 f=${3:-$KT_WORK/expect-snapshot.txt}
    _kt_expect_match() { kt_expect_list > "$f.tmp"; grep -Eq -- "$re" "$f.tmp"; }
    if kt_wait_for "$limit" _kt_expect_match; then mv "$f.tmp" "$f"; return 0; fi
    mv "$f.tmp" "$f" 2>/dev/null; return 1
}

# ---- the end ---------------------------------------------------------------------------

kt_finish() {
    KT_DONE=1
    if ((KT_FAILS > 0)); then exit 1; fi
    exit 0
}

_kt_dump() { # TITLE COMMAND...
    local title=$1; shift
    echo "---- $title"
    "$@" 2>&1 | tail -n "${KT_DUMP_LINES:-80}" | kt_indent
}

_kt_exit() {
    local rc=$?
    trap - EXIT TERM INT HUP
    set +x
    if ((KT_DONE == 0)) && ((rc == 0)); then
        # The script ended without kt_finish: count it as a failure.
        kt_fail "scenario ended without kt_finish"; rc=1
    fi
    ((rc == 0 && KT_FAILS > 0)) && rc=1
    local show=0
    ((rc != 0 && rc != 77)) && show=1
    [ "${TBTEST_VERBOSE:-0}" = 1 ] && show=1
    if ((show)) && [ -e "/run/netns/$TB_NS_FW" ]; then
        echo
        echo "======== diagnostics ($KT_NAME) ========"
        _kt_dump "nft list ruleset (firewall)" in_fw nft list ruleset
        _kt_dump "conntrack -L (firewall)" in_fw conntrack -L
        _kt_dump "conntrack -L expect (firewall)" in_fw conntrack -L expect
        [ -S "$KT_SOCK" ] && _kt_dump "tbhelperd status" kt_status
        if command -v nfct >/dev/null 2>&1; then _kt_dump "nfct list helper" nfct list helper
        else _kt_dump "helper timbuktu registered (cthelper netlink dump)" bash -c "$(declare -f kt_helper_registered); kt_helper_registered && echo yes || echo no"; fi
    fi
    # Stop what we started: daemon first (SIGTERM: the helper stays registered).
    local p
    if [ -n "$KT_DAEMON_PID" ]; then kill -TERM "$KT_DAEMON_PID" 2>/dev/null; fi
    for p in "${KT_PIDS[@]+"${KT_PIDS[@]}"}"; do kill -TERM "$p" 2>/dev/null; done
    [ -n "${KT_GUEST_PID:-}" ] && kill -TERM "$KT_GUEST_PID" 2>/dev/null
    for p in $KT_DAEMON_PID "${KT_PIDS[@]+"${KT_PIDS[@]}"}" ${KT_GUEST_PID:-}; do
        kt_wait_for 5 _kt_gone "$p" || kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    if ((show)); then
        local f
        for f in "$KT_WORK"/*.log "$KT_WORK"/*.json; do
            [ -s "$f" ] || continue
            KT_DUMP_LINES=${KT_LOG_LINES:-120} _kt_dump "$(basename "$f")" cat "$f"
        done
    fi
    topo_teardown >/dev/null 2>&1
    # Outside the VM the helper registration is global and outlives the
    # namespaces: remove it when a daemon of ours registered it.
    if [ -z "${TBVM:-}" ] && ((KT_DAEMON_STARTED)) && [ -x "$TBD" ]; then
        "$TBD" --unregister --config "$KT_CONF" >/dev/null 2>&1 || true
    fi
    [ "${TBTEST_KEEP:-0}" = 1 ] && echo "work dir kept: $KT_WORK" || rm -rf "$KT_WORK"
    echo
    if ((rc == 0)); then
        echo "$KT_KIND PASS $KT_NAME ($KT_PASSES checks, $((SECONDS - KT_T0)) s)"
    elif ((rc == 77)); then
        echo "$KT_KIND SKIP $KT_NAME: ${KT_SKIP_REASON:-skipped}"
    else
        echo "$KT_KIND FAIL $KT_NAME ($KT_FAILS of $((KT_PASSES + KT_FAILS)) checks failed, exit $rc, $((SECONDS - KT_T0)) s)"
        for p in "${KT_FAILED[@]+"${KT_FAILED[@]}"}"; do echo "  failed: $p"; done
    fi
    exit "$rc"
}

# ---- attack scenarios (70-7x): tests/kernel/tools/tbattack.py -------------------------
# The hostile guest and its accomplices on the host are one python3 program
# whose frames are built byte by byte from the wire model, independent of the
# code under test (docs/kernel-tests.md, "Attack scenarios").

KT_ATTACK=$KT_REPO/tests/kernel/tools/tbattack.py

# kt_attack_host NAME SUBCOMMAND ARGS...: tbattack echo|sink in the host
# namespace, in the background (log $KT_WORK/NAME.log); waits until it listens
# on the --tcp-port / --udp-port it was given. KT_LAST_PID.
kt_attack_host() {
    local name=$1; shift
    local tport="" uport="" prev="" a
    for a in "$@"; do
        case "$prev" in --tcp-port) tport=$a ;; --udp-port) uport=$a ;; esac
        prev=$a
    done
    kt_say "host accomplice: tbattack $*"
    kt_bg "$name" ip netns exec "$TB_NS_HOST" python3 "$KT_ATTACK" "$@"
    if [ -n "$tport" ] && [ "$tport" != 0 ]; then
        kt_wait_for 60 _kt_listening tcp "$tport" || kt_die "tbattack $1 does not listen on TCP $tport"
    fi
    if [ -n "$uport" ] && [ "$uport" != 0 ]; then
        kt_wait_for 60 _kt_listening udp "$uport" || kt_die "tbattack $1 does not listen on UDP $uport"
    fi
}
# kt_attack_stop PID: stop one background accomplice (and reap it).
kt_attack_stop() {
    [ -n "${1:-}" ] || return 0
    kill -TERM "$1" 2>/dev/null
    kt_wait_for 5 _kt_gone "$1" || kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

# kt_attack_guest NAME SUBCOMMAND ARGS...: tbattack in the guest namespace;
# its JSON line in $KT_WORK/attack-NAME.json, stderr shown indented; KT_RC.
kt_attack_guest() {
    local name=$1; shift
    kt_say "attacker: tbattack $*"
    timeout -k 5 "${TBTEST_GUEST_TIMEOUT:-60}" ip netns exec "$TB_NS_GUEST" python3 "$KT_ATTACK" "$@" \
        >"$KT_WORK/attack-$name.json" 2>"$KT_WORK/attack-$name.log"
    KT_RC=$?
    kt_indent < "$KT_WORK/attack-$name.log"
    kt_say "tbattack $1 exited with status $KT_RC: $(cat "$KT_WORK/attack-$name.json" 2>/dev/null)"
    return 0
}
# kt_attack_field NAME KEY: one value of the attacker's JSON line ("" if none).
kt_attack_field() {
    python3 -c 'import json,sys
try: v = json.load(open(sys.argv[1])).get(sys.argv[2], "")
except Exception: v = ""
print(v)' "$KT_WORK/attack-$1.json" "$2" 2>/dev/null
}

# kt_delta NAME: a daemon counter now minus the one in $KT_WORK/before.json.
kt_delta() {
    local a b
    a=$(kt_counter "$1"); b=$(kt_counter_from "$KT_WORK/before.json" "$1")
    if _kt_isnum "$a" && _kt_isnum "$b"; then echo $((a - b))
    elif _kt_isnum "$a" && [ -z "$b" ]; then echo "$a"
    else echo "?($b -> $a)"; fi
}

# kt_fw_mac [IFACE]: the firewall's MAC address on IFACE (the guest side).
kt_fw_mac() { in_fw cat "/sys/class/net/${1:-$TB_FW_GUEST_IF}/address"; }

# kt_daemon_rss_kib: the daemon's resident set (VmRSS, KiB).
kt_daemon_rss_kib() {
    [ -n "$KT_DAEMON_PID" ] || { echo ""; return; }
    awk '/^VmRSS:/ { print $2 }' "/proc/$KT_DAEMON_PID/status" 2>/dev/null
}

# kt_log_lines: lines in the daemon's log so far.
kt_log_lines() { wc -l < "$KT_WORK/tbhelperd.log" | tr -d ' '; }

# kt_nfqueue_waiting: packets waiting in the firewall's queue 407 (0 when the
# daemon has given a verdict on everything).
kt_nfqueue_waiting() {
    in_fw awk '$1 == 407 { print $3 }' /proc/net/netfilter/nfnetlink_queue 2>/dev/null
}

# assert_no_control_bytes WHAT FILE: no byte below 0x20 other than newline
# (and tab), no DEL (0x7f), in FILE.
assert_no_control_bytes() {
    local n
    n=$(LC_ALL=C tr -d '\n\t\040-\176\200-\377' < "$2" | wc -c | tr -d ' ')
    if [ "$n" = 0 ]; then
        kt_pass "$1"
    else
        kt_fail "$1: $n control byte(s) in $(basename "$2"): $(LC_ALL=C grep -anP '[\x00-\x08\x0b-\x1f\x7f]' "$2" | head -n 3 | cat -v | cut -c1-200)"
    fi
}

# kt_good_session NAME [HOST-ARGS...]: a real session (tbsim host + guest,
# intercom over TCP 407) through the firewall; the host is stopped afterwards.
kt_good_session() {
    local name=$1; shift
    kt_step "a real session still works, the daemon is alive"
    kt_host "$name" "$@"
    kt_guest "$name" --host "$TB_TARGET_ADDR" --service intercom --timeout 20 --stream-timeout 5
    assert_guest_ok "intercom after the attack"
    assert_streams "the offered UDP stream crossed the firewall" udp True 1
    kt_host_stop
    assert_alive "tbhelperd still running" "$KT_DAEMON_PID"
}

# ---- framed bulk with an offer at its end (GSO: scenarios 76, 77) --------------------

# kt_bulk_offer NAME OFFER_PORT EMBEDDED_ADDRESS [BYTES (1 MiB)]: tbattack
# bulkhost in the host namespace (HELLO-ACK and PORT-OFFER embed
# EMBEDDED_ADDRESS), then tbattack bulkguest against $TB_TARGET_ADDR: BYTES of
# ignored frames each way, the offer of TCP OFFER_PORT in the same write as
# the host's BYTES, the offered stream opened. The guest's JSON is
# $KT_WORK/attack-NAME.json (kt_attack_field NAME KEY); the host is stopped.
kt_bulk_offer() {
    local name=$1 port=$2 addr=$3 bytes=${4:-1048576}
    kt_attack_host "$name-host" bulkhost --listen 0.0.0.0 --tcp-port 407 --offer-port "$port" --address "$addr" \
        --bytes "$bytes" --timeout 300
    local hpid=$KT_LAST_PID
    kt_attack_guest "$name" bulkguest --host "$TB_TARGET_ADDR" --bytes "$bytes" --timeout 90
    kt_attack_stop "$hpid"
    kt_say "host: $(tail -n 1 "$KT_WORK/$name-host.log")"
}
# kt_dmesg_mark / kt_dmesg_since: kernel log lines printed after the mark.
kt_dmesg_mark() { KT_DMESG_LINES=$(dmesg 2>/dev/null | wc -l); }
kt_dmesg_since() { dmesg 2>/dev/null | tail -n +$((${KT_DMESG_LINES:-0} + 1)); }
