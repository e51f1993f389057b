#!/bin/bash
# The kernel benchmark (make bench-kernel; docs/performance.md): tbhelperd in
# a Debian kernel under QEMU, side by side with a named baseline, in the
# namespaces of the kernel scenarios (tests/kernel/lib.sh).
#
#   tests/bench/kernel/bench.sh [--kernel bookworm|trixie|sid] [--part all|kernel-ftp|conntrackd]
#
# Boot 1 ("kernel-ftp"), alternating TBBENCH_ROUNDS rounds (the order of the
# two columns swaps every round), every round printed:
#   1. bulk on a detached TCP 407 control stream   vs the same firewall, no helper
#   2. bulk on a framed TCP 407 stream (queued)    vs the same firewall, no helper
#   3. sessions/s (contact, offer, offered TCP stream), 1 and 8 clients
#                                                  vs FTP PASV through nf_conntrack_ftp
#   then, once: 4. the daemon's VmRSS with 0, 1k, 10k held legacy UDP contacts
#   and per TCP connection holding an unfinished frame; 5. the daemon's CPU
#   (utime+stime, /proc/PID/stat) per queued packet under a flood with 1k and
#   TBBENCH_CONNS_MAX tracked connections.
# Boot 2 ("conntrackd"): row 3 against conntrackd 1.4.8's userspace ftp
# helper, run from a Debian 13 root (packaging/debian-root.sh trixie), since
# the kernel's ftp helper and conntrackd's cannot be registered in one boot
# (same name).
# A benchmark, not a test: it prints figures and ratios and never fails on a
# slow machine; it fails loudly (exit 1) when a configuration did not work at
# all (no stream passed, no session, the helper not detaching...).
#
# Environment:
#   TBBENCH_ROUNDS (5)      rounds per row (more rounds: a better median on a busy machine)
#   TBBENCH_SECONDS (3)     seconds per measurement (bulk and sessions)
#   TBBENCH_CONNS_MAX (30000)  row 5's large point (up to 100000; the VM's memory
#                           and the pace of legacy contacts through the queue bound it)
#   TBBENCH_HOLD_RATE (800) legacy contacts opened per second (the queue must not overflow)
#   TBBENCH_ROWS ("1 2 3 4 5")  the rows of boot 1 (boot 2 is row 3 only)
#   TBBENCH_FRAME_CONNS (1000)  row 4's connections holding an unfinished frame
#   TBBENCH_DAEMON_CONFIG ("")  extra lines of the daemon's configuration, ';' between
#                           them: e.g. 'gso = false' measures without GSO (docs/daemon.md#gso)
#   TBVM_SMP (2), TBVM_MEM (2048 here), TBVM_BUILD_DIR, TBVM_KERNEL: as for tests/vm/run.sh
# Output: build/bench-logs/<kernel>-<part>.log, and a summary of RESULT lines.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)

if [ "${1:-}" != --inner ]; then
    kernel=${TBVM_KERNEL:-bookworm} part=all
    while [ $# -gt 0 ]; do
        case "$1" in
            --kernel) kernel=${2:?}; shift 2 ;;
            --part) part=${2:?}; shift 2 ;;
            -h|--help) sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
            *) echo "bench-kernel: unknown argument $1 (expected --kernel K, --part all|kernel-ftp|conntrackd)" >&2; exit 2 ;;
        esac
    done
    case "$part" in all|kernel-ftp|conntrackd) ;; *) echo "bench-kernel: --part must be all, kernel-ftp or conntrackd" >&2; exit 2 ;; esac
    for b in tbhelperd tbhelperctl; do
        [ -x "$repo/build/$b" ] || { echo "bench-kernel: build/$b is missing: run 'make' first" >&2; exit 1; }
    done
    export TBVM_KERNEL=$kernel
    "$repo/tests/vm/prepare.sh" --quiet || { echo "bench-kernel: tests/vm/prepare.sh failed for $kernel" >&2; exit 1; }
    logs=$repo/build/bench-logs
    mkdir -p "$logs"
    rounds=${TBBENCH_ROUNDS:-5}
    [[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "bench-kernel: TBBENCH_ROUNDS must be a positive number" >&2; exit 2; }
    limit=$(( 900 + rounds * 120 ))
    status=0
    ran=()
    boot() { # PART [run.sh args]
        local p=$1; shift
        local log=$logs/$kernel-$p.log
        ran+=("$log")
        echo "bench-kernel: $kernel, $p: one boot, $rounds rounds (log $log)"
        local envs=() v
        for v in $(compgen -v TBBENCH_); do envs+=(--env "$v=${!v}"); done
        "$repo/tests/vm/run.sh" --no-prepare --timeout "$limit" --mem "${TBVM_MEM:-2048}" --smp "${TBVM_SMP:-2}" \
            --keep "$repo" "${envs[@]}" "$@" -- "$here/bench.sh" --inner "$p" 2>&1 | tee "$log"
        local rc=${PIPESTATUS[0]}
        ((rc == 0)) || { echo "bench-kernel: $kernel, $p FAILED (exit $rc): see $log"; status=1; }
    }
    if [ "$part" != conntrackd ]; then boot kernel-ftp; fi
    if [ "$part" != kernel-ftp ]; then
        echo "bench-kernel: the Debian 13 root with conntrackd 1.4.8 (packaging/debian-root.sh trixie; cached)"
        root=$("$repo/packaging/debian-root.sh" trixie | tail -n 1)
        if [ -x "$root/usr/sbin/conntrackd" ]; then
            boot conntrackd --env "TBBENCH_CTD_ROOT=$root"
        else
            echo "bench-kernel: no conntrackd in $root: the conntrackd column FAILED"; status=1
        fi
    fi
    echo
    echo "==== bench-kernel summary ($kernel, $(cat "$(. "$repo/tests/vm/kernel.sh"; tbvm_resolve "$repo" >/dev/null; echo "$TBVM_OUT")/kernel-version" 2>/dev/null), $rounds rounds, TBVM_SMP=${TBVM_SMP:-2})"
    grep -h '^RESULT' "${ran[@]}" 2>/dev/null | sed 's/^RESULT //'
    exit "$status"
fi

# ---- inside the guest --------------------------------------------------------------
part=${2:?}
KT_NAME=bench-$part KT_KIND=BENCH
# shellcheck source=tests/kernel/lib.sh
. "$repo/tests/kernel/lib.sh"
TBB="$here/tbbench.py"
ROUNDS=${TBBENCH_ROUNDS:-5}
SECS=${TBBENCH_SECONDS:-3}
CONNS_MAX=${TBBENCH_CONNS_MAX:-30000}
HOLD_RATE=${TBBENCH_HOLD_RATE:-800}
FRAME_CONNS=${TBBENCH_FRAME_CONNS:-1000}
((CONNS_MAX > 100000)) && CONNS_MAX=100000

kt_begin "tbhelperd side by side with its baselines ($part)"
kt_need tbhelperd tbhelperctl
echo "machine: $(nproc) vCPU(s) $(awk '/^model name/ { $1 = $2 = $3 = ""; print; exit }' /proc/cpuinfo | sed 's/^ *//'), $(awk '/MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo), kernel $(uname -r), QEMU TCG; rounds $ROUNDS x $SECS s"
# The conntrack table must hold every held connection (global, from the initial namespace).
sysctl -qw net.netfilter.nf_conntrack_max=262144 2>/dev/null
if [ "$part" = kernel-ftp ]; then
    modprobe nf_conntrack_ftp || kt_die "modprobe nf_conntrack_ftp failed"
fi
TB_TCP_CONTACT_PORTS="407, 21" kt_topo routed
# Held legacy UDP contacts must outlive the whole measurement (the kernel's
# default for an unanswered UDP flow is 30 s).
in_fw sysctl -qw net.netfilter.nf_conntrack_udp_timeout=1800 net.netfilter.nf_conntrack_udp_timeout_stream=1800
kt_config 'log_level = "warning"'
if [ -n "${TBBENCH_DAEMON_CONFIG:-}" ]; then
    IFS=';' read -ra extra <<<"$TBBENCH_DAEMON_CONFIG"
    kt_config "${extra[@]}"
fi
kt_daemon_start
kt_rules_apply
H=$TB_TARGET_ADDR

kt_bg tbbench-serve ip netns exec "$TB_NS_HOST" python3 "$TBB" serve --listen "$TB_HOST_ADDR"
SERVE_PID=$KT_LAST_PID
kt_wait_for 60 _kt_listening tcp 407 || kt_die "tbbench serve does not listen on TCP 407"
kt_wait_for 30 _kt_listening tcp 21 || kt_die "tbbench serve does not listen on TCP 21"

# ---- the other ftp helper ------------------------------------------------------------
CTD_PID=""
if [ "$part" = conntrackd ]; then
    R=${TBBENCH_CTD_ROOT:?TBBENCH_CTD_ROOT (the Debian 13 root) not set}
    [ -x "$R/usr/sbin/conntrackd" ] || kt_die "no conntrackd in $R"
    [ -d /sys/module/nf_conntrack_ftp ] && kt_die "nf_conntrack_ftp is loaded: conntrackd's ftp helper cannot register"
    for m in proc dev sys run; do mount --bind "/$m" "$R/$m" || kt_die "cannot bind-mount /$m into $R"; done
    mkdir -p "$R/run/tbbench"
    cat > "$R/run/tbbench/conntrackd.conf" <<'EOF'
General {
	LogFile /run/tbbench/conntrackd.log
	Syslog off
	LockFile /run/tbbench/conntrackd.lock
	UNIX {
		Path /run/tbbench/conntrackd.ctl
	}
}
Helper {
	Setup yes
	Type ftp inet tcp {
		QueueNum 5
		QueueLen 10240
		Policy ftp {
			ExpectMax 1
			ExpectTimeout 300
		}
	}
}
EOF
    kt_say "conntrackd $(chroot "$R" conntrackd -v 2>&1 | head -n1) from $(. "$R/etc/os-release"; echo "$PRETTY_NAME")"
    ip netns exec "$TB_NS_FW" chroot "$R" conntrackd -C /run/tbbench/conntrackd.conf >"$KT_WORK/conntrackd.log" 2>&1 &
    CTD_PID=$!
    KT_PIDS+=("$CTD_PID")
    _ftp_registered() { chroot "$R" nfct list helper 2>/dev/null | grep -q '"ftp"\|name ftp\|ftp'; }
    kt_wait_for 30 _ftp_registered || { cat "$KT_WORK/conntrackd.log" "$R/run/tbbench/conntrackd.log" 2>/dev/null | kt_indent; kt_die "conntrackd did not register its ftp helper"; }
    kt_pass "conntrackd (pid $CTD_PID) registered its userspace ftp helper (queue 5)"
    FTP_NAME="conntrackd 1.4.8's userspace ftp helper"
else
    FTP_NAME="the kernel's nf_conntrack_ftp"
fi
in_fw nft -f - <<'NFT' || kt_die "the ftp helper rule did not load"
table inet tbbenchftp {
    ct helper ftp-pasv {
        type "ftp" protocol tcp
        l3proto ip
    }
    chain prerouting {
        type filter hook prerouting priority filter; policy accept;
        tcp dport 21 ct helper set "ftp-pasv"
    }
}
NFT

# ---- figures ---------------------------------------------------------------------------
# The daemon's queue: packets it was handed so far (queue 407's id_sequence).
queue_seq() { in_fw awk '$1 == 407 { print $8 }' /proc/net/netfilter/nfnetlink_queue 2>/dev/null; }
jfield() { # JSON-LINE KEY
    [[ $1 =~ \"$2\":\ *([0-9.]+) ]] && echo "${BASH_REMATCH[1]}" || echo ""
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }'; }
# summarize ROW UNIT BASELINE "tb..." "base..." "ratios...": median of each, spread of ratios
summarize() {
    local row=$1 unit=$2 base=$3 tbs=$4 bases=$5 ratios=$6
    local med_tb med_b med_r lo hi
    med() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
    med_tb=$(med <<<"$tbs"); med_b=$(med <<<"$bases"); med_r=$(med <<<"$ratios")
    lo=$(tr ' ' '\n' <<<"$ratios" | grep . | sort -g | head -n1)
    hi=$(tr ' ' '\n' <<<"$ratios" | grep . | sort -g | tail -n1)
    echo "RESULT $row: ratio median $med_r (rounds $lo to $hi, $(wc -w <<<"$ratios") rounds); tbhelper median $med_tb $unit, baseline median $med_b $unit; baseline: $base"
}

# bulk_once MODE: one bulk measurement; sets BULK_MBIT and BULK_QUEUED.
bulk_once() {
    local s0 s1 out g0
    g0=$(kt_counter gso_packets)
    s0=$(queue_seq)
    out=$(timeout 120 ip netns exec "$TB_NS_GUEST" python3 "$TBB" bulk --host "$H" --mode "$1" --seconds "$SECS" 2>"$KT_WORK/bulk.err")
    s1=$(queue_seq)
    BULK_MBIT=$(jfield "$out" mbit_s)
    BULK_QUEUED=$((s1 - s0))
    BULK_GSO=$(( $(kt_counter gso_packets) - g0 ))
    [ -n "$BULK_MBIT" ] || { kt_indent < "$KT_WORK/bulk.err"; kt_die "bulk $1: no stream passed ($out)"; }
}
helper_on()  { in_fw "$TBCTL" rules --config "$KT_CONF" --apply >/dev/null 2>&1 || kt_die "tbhelperctl rules --apply failed"; }
helper_off() { kt_rules_remove; }

bulk_row() { # ROW MODE LABEL
    local row=$1 mode=$2 r tb base q qb g tbs="" bases="" ratios="" a b
    kt_step "row $row: bulk on a $3 TCP 407 stream, tbhelper vs the same firewall without the helper"
    for r in $(seq "$ROUNDS"); do
        if ((r % 2)); then
            helper_on; bulk_once "$mode"; tb=$BULK_MBIT q=$BULK_QUEUED g=$BULK_GSO
            helper_off; bulk_once "$mode"; base=$BULK_MBIT qb=$BULK_QUEUED
        else
            helper_off; bulk_once "$mode"; base=$BULK_MBIT qb=$BULK_QUEUED
            helper_on; bulk_once "$mode"; tb=$BULK_MBIT q=$BULK_QUEUED g=$BULK_GSO
        fi
        [ -n "${tb:-}" ] && [ -n "${base:-}" ] || kt_die "row $row: a measurement failed"
        ((qb == 0)) || kt_note "row $row round $r: $qb packets were queued without the helper's rules"
        if [ "$mode" = detached ] && ((q > 200)); then kt_die "row $row: the helper did not detach the control stream ($q packets went through queue 407)"; fi
        if [ "$mode" = framed ] && ((q < 100)); then kt_die "row $row: the framed stream was not queued ($q packets through queue 407)"; fi
        a=$(ratio "$tb" "$base")
        printf 'round %d/%d  row %s  tbhelper %8.1f Mbit/s (%d packets queued, %d of them GSO super-packets)  baseline %8.1f Mbit/s  ratio %s\n' "$r" "$ROUNDS" "$row" "$tb" "$q" "$g" "$base" "$a"
        tbs+=" $tb" bases+=" $base" ratios+=" $a"
    done
    helper_on
    summarize "$row bulk, $3 stream" Mbit/s "same firewall, no helper" "$tbs" "$bases" "$ratios"
}

sessions_once() { # PROTO PARALLEL: sets RATE
    local out ok failed
    out=$(timeout 120 ip netns exec "$TB_NS_GUEST" python3 "$TBB" sessions --proto "$1" --host "$H" --parallel "$2" --seconds "$SECS" 2>&1 | tail -n1)
    ok=$(jfield "$out" ok)
    if [ -z "$ok" ] || [ "$ok" = 0 ]; then kt_die "sessions $1 x$2: no session worked ($out)"; fi
    failed=$(jfield "$out" failed)
    [ "${failed:-0}" = 0 ] || kt_note "sessions $1 x$2: $failed failed: $out"
    RATE=$(jfield "$out" rate)
}
sessions_row() { # ROW PARALLEL
    local row=$1 par=$2 r tb base tbs="" bases="" ratios="" a
    kt_step "row $row: sessions per second, $par client(s) at a time, tbhelper vs FTP PASV through $FTP_NAME"
    for r in $(seq "$ROUNDS"); do
        if ((r % 2)); then sessions_once tb "$par"; tb=$RATE; sessions_once ftp "$par"; base=$RATE
        else sessions_once ftp "$par"; base=$RATE; sessions_once tb "$par"; tb=$RATE; fi
        [ -n "$tb" ] && [ -n "$base" ] || kt_die "row $row: a measurement failed"
        a=$(ratio "$tb" "$base")
        printf 'round %d/%d  row %s  tbhelper %7.2f sessions/s  ftp %7.2f sessions/s  ratio %s\n' "$r" "$ROUNDS" "$row" "$tb" "$base" "$a"
        tbs+=" $tb" bases+=" $base" ratios+=" $a"
    done
    summarize "$row sessions/s, $par client(s)" sessions/s "FTP PASV through $FTP_NAME" "$tbs" "$bases" "$ratios"
}

# ---- the rows --------------------------------------------------------------------------
ROWS=" ${TBBENCH_ROWS:-1 2 3 4 5} "
row_on() { [[ $ROWS == *" $1 "* ]]; }
if [ "$part" = kernel-ftp ]; then
    row_on 1 && bulk_row 1 detached detached
    row_on 2 && bulk_row 2 framed framed
    row_on 3 && sessions_row 3a 1
    row_on 3 && sessions_row 3b 8
else
    sessions_row 3c 1
    sessions_row 3d 8
    # The FTP column really went through conntrackd: its queue was used and
    # the kernel's ftp helper never loaded.
    q5=$(in_fw awk '$1 == 5 { print $8 }' /proc/net/netfilter/nfnetlink_queue 2>/dev/null)
    echo "FIGURE: queue 5 (conntrackd's ftp helper) was handed ${q5:-0} packets; nf_conntrack_ftp $( [ -d /sys/module/nf_conntrack_ftp ] && echo loaded || echo not loaded)"
    [ "${q5:-0}" -gt 0 ] || kt_die "no packet went through conntrackd's queue 5"
    [ -d /sys/module/nf_conntrack_ftp ] && kt_die "nf_conntrack_ftp got loaded: the FTP column did not measure conntrackd"
    kt_finish
fi
row_on 4 || row_on 5 || kt_finish

# ---- 4 and 5: memory and CPU of the daemon, in a fresh daemon ----------------------------
kt_step "rows 4 and 5: a fresh daemon, an empty conntrack table"
kt_daemon_stop
in_fw conntrack -F >/dev/null 2>&1
kt_daemon_start
helper_on
sleep 2
rss() { kt_daemon_rss_kib; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$KT_DAEMON_PID/stat"; }
tracked() { jfield "$(kt_status 2>/dev/null)" sessions_tracked; }
rss0=$(rss)
echo "FIGURE: daemon VmRSS with 0 held connections: $rss0 KiB (tracked $(tracked))"
HOLDERS=()
# 100k held contacts need more source ports than one address has: the
# guest's ephemeral range widened, and a second guest address.
in_guest sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
in_guest ip addr add 198.51.100.3/24 dev eth0 2>/dev/null
HOLD_SOURCES="$TB_GUEST_ADDR,198.51.100.3"
# hold NAME COUNT: COUNT more legacy UDP contacts, held open; waits until the daemon saw them.
hold() {
    local name=$1 n=$2 want
    want=$(( $(tracked) + n ))
    # The session table holds at most session_capacity (docs/daemon.md): beyond
    # it the least recently used live sessions are evicted.
    local cap; cap=$(jfield "$(kt_status 2>/dev/null)" session_capacity)
    [ -n "$cap" ] && ((want > cap)) && want=$cap
    kt_bg "hold-$name" ip netns exec "$TB_NS_GUEST" python3 "$TBB" hold --host "$H" --count "$n" --rate "$HOLD_RATE" --sources "$HOLD_SOURCES" \
        --release-file "$KT_WORK/release-$name" --hold 1800
    HOLDERS+=("$name")
    local hpid=$KT_LAST_PID
    # (a holder that died is not waited for)
    _held() { grep -q '"held"' "$KT_WORK/hold-$1.log" || ! kill -0 "$2" 2>/dev/null; }
    kt_wait_for $(( n / 50 + 120 )) _held "$name" "$hpid"
    grep -q '"held"' "$KT_WORK/hold-$name.log" || { kt_indent < "$KT_WORK/hold-$name.log"; kt_die "holder $name did not open its $n contacts"; }
    grep -q '"failed": 0' "$KT_WORK/hold-$name.log" || kt_note "holder $name: $(grep '"held"' "$KT_WORK/hold-$name.log")"
    _tracked_ge() { local t; t=$(tracked); [ -n "$t" ] && [ "$t" -ge "$1" ]; }
    kt_wait_for 120 _tracked_ge "$want" || kt_note "the daemon tracks $(tracked) sessions, not $want (capacity, or the queue overflowed: overruns $(kt_counter overruns))"
    sleep 1
}
# flood NAME K: K datagrams over holder NAME's flows; prints "PACKETS TICKS".
flood() {
    local name=$1 k=$2 p0 p1 c0 c1
    _drained() { [ "$(kt_nfqueue_waiting)" = 0 ]; }
    kt_wait_for 60 _drained
    p0=$(kt_counter packets); c0=$(cpu_ticks)
    touch "$KT_WORK/release-$name.flood-$k"
    kt_wait_for 600 test -e "$KT_WORK/release-$name.flood-$k.done" || kt_die "flood over $name did not finish"
    kt_wait_for 120 _drained
    p1=$(kt_counter packets); c1=$(cpu_ticks)
    echo "$((p1 - p0)) $((c1 - c0))"
}
HZ=$(getconf CLK_TCK)
cpu_row() { # LABEL HOLDER K
    local pk tk us
    read -r pk tk < <(flood "$2" "$3")
    ((pk > 0)) || kt_die "row 5: no packet of the flood reached the daemon"
    us=$(awk -v t="$tk" -v hz="$HZ" -v p="$pk" 'BEGIN { printf "%.1f", t / hz * 1e6 / p }')
    echo "FIGURE: row 5, $1: $pk packets queued, daemon CPU $tk ticks (${HZ}/s): $us µs per queued packet (overruns $(kt_counter overruns))"
    CPU_US+=("$1=$us")
}
CPU_US=()

kt_step "row 4: the daemon's memory per tracked connection"
hold a 1000
rss1=$(rss); t1=$(tracked)
echo "FIGURE: daemon VmRSS with $t1 tracked (1000 held legacy UDP contacts): $rss1 KiB"
kt_step "row 5: the daemon's CPU per queued packet, $t1 tracked"
cpu_row "$t1 tracked" a 20000
hold b 9000
rss2=$(rss); t2=$(tracked)
echo "FIGURE: daemon VmRSS with $t2 tracked (10000 held legacy UDP contacts): $rss2 KiB"
per1=$(awk -v a="$rss0" -v b="$rss1" -v n="$t1" 'BEGIN { printf "%.2f", (b - a) / (n ? n : 1) }')
per2=$(awk -v a="$rss0" -v b="$rss2" -v n="$t2" 'BEGIN { printf "%.2f", (b - a) / (n ? n : 1) }')
echo "RESULT 4 memory: VmRSS $rss0 KiB with 0, $rss1 KiB with $t1, $rss2 KiB with $t2 tracked connections: $per1 KiB per connection (1k), $per2 KiB per connection (10k); target <= 1 KiB"
if ((CONNS_MAX > 10000)); then
    hold c $((CONNS_MAX - 10000))
    t3=$(tracked); rss3=$(rss)
    echo "FIGURE: daemon VmRSS with $t3 tracked ($CONNS_MAX held legacy UDP contacts): $rss3 KiB"
    kt_step "row 5: the daemon's CPU per queued packet, $t3 tracked"
    cpu_row "$t3 tracked" c 20000
fi
echo "RESULT 5 CPU per queued packet: ${CPU_US[*]} (µs, the daemon's utime+stime / packets it was handed; target <= 1 µs natively, flat)"
for n in "${HOLDERS[@]}"; do touch "$KT_WORK/release-$n"; done
# A fresh daemon again: the heap grown for the held contacts would absorb
# the frames' memory and hide it.
kt_daemon_stop
in_fw conntrack -F >/dev/null 2>&1
kt_daemon_start
helper_on

kt_step "row 4: memory per connection holding an unfinished frame ($FRAME_CONNS connections x 8000 of 65535 bytes)"
# tbattack's sink takes TCP 407 from the benchmark's server.
kt_attack_stop "$SERVE_PID"
kt_wait_for 10 bash -c "! ip netns exec $TB_NS_HOST ss -ltnH 'sport = :407' | grep -q ."
kt_attack_host sink-frames sink --listen "$TB_HOST_ADDR" --tcp-port 407
rssf0=$(rss)
timeout 600 ip netns exec "$TB_NS_GUEST" python3 "$KT_ATTACK" hold --host "$H" --port 407 --count "$FRAME_CONNS" --send 8000 \
    --timeout 400 --release-file "$KT_WORK/release-frames" --hold 600 >"$KT_WORK/frames.json" 2>"$KT_WORK/frames.log" &
fpid=$!
kt_wait_for 420 test -s "$KT_WORK/frames.json" || kt_note "the unfinished frames were not all acknowledged"
sleep 1
rssf1=$(rss)
touch "$KT_WORK/release-frames"; wait "$fpid" 2>/dev/null
echo "RESULT 4 unfinished frames: VmRSS $rssf0 -> $rssf1 KiB for $FRAME_CONNS connections holding 8000 bytes of a 65535-byte frame: $(awk -v a="$rssf0" -v b="$rssf1" -v n="$FRAME_CONNS" 'BEGIN { printf "%.2f", (b - a) / n }') KiB per connection ($(cat "$KT_WORK/frames.json"))"
kt_finish
