# Shared helpers for the tbsim loopback tests (sourced, not run: no .sh suffix,
# so tests/check.sh does not pick it up). Every test runs from the repo root
# after `make`, starts its hosts in the background on unprivileged ports and
# kills exactly those hosts on exit.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

TBSIM=${TBSIM:-build/tbsim}
if [[ ! -x $TBSIM ]]; then
    echo "FAIL: $TBSIM is not built (run make build/tbsim)"
    exit 1
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tbsim-test.XXXXXX")
declare -A HOST_PID=()
CHECKS=0

cleanup() {
    local name
    for name in "${!HOST_PID[@]}"; do
        kill "${HOST_PID[$name]}" 2>/dev/null || true
    done
    for name in "${!HOST_PID[@]}"; do
        wait "${HOST_PID[$name]}" 2>/dev/null || true
    done
    if [[ ${KEEP_WORK:-0} == 1 ]]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    local f
    for f in "$WORK"/*.log "$WORK"/*.out; do
        [[ -e $f ]] || continue
        echo "---- $f"
        tail -n 30 "$f"
    done
    exit 1
}
pass() {
    CHECKS=$((CHECKS + 1))
    echo "ok: $*"
}
done_all() { echo "PASS: $CHECKS checks"; exit 0; }

# Skip (exit 77) unless we may bind privileged ports (legacy ports 1417-1420).
need_root() {
    if [[ $(id -u) -ne 0 ]]; then
        echo "SKIP: needs root to bind TCP $1"
        exit 77
    fi
}

# wait_for FILE FIXED-STRING SECONDS: bounded wait for a line in a log.
wait_for() {
    local file=$1 text=$2 secs=${3:-5} i
    for ((i = 0; i < secs * 10; i++)); do
        grep -qF -- "$text" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# start_host NAME ARGS...: a background host logging to $WORK/NAME.log,
# ready once it printed "host: ready".
start_host() {
    local name=$1
    shift
    "$TBSIM" host "$@" >"$WORK/$name.log" 2>&1 &
    HOST_PID[$name]=$!
    echo "started: tbsim host $* (pid ${HOST_PID[$name]})"
    wait_for "$WORK/$name.log" "host: ready" 5 || fail "host $name did not become ready"
}

# stop_host NAME: SIGTERM, then its exit status in HOST_RC.
stop_host() {
    local name=$1
    kill "${HOST_PID[$name]}" 2>/dev/null || true
    wait "${HOST_PID[$name]}" 2>/dev/null
    HOST_RC=$?
    unset "HOST_PID[$name]"
}

# wait_host NAME SECONDS: waits for a host that exits by itself (--sessions,
# --timeout); its exit status in HOST_RC; fails when it does not exit in time.
wait_host() {
    local name=$1 secs=$2 i pid=${HOST_PID[$1]}
    for ((i = 0; i < secs * 10; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null
            HOST_RC=$?
            unset "HOST_PID[$name]"
            return 0
        fi
        sleep 0.1
    done
    fail "host $name still running after ${secs}s"
}

# guest NAME EXPECTED-RC ARGS...: runs a guest, output (stdout+stderr) in $WORK/NAME.out.
guest() {
    local name=$1 want=$2 rc
    shift 2
    echo "run: tbsim guest $*"
    "$TBSIM" guest "$@" >"$WORK/$name.out" 2>&1
    rc=$?
    sed 's/^/    | /' "$WORK/$name.out"
    [[ $rc == "$want" ]] || fail "guest $name exited $rc, expected $want"
    pass "guest $name exited $rc"
}

# has FILE FIXED-LINE: the file holds exactly this line.
has() {
    grep -qxF -- "$2" "$1" || fail "$(basename "$1") lacks the line: $2"
    pass "$(basename "$1"): $2"
}
# has_re FILE EXTENDED-REGEX (anchored by the caller if needed)
has_re() {
    grep -qE -- "$2" "$1" || fail "$(basename "$1") has no line matching: $2"
    pass "$(basename "$1") ~ $2"
}
# lacks_re FILE EXTENDED-REGEX
lacks_re() {
    if grep -qE -- "$2" "$1"; then fail "$(basename "$1") unexpectedly matches: $2"; fi
    pass "$(basename "$1") has no: $2"
}
# count_re FILE REGEX N
count_re() {
    local n
    n=$(grep -cE -- "$2" "$1")
    [[ $n == "$3" ]] || fail "$(basename "$1"): $n lines match $2, expected $3"
    pass "$(basename "$1"): $3 x $2"
}
