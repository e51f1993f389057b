#!/bin/bash
# tbhelper VM test bed, stage 2: PID 1 in the overlay root (host / read-only
# over 9p + tmpfs upper). Sets up /proc /sys /dev /run /tmp and
# /lib/modules/<ver>, runs the job written by tests/vm/run.sh with its output on
# ttyS1 (streamed live to the host's stdout), prints the exit marker there and
# powers off. Diagnostics go to the kernel console (ttyS0 -> last-console.log).
# Not `set -e`: PID 1 must always reach the power-off at the end.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

say() { echo "tbvm-stage2: $*" >/dev/console 2>/dev/null || echo "tbvm-stage2: $*"; }

poweroff_now() {
    sync
    echo o > /proc/sysrq-trigger
    sleep 10
    # Still here (no ACPI?): leaving PID 1 panics, panic=-1 + -no-reboot ends qemu.
    exit 1
}

fail() {
    say "FATAL: $*"
    echo "TBVM-BOOT-FAILED: $*" > /dev/ttyS1 2>/dev/null
    stty -F /dev/ttyS1 raw -echo 2>/dev/null   # drains the output
    poweroff_now
}

mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys
mount -t devtmpfs -o mode=0755 devtmpfs /dev || fail "mount /dev"
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=000 devpts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || ln -s /proc/self/fd/0 /dev/stdin
[ -e /dev/stdout ] || ln -s /proc/self/fd/1 /dev/stdout
[ -e /dev/stderr ] || ln -s /proc/self/fd/2 /dev/stderr
mountpoint -q /sys/fs/cgroup 2>/dev/null || mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null

job=""
for w in $(cat /proc/cmdline); do
    case "$w" in tbvm.job=*) job=${w#tbvm.job=} ;; esac
done
[ -n "$job" ] || fail "no tbvm.job= on the kernel command line"
# Copy the job before /tmp and /run get their own tmpfs: it may live there.
cp "$job" /.tbvm/job.sh 2>/dev/null || fail "cannot read job file $job"

# The job defines: TBVM_MARK TBVM_KDIR TBVM_KVER TBVM_CWD and the arrays
# TBVM_KEEP (host paths under /tmp or /run to keep visible), TBVM_ENV, TBVM_CMD.
TBVM_KEEP=()
# shellcheck disable=SC1091
. /.tbvm/job.sh || fail "bad job file"

# Paths under /tmp and /run that must stay visible: bind them aside first.
mkdir -p /.tbvm/keep
i=0
for p in "${TBVM_KEEP[@]}"; do
    mkdir -p "/.tbvm/keep/$i"
    mount --bind "$p" "/.tbvm/keep/$i" || fail "bind $p"
    i=$((i + 1))
done
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run || fail "mount /run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp || fail "mount /tmp"
mkdir -p /run/lock
i=0
for p in "${TBVM_KEEP[@]}"; do
    mkdir -p "$p" && mount --move "/.tbvm/keep/$i" "$p" || fail "keep $p"
    i=$((i + 1))
done

# Modules first of all: the kernel autoloads nf_tables expressions etc. through
# /sbin/modprobe, which looks in /lib/modules/$(uname -r).
kver=$(uname -r)
[ "$kver" = "$TBVM_KVER" ] || say "warning: running $kver, job expects $TBVM_KVER"
# TBVM_KDIR=/usr: the root has the modules in place (run.sh with TBVM_ROOT).
if [ "$TBVM_KDIR" != /usr ]; then
    mkdir -p /lib/modules || fail "mkdir /lib/modules"
    rm -rf "/lib/modules/$kver"
    ln -s "$TBVM_KDIR/lib/modules/$kver" "/lib/modules/$kver" || fail "link /lib/modules/$kver"
fi
[ -f "/lib/modules/$kver/modules.dep" ] || fail "no modules.dep under $TBVM_KDIR/lib/modules/$kver"
echo /sbin/modprobe > /proc/sys/kernel/modprobe 2>/dev/null

hostname tbvm 2>/dev/null
ip link set lo up 2>/dev/null
: > /etc/mtab 2>/dev/null || true
ln -sf /proc/self/mounts /etc/mtab 2>/dev/null

# Command output: raw tty (no \n -> \r\n), no echo.
stty -F /dev/ttyS1 raw -echo 2>/dev/null
echo "TBVM-$TBVM_MARK-BOOTED" > /dev/ttyS1
say "running job in ${TBVM_CWD}: ${TBVM_CMD[*]}"

(
    cd "$TBVM_CWD" || exit 126
    exec env -i "${TBVM_ENV[@]}" "${TBVM_CMD[@]}"
) </dev/null >/dev/ttyS1 2>&1
rc=$?

say "job exited with $rc"
printf 'TBVM-%s-EXIT:%d\n' "$TBVM_MARK" "$rc" > /dev/ttyS1
# stty sets the attributes with TCSADRAIN: returns once the marker is out.
stty -F /dev/ttyS1 raw -echo 2>/dev/null
sleep 0.2
poweroff_now
