#!/usr/bin/env bash
# Runs each libFuzzer binary for SECONDS with its seed corpus; fails on any
# finding (crash, sanitizer report, leak, timeout).
#   FUZZ_JOBS=N   targets fuzzed at the same time (default 1; make check: one
#                 per core). Each target's output is kept apart and printed
#                 whole, in the order given, once it has finished.
set -euo pipefail
seconds=$1; shift
jobs=${FUZZ_JOBS:-1}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: FUZZ_JOBS must be a positive number, not '$jobs'" >&2; exit 2; }
top=$(cd "$(dirname "$0")/../.." && pwd)
outdir=$top/build/fuzz/logs
mkdir -p "$outdir"

fuzz_one() {  # BIN: one target, its output in $outdir/NAME.log, its exit status in NAME.rc
    local bin=$1 name corpus seeds rc
    # The fuzzer runs inside build/fuzz (crash files land there): make the path absolute first.
    bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
    name=$(basename "$bin")
    corpus=$top/build/fuzz/corpus-$name
    seeds=$top/tests/fuzz/seeds/$name
    mkdir -p "$corpus"
    [[ -d $seeds ]] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
    rc=0
    ( cd "$top/build/fuzz" && "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -print_final_stats=1 "$corpus" ) > "$outdir/$name.log" 2>&1 || rc=$?
    echo "$rc" > "$outdir/$name.rc"
}

names=()
running=0
for bin in "$@"; do
    name=$(basename "$bin")
    names+=("$name")
    rm -f "$outdir/$name.rc"
    echo "fuzz: $name for ${seconds}s"
    fuzz_one "$bin" &
    running=$((running + 1))
    if ((running >= jobs)); then wait -n || true; running=$((running - 1)); fi
done
wait || true

failed=0
for name in "${names[@]}"; do
    rc=$(cat "$outdir/$name.rc" 2>/dev/null || echo "no status")
    echo "==== fuzz: $name (exit $rc)"
    cat "$outdir/$name.log"
    [[ $rc == 0 ]] || { echo "fuzz: $name FAILED (exit $rc)"; failed=1; }
done
exit "$failed"
