#!/bin/bash
# Run many kernel scenarios in ONE boot of a Debian kernel:
#
#   tests/kernel/run-all.sh [--kernel bookworm|trixie|sid] [--logs DIR]
#                           [--results FILE] [SCENARIO...]
#
# Without SCENARIOs: the kernel's list in tests/kernel/kernels.txt. The VM
# test bed (tests/vm/run.sh, TBVM_KERNEL=<kernel>) boots once and runs the
# scenarios one after another inside the guest; each one runs as it would
# alone (tests/kernel/run-scenario.sh): its own namespaces, daemon, rules,
# verdict, and its own time limit (TBTEST_TIMEOUT, 480 s: a scenario that
# hangs is killed and the next one runs). Between two scenarios the runner
# makes sure nothing carries over, and a scenario that leaves something behind
# FAILS, naming it:
#   - every process the scenario started is gone (each scenario runs in a
#     cgroup of its own; leftovers are listed, then killed with cgroup.kill);
#   - no network namespace is left (ip netns list);
#   - the initial namespace's ruleset is empty (nft list ruleset) and nothing
#     listens there (ss -ltun);
#   - then the helper registration, which is global and which lib.sh leaves
#     in place inside the VM, is removed (tbhelperd --unregister), so the
#     next scenario starts with none. The kernel's modules stay loaded.
# Output: one line per scenario,
#     PASS  trixie 6.12.117+deb13-amd64  20-tcp-contact  (34 s)
# (FAIL lines name the kernel too), each scenario's whole output in
# DIR/<kernel>_<scenario>.log (default build/test-logs/), and with --results
# one line "SCENARIO EXIT-STATUS SECONDS KERNEL-VERSION" per scenario in FILE.
# A scenario the VM did not get to (it died, or timed out) gets status 125.
# Exit status 0 when every scenario passed, else 1.
#   TBTEST_TIMEOUT=S   one scenario's limit (default 480: 72-unfinished-frames, 1000
#                      connections, took 320 s on Debian 13's kernel on a loaded 2-core machine)
#   TBVM_SMP, TBVM_MEM, TBVM_BUILD_DIR: as for tests/vm/run.sh
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
kernel=${TBVM_KERNEL:-bookworm}
logs=$repo/build/test-logs
results=""
inner=0
usage() { sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --kernel) kernel=${2:?}; shift 2 ;;
        --logs) logs=${2:?}; shift 2 ;;
        --results) results=${2:?}; shift 2 ;;
        --inner) inner=1; shift ;;
        -h|--help) usage ;;
        -*) echo "run-all: unknown option $1" >&2; usage ;;
        *) break ;;
    esac
done
timeout=${TBTEST_TIMEOUT:-480}
[[ $timeout =~ ^[0-9]+$ ]] || { echo "run-all: TBTEST_TIMEOUT must be a number of seconds" >&2; exit 2; }

# ---- inside the guest: run the scenarios, one block of output each ---------------
if ((inner)); then
    cg=/sys/fs/cgroup
    unreg() { "$repo/build/tbhelperd" --unregister >/dev/null 2>&1 || true; }
    unreg
    for s in "$@"; do
        name=$(basename "$s" .sh)
        echo "TBKT-BEGIN $name"
        t0=$SECONDS
        grp=$cg/tbkt-$name
        mkdir -p "$grp" 2>/dev/null || grp=""
        (
            [ -n "$grp" ] && echo "$BASHPID" > "$grp/cgroup.procs"
            cd "$repo" || exit 126
            # SIGTERM at the limit: the scenario's trap cleans up; KILL 15 s later.
            exec timeout -k 15 "$timeout" bash "$s"
        ) </dev/null 2>&1
        rc=$?
        ((rc == 124)) && echo "run-all: $name: TIMEOUT after $timeout s (TBTEST_TIMEOUT): killed"
        leaks=()
        if [ -n "$grp" ]; then
            left=$(while read -r p; do [ -n "$p" ] && echo "$p:$(cat "/proc/$p/comm" 2>/dev/null)"; done < "$grp/cgroup.procs" | tr '\n' ' ')
            if [ -n "$left" ]; then
                leaks+=("processes still running: $left")
                echo 1 > "$grp/cgroup.kill" 2>/dev/null
                for _ in $(seq 50); do [ -s "$grp/cgroup.procs" ] || break; sleep 0.1; done
            fi
            rmdir "$grp" 2>/dev/null
        fi
        ns=$(ip netns list 2>/dev/null | awk '{ print $1 }' | tr '\n' ' ')
        if [ -n "$ns" ]; then
            leaks+=("network namespaces left: $ns")
            for n in $ns; do ip netns del "$n" 2>/dev/null; done
        fi
        if [ -n "$(nft list ruleset 2>/dev/null)" ]; then
            leaks+=("initial namespace's nftables ruleset not empty: $(nft list tables 2>/dev/null | tr '\n' ' ')")
            nft flush ruleset
        fi
        lis=$(ss -ltunH 2>/dev/null | awk '{ print $1 " " $5 }' | tr '\n' ',')
        [ -n "$lis" ] && leaks+=("listening in the initial namespace: $lis")
        unreg
        if ((${#leaks[@]})); then
            for l in "${leaks[@]}"; do echo "run-all: $name left state behind: $l"; done
            ((rc == 0)) && rc=1
        fi
        echo "TBKT-END $name $rc $((SECONDS - t0))"
    done
    exit 0
fi

# ---- on the host: the list, one VM boot, the results ---------------------------------
case "$kernel" in bookworm|trixie|sid) ;; *) echo "run-all: --kernel must be bookworm, trixie or sid" >&2; exit 2 ;; esac
if [ $# -eq 0 ]; then
    line=$(awk -v k="$kernel" '$1 == k { $1 = ""; print; exit }' "$here/kernels.txt")
    [ -n "$line" ] || { echo "run-all: no line for $kernel in tests/kernel/kernels.txt" >&2; exit 2; }
    set --
    for w in $line; do
        if [ "$w" = all ]; then
            for f in "$here"/[0-9]*.sh; do [ -e "$f" ] && set -- "$@" "$f"; done
        elif [ -f "$here/$w.sh" ]; then
            set -- "$@" "$here/$w.sh"
        else
            echo "run-all: tests/kernel/kernels.txt names $w for $kernel: no tests/kernel/$w.sh" >&2; exit 2
        fi
    done
fi
list=()
for s in "$@"; do
    f=$(realpath -- "$s") && [ -f "$f" ] || { echo "run-all: no such scenario: $s" >&2; exit 2; }
    list+=("$f")
done
mkdir -p "$logs"
[ -n "$results" ] && : > "$results"
export TBVM_KERNEL=$kernel
vmdir_out=$( . "$repo/tests/vm/kernel.sh"; tbvm_resolve "$repo" && echo "$TBVM_OUT") || exit 2
# The bed is prepared first (downloads on the first run) outside the time limit.
if [ "$(id -u)" = 0 ]; then
    "$repo/tests/vm/prepare.sh" --quiet || { echo "run-all: tests/vm/prepare.sh failed for $kernel" >&2; exit 1; }
fi
# The firewall-pair scenarios (NN-ha-*) run Debian's conntrackd, unpacked
# (not installed) into build/conntrackd by tools/fetch-conntrackd.sh.
for f in "${list[@]}"; do
    case "$(basename "$f")" in
        [0-9]*-ha-*) "$repo/tools/fetch-conntrackd.sh" --quiet >/dev/null \
                         || echo "run-all: tools/fetch-conntrackd.sh failed: the ha scenarios will fail" >&2
                     break ;;
    esac
done
kver=$(cat "$vmdir_out/kernel-version" 2>/dev/null || echo "?")

declare -A done_rc=()
cur="" curlog="" fails=0
report() { # NAME RC SECONDS
    local word=PASS
    [ "$2" != 0 ] && word=FAIL && fails=$((fails + 1))
    done_rc[$1]=$2
    printf '%s  %s %s  %s  (%d s%s)\n' "$word" "$kernel" "$kver" "$1" "$3" \
        "$( [ "$2" != 0 ] && echo ", exit $2, log $logs/${kernel}_$1.log")"
    [ -n "$results" ] && echo "$1 $2 $3 $kver" >> "$results"
}
vmlog=$logs/${kernel}_vm.log
: > "$vmlog"
t_start=$SECONDS
total=$(( ${#list[@]} * (timeout + 20) + 300 ))
{
    "$repo/tests/vm/run.sh" --no-prepare --timeout "$total" --keep "$repo" -- \
        "$repo/tests/kernel/run-all.sh" --inner "${list[@]}"
    echo "TBKT-VM-EXIT $?"
} 2>&1 | {
    vmrc=""
    while IFS= read -r l; do
        case "$l" in
            "TBKT-BEGIN "*)
                cur=${l#TBKT-BEGIN }; curlog=$logs/${kernel}_$cur.log; t_cur=$SECONDS
                echo "== $cur on $kernel ($kver)" > "$curlog" ;;
            "TBKT-END "*)
                read -r _ n rc secs <<<"$l"
                report "$n" "$rc" "$secs"; cur="" curlog="" ;;
            "TBKT-VM-EXIT "*) vmrc=${l#TBKT-VM-EXIT } ;;
            *)
                if [ -n "$curlog" ]; then printf '%s\n' "$l" >> "$curlog"; else printf '%s\n' "$l" >> "$vmlog"; fi ;;
        esac
    done
    # What the VM did not get to: the one it was running, then the rest.
    for f in "${list[@]}"; do
        n=$(basename "$f" .sh)
        [ -n "${done_rc[$n]+x}" ] && continue
        why="the VM ended (tests/vm/run.sh exit ${vmrc:-?}) before it ran" secs=0
        if [ "$n" = "$cur" ]; then
            why="the VM ended (tests/vm/run.sh exit ${vmrc:-?}) while it ran"; secs=$((SECONDS - t_cur))
        fi
        { echo "run-all: $n on $kernel: $why"; tail -n 30 "$vmlog" 2>/dev/null; } >> "$logs/${kernel}_$n.log"
        report "$n" 125 "$secs"
    done
    echo "run-all: $kernel ($kver): ${#list[@]} scenarios in one boot, $((SECONDS - t_start)) s, $fails failed; boot and VM messages: $vmlog"
    ((fails == 0))
}
