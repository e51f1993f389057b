#!/usr/bin/env bash
# `make check`: every test of the project, in order of cost. Each entry is one
# line PASS/FAIL/SKIP; a failing entry shows the end of its log (full logs in
# build/test-logs/). Each kernel scenario on each kernel of the matrix
# (tests/kernel/kernels.txt: Debian 13's and Debian 12's kernels run every
# scenario, unstable's newest a named subset; one VM boot per kernel,
# tests/kernel/run-all.sh) is an entry of its own: kernel/<release>/<name>.
# Each section ends with its time; the last lines are the table of section
# times and "N passed, N failed, N skipped".
#   TB_CHECK_ONLY=unit|sim|fuzz|kernel|package   (several: "kernel package")
#   TB_KERNELS="trixie sid"   only these kernels of the matrix
#   TB_KERNEL_JOBS=N          kernels booted at the same time (default 2, each
#                             then with TBVM_SMP=1 unless TBVM_SMP is set)
#   FUZZ_SECONDS=S            each fuzz target's time (default 30)
#   TB_CHECK_SKIP_FIREWALL_MANAGERS=1   no package/firewall-managers-vm (a SKIP)
# A skipped entry (no root, no QEMU) fails the run unless TB_ALLOW_SKIP=1:
# CI must run everything.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD
logs=$top/build/test-logs
mkdir -p "$logs"
passed=0 failed=0 skipped=0
failures=()

record() { # NAME RC SECONDS LOG [NOTE]: one entry's line
    local name=$1 rc=$2 secs=$3 log=$4 note=${5:-}
    printf '%-48s ' "$name"
    if ((rc == 0)); then
        printf 'PASS  (%ds%s)\n' "$secs" "${note:+, $note}"; passed=$((passed + 1))
    elif ((rc == 77)); then
        printf 'SKIP  (%ds) %s\n' "$secs" "$(tail -n 1 "$log")"; skipped=$((skipped + 1))
        failures+=("$name (skipped)")
    else
        printf 'FAIL  (%ds, exit %d%s)\n' "$secs" "$rc" "${note:+, $note}"; failed=$((failed + 1))
        failures+=("$name")
        echo "---- last lines of $log ----"
        tail -n 40 "$log" | sed 's/^/    /'
        echo "----"
    fi
}
run() {  # run NAME COMMAND...
    local name=$1; shift
    local log=$logs/${name//\//_}.log
    local start=$SECONDS rc
    "$@" >"$log" 2>&1 </dev/null
    rc=$?
    record "$name" "$rc" $((SECONDS - start)) "$log"
}
sections=()
section_start() { section_name=$1; section_t0=$SECONDS; echo "== $1"; }
section_end() {
    local t=$((SECONDS - section_t0))
    echo "== $section_name: $t s"
    sections+=("$(printf '%-10s %5d s' "$section_name" "$t")")
}
t_all=$SECONDS

only=${TB_CHECK_ONLY:-}   # e.g. TB_CHECK_ONLY=kernel to run one section
want() { [[ -z $only || $only == *"$1"* ]]; }
version=$(tr -d '[:space:]' < VERSION)

# The Debian 13 package is built in the background from the start (the
# debootstrap of its build root is mostly network and dpkg), beside the fuzz
# and kernel sections; the package section waits for it.
prebuild_pid=""
if want package && [[ $(id -u) -eq 0 ]]; then
    rm -f "$logs/package_prebuild-deb13.rc"
    ( make --no-print-directory deb DIST=trixie > "$logs/package_prebuild-deb13.log" 2>&1; echo $? > "$logs/package_prebuild-deb13.rc" ) </dev/null &
    prebuild_pid=$!
fi

if want unit; then
    section_start unit
    run unit/engine build/unit-tests
    section_end
fi
if want sim; then
    section_start sim
    for t in tests/integration/*.sh; do
        [[ -e $t ]] || continue
        run "sim/$(basename "$t" .sh)" "$t"
    done
    section_end
fi
if want fuzz; then
    section_start fuzz
    run fuzz make --no-print-directory -j"${JOBS:-$(nproc)}" fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-30}" FUZZ_JOBS="${JOBS:-$(nproc)}"
    section_end
fi

# The kernel matrix: one tests/kernel/run-all.sh (one VM boot) per kernel,
# TB_KERNEL_JOBS of them at a time; each scenario's result becomes an entry
# as soon as it is known.
matrix=()
while read -r rel rest; do
    [[ -z $rel || $rel == \#* ]] && continue
    [[ -n ${TB_KERNELS:-} && " $TB_KERNELS " != *" $rel "* ]] && continue
    matrix+=("$rel")
done < tests/kernel/kernels.txt
# Two kernels at a time, one vCPU each: on a 2-core machine two 1-vCPU
# guests keep both cores busy, where one guest running the scenarios' mostly
# serial shell work keeps about one busy (docs/kernel-tests.md, "Time").
kernel_section() {
    local jobs=${TB_KERNEL_JOBS:-2} next=0 rel i n rc secs kver line
    if ((jobs > 1)) && [[ -z ${TBVM_SMP:-} ]]; then local -x TBVM_SMP=1; fi
    local -A pid=() seen=() t0=()
    local active=0
    while ((next < ${#matrix[@]} || active > 0)); do
        while ((active < jobs && next < ${#matrix[@]})); do
            rel=${matrix[next]}; next=$((next + 1))
            : > "$logs/kernel-$rel.results"
            t0[$rel]=$SECONDS
            tests/kernel/run-all.sh --kernel "$rel" --logs "$logs" --results "$logs/kernel-$rel.results" \
                > "$logs/kernel-$rel.log" 2>&1 </dev/null &
            pid[$rel]=$!; seen[$rel]=0; active=$((active + 1))
        done
        sleep 2
        for rel in "${!pid[@]}"; do
            n=0
            while read -r line; do
                n=$((n + 1))
                ((n <= seen[$rel])) && continue
                read -r i rc secs kver <<<"$line"
                record "kernel/$rel/$i" "$rc" "$secs" "$logs/${rel}_$i.log" "$kver"
                seen[$rel]=$n
            done < "$logs/kernel-$rel.results"
            if ! kill -0 "${pid[$rel]}" 2>/dev/null; then
                wait "${pid[$rel]}"; rc=$?
                # A runner that reported nothing (prepare failed, bad list) is an entry too.
                if ((seen[$rel] == 0)); then
                    record "kernel/$rel" "$((rc == 0 ? 1 : rc))" $((SECONDS - t0[$rel])) "$logs/kernel-$rel.log" "no scenario ran"
                fi
                echo "   kernel $rel: $(tail -n 1 "$logs/kernel-$rel.log")"
                unset "pid[$rel]"; active=$((active - 1))
            fi
        done
    done
}
if want kernel; then
    section_start kernel
    kernel_section
    section_end
fi
if want package; then
    section_start package
    if [[ -n $prebuild_pid ]]; then
        pb_t0=$SECONDS
        wait "$prebuild_pid"
        echo "   (the Debian 13 package, built alongside the earlier sections: exit $(cat "$logs/package_prebuild-deb13.rc" 2>/dev/null || echo ?); waited $((SECONDS - pb_t0)) s for it here)"
    fi
    # firewalld and ufw next to the package (docs/firewall-managers.md#tested)
    # run in a VM of their own beside the other package tests, once
    # package/10-deb has built the Debian 12 package both use: two 1-vCPU
    # guests keep both cores busy, as in the kernel section.
    # TB_CHECK_SKIP_FIREWALL_MANAGERS=1 skips it locally: then it is a SKIP
    # entry, which fails the run unless TB_ALLOW_SKIP=1.
    fw_pid="" fw_started=0 fwlog=$logs/package_firewall-managers-vm.log
    start_firewall_managers() {
        if [[ ${TB_CHECK_SKIP_FIREWALL_MANAGERS:-0} == 1 ]]; then
            echo "skipped: TB_CHECK_SKIP_FIREWALL_MANAGERS=1" > "$fwlog"
            return
        fi
        fw_t0=$SECONDS
        ( if [[ -z ${TBVM_SMP:-} ]]; then export TBVM_SMP=1; fi
          tests/package/firewall-managers-vm.sh > "$fwlog" 2>&1 </dev/null ) &
        fw_pid=$!
    }
    for t in tests/package/[0-9]*.sh; do
        [[ -e $t ]] || continue
        # Beside the firewall managers' guest, one vCPU each (unless TBVM_SMP is set).
        smp=${TBVM_SMP:-}
        [[ -n $fw_pid && -z $smp ]] && smp=1
        TBVM_SMP=$smp run "package/$(basename "$t" .sh)" "$t"
        if [[ $(basename "$t") == 10-deb.sh ]] && ((fw_started == 0)); then
            start_firewall_managers; fw_started=1
        fi
    done
    ((fw_started)) || start_firewall_managers
    if [[ -n $fw_pid ]]; then
        wait "$fw_pid"; fw_rc=$?
        record "package/firewall-managers-vm" "$fw_rc" $((SECONDS - fw_t0)) "$fwlog" "beside the others"
    else
        record "package/firewall-managers-vm" 77 0 "$fwlog"
    fi
    section_end
fi

echo
if ((${#failures[@]})); then
    echo "not passing: ${failures[*]}"
fi
echo "section times:"
for l in "${sections[@]+"${sections[@]}"}"; do echo "  $l"; done
echo "  total      $(printf '%5d' $((SECONDS - t_all))) s"
echo "$passed passed, $failed failed, $skipped skipped"
if ((failed > 0)); then exit 1; fi
if ((skipped > 0)) && [[ ${TB_ALLOW_SKIP:-0} != 1 ]]; then
    echo "check: $skipped entries were skipped; they count as failures (set TB_ALLOW_SKIP=1 to accept that locally)" >&2
    exit 1
fi
exit 0
