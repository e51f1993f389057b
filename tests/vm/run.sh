#!/bin/bash
# tbhelper VM test bed: run one command as root inside a Debian kernel.
#
#   [TBVM_KERNEL=bookworm|trixie|sid] tests/vm/run.sh [OPTIONS] -- COMMAND [ARGS...]
#
#   TBVM_KERNEL         Debian 12's kernel (default), Debian 13's, or unstable's
#                       newest (tests/vm/prepare.sh; cached in build/vm/<release>)
#   --timeout SECONDS   whole run, boot included (default 600, env TBVM_TIMEOUT)
#   --mem MB            guest memory (default 1024, env TBVM_MEM)
#   --smp N             guest CPUs (default 2, env TBVM_SMP)
#   --env NAME[=VALUE]  pass a variable into the guest (repeatable)
#   --keep PATH         keep a host path under /tmp or /run visible in the guest
#   --verbose           also stream the kernel console to stderr
#   --no-prepare        skip tests/vm/prepare.sh (it is fast when cached anyway)
#   Also: TBVM_APPEND="..." extra kernel arguments (e.g. tbvm.cache=none),
#         TBVM_CPU=qemu64 instead of -cpu max,
#         TBVM_BOOT_ATTEMPTS=N boots when the kernel panics before the
#         command has started (default 2; never once it has started),
#         TBVM_ROOT=DIR the guest's root filesystem instead of the host's /
#         (a Debian root of another release, packaging/debian-root.sh): the
#         kernel's modules must then be in DIR/usr/lib/modules/VERSION, and
#         COMMAND and the current directory are paths inside DIR.
#
# The guest runs qemu-system-x86_64 under TCG with the host's / shared read-only
# over virtio-9p and an overlay with a tmpfs upper layer on top, so COMMAND sees
# the same files at the same paths (writes stay in the guest and vanish).
# COMMAND runs as root with cwd = the current directory, PATH, HOME=/root,
# LANG=C.UTF-8, TBVM=1, and these variables passed through when set: CI,
# TBHELPER_*, TBVM_*, TBTEST_*, and the names listed in TBVM_PASS_ENV.
# Its stdout and stderr (merged) stream to stdout live. Exit status: COMMAND's,
# or 124 on timeout, 125 on boot failure / kernel panic / lost guest, with a
# loud message on stderr. Full kernel console: build/vm/last-console.log.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/vm/kernel.sh
. "$here/kernel.sh"
tbvm_resolve "$repo" || exit 2
out=$TBVM_OUT
release=$TBVM_RELEASE
groot=${TBVM_ROOT:-/}
groot=$(realpath -- "$groot")

timeout=${TBVM_TIMEOUT:-600}
mem=${TBVM_MEM:-1024}
smp=${TBVM_SMP:-2}
verbose=0
prepare=1
extra_env=()
keep_req=()

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --timeout) timeout=${2:?}; shift 2 ;;
        --timeout=*) timeout=${1#*=}; shift ;;
        --mem) mem=${2:?}; shift 2 ;;
        --mem=*) mem=${1#*=}; shift ;;
        --smp) smp=${2:?}; shift 2 ;;
        --smp=*) smp=${1#*=}; shift ;;
        --env) extra_env+=("${2:?}"); shift 2 ;;
        --env=*) extra_env+=("${1#*=}"); shift ;;
        --keep) keep_req+=("${2:?}"); shift 2 ;;
        --keep=*) keep_req+=("${1#*=}"); shift ;;
        --verbose|-v) verbose=1; shift ;;
        --no-prepare) prepare=0; shift ;;
        -h|--help) usage 0 ;;
        --) shift; break ;;
        *) echo "run.sh: unknown option $1 (the command goes after --)" >&2; usage ;;
    esac
done
[ $# -gt 0 ] || { echo "run.sh: no command given" >&2; usage; }
[[ "$timeout" =~ ^[0-9]+$ ]] && [[ "$mem" =~ ^[0-9]+$ ]] && [[ "$smp" =~ ^[0-9]+$ ]] \
    || { echo "run.sh: --timeout, --mem and --smp take numbers" >&2; exit 2; }

loud() { # message lines...
    {
        echo "########################################################################"
        for l in "$@"; do echo "### tbvm: $l"; done
        echo "########################################################################"
    } >&2
}

if [ "$prepare" = 1 ]; then
    "$here/prepare.sh" --quiet || { loud "FAILED: tests/vm/prepare.sh failed"; exit 125; }
fi
kver=$(cat "$out/kernel-version" 2>/dev/null) || { loud "FAILED: not prepared ($out/kernel-version missing)"; exit 125; }
vmlinuz=$out/kernel/boot/vmlinuz-$kver
initrd=$out/initramfs.cpio.gz
for f in "$vmlinuz" "$initrd"; do
    [ -f "$f" ] || { loud "FAILED: $f missing; run tests/vm/prepare.sh"; exit 125; }
done

mkdir -p "$out"
# Leftovers of runs that were killed with SIGKILL.
find "$out" -maxdepth 1 -name 'run.*' -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
# The job file must be visible in the guest: under the exported root.
if [ "$groot" = / ]; then
    rundir=$(mktemp -d "$out/run.XXXXXX")
else
    mkdir -p "$groot/.tbvm-run"
    find "$groot/.tbvm-run" -maxdepth 1 -name 'run.*' -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
    rundir=$(mktemp -d "$groot/.tbvm-run/run.XXXXXX")
fi
jobpath=${rundir#"${groot%/}"}
case "$rundir" in *[[:space:]]*) loud "FAILED: build dir path contains whitespace: $rundir"; exit 125 ;; esac
console=$rundir/console.log
qlog=$rundir/qemu.log
fifo=$rundir/out.fifo
mkfifo "$fifo"
mark=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

# --- paths that must stay visible under the guest's own /tmp and /run ----------
keep=()
add_keep() {
    local p
    p=$(realpath -m -- "$1")
    case "$p" in
        /tmp|/tmp/*|/run|/run/*) [ -e "$p" ] && keep+=("$p") ;;
    esac
    return 0
}
if [ "$groot" = / ]; then
    add_keep "$out"
    add_keep "$PWD"
    case "$1" in */*) add_keep "$(dirname -- "$1")" ;; esac
fi
for p in "${keep_req[@]+"${keep_req[@]}"}"; do add_keep "$p"; done
if [ "${#keep[@]}" -gt 0 ]; then
    mapfile -t keep < <(printf '%s\n' "${keep[@]}" | LC_ALL=C sort -u)
fi

# --- environment --------------------------------------------------------------
genv=(
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    HOME=/root USER=root LOGNAME=root SHELL=/bin/bash
    LANG=C.UTF-8 TERM=dumb TBVM=1 "TBVM_KERNEL=$release" "TBVM_KVER=$kver"
)
while IFS= read -r name; do
    case "$name" in
        TBVM_KERNEL|TBVM_KVER) ;;
        CI|TBHELPER_*|TBTEST_*|TBVM_*) genv+=("$name=${!name}") ;;
    esac
done < <(compgen -e)
for name in ${TBVM_PASS_ENV:-}; do
    [ -n "${!name+x}" ] && genv+=("$name=${!name}")
done
for e in "${extra_env[@]+"${extra_env[@]}"}"; do
    case "$e" in
        *=*) genv+=("$e") ;;
        *) [ -n "${!e+x}" ] && genv+=("$e=${!e}") ;;
    esac
done

{
    printf 'TBVM_MARK=%q\n' "$mark"
    if [ "$groot" = / ]; then printf 'TBVM_KDIR=%q\n' "$out/kernel"; else printf 'TBVM_KDIR=%q\n' /usr; fi
    printf 'TBVM_KVER=%q\n' "$kver"
    if [ "$groot" = / ]; then printf 'TBVM_CWD=%q\n' "$PWD"; else printf 'TBVM_CWD=%q\n' "${TBVM_CWD:-/}"; fi
    printf 'TBVM_KEEP=('; [ "${#keep[@]}" -gt 0 ] && printf '%q ' "${keep[@]}"; printf ')\n'
    printf 'TBVM_ENV=('; printf '%q ' "${genv[@]}"; printf ')\n'
    printf 'TBVM_CMD=('; printf '%q ' "$@"; printf ')\n'
} > "$rundir/job.sh"

# --- qemu ---------------------------------------------------------------------
qemu=(
    qemu-system-x86_64 -accel tcg -cpu "${TBVM_CPU:-max}" -smp "$smp" -m "$mem"
    -nographic -monitor none -no-reboot -nic none
    -kernel "$vmlinuz" -initrd "$initrd"
    -append "console=ttyS0 panic=-1 mitigations=off tbvm.job=$jobpath/job.sh tbvm.tag=tbroot${TBVM_APPEND:+ $TBVM_APPEND}"
    -virtfs "local,path=$groot,mount_tag=tbroot,security_model=none,readonly=on,multidevs=remap"
    -serial "file:$console"
    -serial file:/dev/stdout
)

qpid="" wdpid="" tailpid="" grace=""
cleanup() {
    local p
    for p in $qpid $wdpid $tailpid $grace; do kill "$p" 2>/dev/null || true; done
    [ -n "$qpid" ] && wait "$qpid" 2>/dev/null || true
    if [ -f "$console" ]; then
        { cat "$console"; [ -s "$qlog" ] && { echo "--- qemu stderr ---"; cat "$qlog"; }; } \
            > "$out/last-console.log" 2>/dev/null || true
    fi
    rm -rf "$rundir"
}
trap cleanup EXIT
trap 'loud "INTERRUPTED (SIGINT)"; exit 130' INT
trap 'loud "TERMINATED (SIGTERM)"; exit 143' TERM

t_start=$EPOCHREALTIME
# One boot of the guest: qemu, its watchdog, and the reading of its markers.
boot_guest() {
    rc="" booted="" bootfail="" t_boot="" qrc=""
    rm -f "$rundir/timed-out"
    "${qemu[@]}" </dev/null >"$fifo" 2>"$qlog" &
    qpid=$!

    # Watchdog: the whole run, boot included.
    (
        trap 'kill $sp 2>/dev/null; exit 0' TERM
        sleep "$timeout" & sp=$!
        wait "$sp"
        touch "$rundir/timed-out"
        kill -TERM "$qpid" 2>/dev/null; sleep 3; kill -KILL "$qpid" 2>/dev/null
    ) </dev/null >/dev/null 2>&1 &
    wdpid=$!

    if [ "$verbose" = 1 ]; then
        tail -n +1 -F "$console" 2>/dev/null | sed -u 's/^/[console] /' >&2 &
        tailpid=$!
    fi

    while IFS= read -r line || [ -n "$line" ]; do
        line=${line%$'\r'}
        case "$line" in
            *"TBVM-$mark-EXIT:"*)
                pre=${line%%"TBVM-$mark-EXIT:"*}
                [ -n "$pre" ] && printf '%s\n' "$pre"
                rc=${line##*"TBVM-$mark-EXIT:"}
                rc=${rc%%[!0-9]*}
                t_cmd=$(elapsed "$t_boot")
                # The guest powers off now; do not wait long if it does not.
                ( sleep 15; kill -KILL "$qpid" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
                grace=$!
                ;;
            *"TBVM-$mark-BOOTED"*)
                booted=1
                t_boot=$EPOCHREALTIME
                [ "$verbose" = 1 ] && echo "tbvm: booted $kver ($release) in $(elapsed "$t_start") s" >&2
                ;;
            "TBVM-BOOT-FAILED:"*)
                bootfail=${line#TBVM-BOOT-FAILED: }
                ;;
            *)
                printf '%s\n' "$line"
                ;;
        esac
    done < "$fifo"
    wait "$qpid" 2>/dev/null && qrc=0 || qrc=$?
    qpid=""
    kill "$wdpid" 2>/dev/null || true
    wait "$wdpid" 2>/dev/null || true
    wdpid=""
    if [ -n "$tailpid" ]; then sleep 0.3; kill "$tailpid" 2>/dev/null || true; tailpid=""; fi
    [ -n "$grace" ] && { kill "$grace" 2>/dev/null || true; grace=""; }
    return 0
}

elapsed() { # since $1 (EPOCHREALTIME), one decimal
    local a=${1/[.,]/} b=${EPOCHREALTIME/[.,]/}
    local d=$(( (b - a) / 100000 ))
    echo "$((d / 10)).$((d % 10))"
}

# A kernel that panics before the job has started (Debian 13's 6.12 kernel
# once oopsed in sched_clock_cpu 2.7 s into boot under TCG, in CI) says
# nothing about the command: boot again, loudly, up to TBVM_BOOT_ATTEMPTS
# times (default 2). Once the job has started nothing is ever repeated.
attempts=${TBVM_BOOT_ATTEMPTS:-2}
[[ "$attempts" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: TBVM_BOOT_ATTEMPTS takes a number >= 1" >&2; exit 2; }
attempt=1
while :; do
    boot_guest
    if [ -z "$rc" ] && [ -z "$booted" ] && [ ! -f "$rundir/timed-out" ] && [ "$attempt" -lt "$attempts" ] \
        && grep -q 'Kernel panic' "$console" 2>/dev/null; then
        loud "KERNEL PANIC before the job started (boot attempt $attempt of $attempts): $(grep -m1 'Kernel panic' "$console" | tr -d '\r')" \
             "the command did not run; booting again (first console kept in $out/panic-console.log)"
        tail -n 25 "$console" 2>/dev/null | sed 's/^/###   /' >&2 || true
        cp "$console" "$out/panic-console.log" 2>/dev/null || true
        attempt=$((attempt + 1))
        t_start=$EPOCHREALTIME
        continue
    fi
    break
done

boot_s=""
[ -n "$t_boot" ] && boot_s=$(awk -v a="${t_start/,/.}" -v b="${t_boot/,/.}" 'BEGIN { printf "%.1f", b - a }')
total_s=$(elapsed "$t_start")

tail_console() {
    echo "### last console lines (full log: $out/last-console.log):" >&2
    tail -n 25 "$console" 2>/dev/null | sed 's/^/###   /' >&2 || true
    [ -s "$qlog" ] && sed 's/^/###   qemu: /' "$qlog" >&2
    return 0
}

if [ -n "$rc" ]; then
    echo "tbvm: kernel $kver ($release): boot ${boot_s} s, command ${t_cmd} s, total ${total_s} s, exit $rc" >&2
    exit "$rc"
fi
if [ -f "$rundir/timed-out" ]; then
    if [ -n "$booted" ]; then
        loud "TIMEOUT: command still running after ${timeout} s (booted in ${boot_s} s); guest killed"
    else
        loud "TIMEOUT: guest did not boot within ${timeout} s; guest killed"
    fi
    tail_console
    exit 124
fi
why="guest stopped without an exit marker (qemu status $qrc)"
[ -n "$bootfail" ] && why="BOOT FAILURE: $bootfail"
grep -q 'Kernel panic' "$console" 2>/dev/null && why="KERNEL PANIC: $(grep -m1 'Kernel panic' "$console" | tr -d '\r')"
loud "$why"
tail_console
exit 125
