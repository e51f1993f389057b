#!/bin/bash
# Run one kernel scenario where it can run:
#
#   tests/kernel/run-scenario.sh [--vm | --direct] tests/kernel/20-tcp-contact.sh
#
# - Inside the VM test bed (TBVM=1), or on a kernel that can register
#   userspace conntrack helpers (nfnetlink_cthelper loaded or loadable: any
#   Debian/Ubuntu/Fedora kernel), as root: the scenario runs right here, in
#   network namespaces (tbg, tbfw, tbh; they must be free).
# - Otherwise (this project's sandbox kernel has no nfnetlink_cthelper): the
#   scenario runs as root inside a Debian kernel under QEMU (Debian 12's, or
#   TBVM_KERNEL=trixie|sid), tests/vm/run.sh -- bash SCENARIO. One VM boot
#   per scenario; tests/kernel/run-all.sh runs many in one boot.
# - Neither possible (not root, no prepared VM): a loud line, exit 77 (skip;
#   tests/check.sh counts a skip as a failure unless TB_ALLOW_SKIP=1).
#
#   --vm / --direct       force one way (env TBTEST_MODE=vm|direct)
#   TBTEST_TIMEOUT=S      whole scenario, VM boot included (default 300)
# Exit status: the scenario's (0 pass, 1 fail, 77 skip), 124 timeout,
# 125 the VM did not boot.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
mode=${TBTEST_MODE:-auto}
timeout=${TBTEST_TIMEOUT:-300}

loud() {
    echo "########################################################################"
    local l; for l in "$@"; do echo "### run-scenario: $l"; done
    echo "########################################################################"
}
# A skip: the loud block, then one plain last line (tests/check.sh shows the
# last line of a skipped entry's log).
skip() { loud "$@"; echo "run-scenario: $1"; exit 77; }
usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --vm) mode=vm; shift ;;
        --direct) mode=direct; shift ;;
        -h|--help) usage ;;
        -*) echo "run-scenario: unknown option $1" >&2; usage ;;
        *) break ;;
    esac
done
[ $# -eq 1 ] || usage
scenario=$(realpath -- "$1") || exit 2
[ -f "$scenario" ] || { echo "run-scenario: no such scenario: $1" >&2; exit 2; }
name=$(basename "$scenario" .sh)
root=0; [ "$(id -u)" = 0 ] && root=1

helper_kernel() {
    [ -d /sys/module/nfnetlink_cthelper ] && return 0
    ((root)) || return 1
    modprobe -q nfnetlink_cthelper 2>/dev/null && [ -d /sys/module/nfnetlink_cthelper ]
}

if [ "$mode" = auto ]; then
    if [ -n "${TBVM:-}" ] || helper_kernel; then mode=direct; else mode=vm; fi
fi

start=$SECONDS
case "$mode" in
direct)
    if ! ((root)); then
        skip "SKIP $name: needs root to create network namespaces and load modules" \
             "(kernel $(uname -r)); run as root, e.g. sudo make check"
    fi
    if [ -z "${TBVM:-}" ] && ! helper_kernel; then
        loud "FAIL $name: --direct on kernel $(uname -r) without nfnetlink_cthelper" \
             "(CONFIG_NF_CT_NETLINK_HELPER); use --vm"
        exit 1
    fi
    echo "run-scenario: $name directly on kernel $(uname -r)${TBVM:+ (inside the VM test bed)}"
    # One scenario at a time on a machine: the namespace names are fixed and
    # the helper registration is global.
    lock=/run/tbhelper-kernel-tests.lock
    [ -n "${TBVM:-}" ] && lock=/tmp/tbhelper-kernel-tests.lock
    exec 9>"$lock"
    if ! flock -w 300 9; then
        loud "FAIL $name: another kernel scenario holds $lock for more than 300 s"
        exit 1
    fi
    # SIGTERM at the limit: the scenario's trap cleans up; KILL 15 s later.
    timeout -k 15 "$timeout" bash "$scenario"
    rc=$?
    ;;
vm)
    if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
        skip "SKIP $name: kernel $(uname -r) cannot register userspace helpers" \
             "(no nfnetlink_cthelper) and qemu-system-x86_64 is missing: run 'make deps'"
    fi
    vmargs=(--timeout "$timeout" --keep "$repo")
    if ! ((root)); then
        # tests/vm/prepare.sh needs root; a test bed prepared earlier still works.
        vmdir=$( . "$repo/tests/vm/kernel.sh"; tbvm_resolve "$repo" && echo "$TBVM_OUT") || exit 2
        if [ -s "$vmdir/kernel-version" ] && [ -s "$vmdir/initramfs.cpio.gz" ] && [ -w "$vmdir" ]; then
            vmargs+=(--no-prepare)
        elif [ -s "$vmdir/kernel-version" ]; then
            skip "SKIP $name: not root, and the VM test bed in $vmdir is not writable" \
                 "by $(id -un): run as root (sudo make check) or chown it"
        else
            skip "SKIP $name: kernel $(uname -r) cannot register userspace helpers," \
                 "the VM test bed is not prepared and preparing it needs root:" \
                 "run 'sudo tests/vm/prepare.sh' once (or make check as root)"
        fi
    fi
    echo "run-scenario: $name in the VM test bed, ${TBVM_KERNEL:-bookworm}'s kernel (kernel $(uname -r) here has no nfnetlink_cthelper)"
    "$repo/tests/vm/run.sh" "${vmargs[@]}" -- bash "$scenario"
    rc=$?
    case $rc in
        124) loud "FAIL $name: timed out after $timeout s in the VM (TBTEST_TIMEOUT)" ;;
        125) loud "FAIL $name: the VM test bed (${TBVM_KERNEL:-bookworm}'s kernel) did not boot or died (build/vm/${TBVM_KERNEL:-bookworm}/last-console.log)" ;;
    esac
    ;;
*)
    echo "run-scenario: TBTEST_MODE must be auto, vm or direct" >&2
    exit 2
    ;;
esac
echo "run-scenario: $name exit $rc after $((SECONDS - start)) s ($mode)"
exit "$rc"
