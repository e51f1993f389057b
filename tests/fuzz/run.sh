#!/usr/bin/env bash
# Runs each libFuzzer binary for SECONDS with its seed corpus; fails on any
# finding (crash, sanitizer report, leak, timeout).
set -euo pipefail
seconds=$1; shift
top=$(cd "$(dirname "$0")/../.." && pwd)
for bin in "$@"; do
    # The fuzzer runs inside build/fuzz (crash files land there): make the path absolute first.
    bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
    name=$(basename "$bin")
    corpus=$top/build/fuzz/corpus-$name
    seeds=$top/tests/fuzz/seeds/$name
    mkdir -p "$corpus"
    [[ -d $seeds ]] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
    echo "fuzz: $name for ${seconds}s"
    ( cd "$top/build/fuzz" && "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -print_final_stats=1 "$corpus" )
done
