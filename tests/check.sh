#!/usr/bin/env bash
# `make check`: every test of the project, in order of cost. Each entry is one
# line PASS/FAIL/SKIP; a failing entry shows the end of its log (full logs in
# build/test-logs/). The last line is "N passed, N failed, N skipped".
# A skipped entry (no root, no QEMU) fails the run unless TB_ALLOW_SKIP=1:
# CI must run everything.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD
logs=$top/build/test-logs
mkdir -p "$logs"
passed=0 failed=0 skipped=0
failures=()

run() {  # run NAME COMMAND...
    local name=$1; shift
    local log=$logs/${name//\//_}.log
    local start=$SECONDS rc
    printf '%-48s ' "$name"
    "$@" >"$log" 2>&1 </dev/null
    rc=$?
    if ((rc == 0)); then
        printf 'PASS  (%ds)\n' $((SECONDS - start)); passed=$((passed + 1))
    elif ((rc == 77)); then
        printf 'SKIP  (%ds) %s\n' $((SECONDS - start)) "$(tail -n 1 "$log")"; skipped=$((skipped + 1))
        failures+=("$name (skipped)")
    else
        printf 'FAIL  (%ds, exit %d)\n' $((SECONDS - start)) "$rc"; failed=$((failed + 1))
        failures+=("$name")
        echo "---- last lines of $log ----"
        tail -n 40 "$log" | sed 's/^/    /'
        echo "----"
    fi
}

only=${TB_CHECK_ONLY:-}   # e.g. TB_CHECK_ONLY=kernel to run one section
want() { [[ -z $only || $only == *"$1"* ]]; }

if want unit; then
    run unit/engine build/unit-tests
fi
if want sim; then
    for t in tests/integration/*.sh; do
        [[ -e $t ]] || continue
        run "sim/$(basename "$t" .sh)" "$t"
    done
fi
if want fuzz; then
    run fuzz make --no-print-directory fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
fi
if want kernel; then
    for t in tests/kernel/[0-9]*.sh; do
        [[ -e $t ]] || continue
        run "kernel/$(basename "$t" .sh)" tests/kernel/run-scenario.sh "$t"
    done
fi
if want package; then
    for t in tests/package/[0-9]*.sh; do
        [[ -e $t ]] || continue
        run "package/$(basename "$t" .sh)" "$t"
    done
fi

echo
if ((${#failures[@]})); then
    echo "not passing: ${failures[*]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
if ((failed > 0)); then exit 1; fi
if ((skipped > 0)) && [[ ${TB_ALLOW_SKIP:-0} != 1 ]]; then
    echo "check: $skipped entries were skipped; they count as failures (set TB_ALLOW_SKIP=1 to accept that locally)" >&2
    exit 1
fi
exit 0
