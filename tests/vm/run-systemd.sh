#!/bin/bash
# tbhelper VM test bed, systemd boot mode: run one command as root inside the
# Debian kernel of tests/vm/run.sh (TBVM_KERNEL=bookworm|trixie|sid), in a
# guest booted with systemd as PID 1.
#
#   tests/vm/run-systemd.sh [run.sh OPTIONS] -- COMMAND [ARGS...]
#
# TBVM_ROOT=DIR boots DIR (a Debian root with systemd, e.g. the Debian 13
# root of packaging/debian-root.sh) instead of the host's /: the kernel's
# modules are linked into DIR/usr/lib/modules first (hard links of
# build/vm/<release>/kernel), COMMAND is a path inside DIR.
#
# Same options, environment, output and exit status as tests/vm/run.sh (it is
# what runs the VM): COMMAND's output streams to stdout, its exit status is
# ours; 124 timeout, 125 boot failure. The kernel console (systemd's own
# messages included) ends up in build/vm-systemd/<release>/last-console.log.
#
# How: the same kernel and initramfs as tests/vm/prepare.sh builds, plus a
# second, small cpio archive appended to it that replaces the initramfs's
# /stage2.sh. Stage 1 (tests/vm/guest/init) is unchanged: it mounts the host's /
# read-only over 9p with a tmpfs overlay and runs /stage2.sh as PID 1. This
# stage 2 then prepares the overlay root for systemd and execs
# /lib/systemd/systemd:
#   - /lib/modules/<version> -> the Debian kernel's modules (as run.sh does);
#   - an empty /etc/fstab, a fresh /etc/machine-id, hostname tbvm, no
#     tmpfiles wipe of /tmp;
#   - /usr/sbin/policy-rc.d removed (a container's "exit 101" would stop dpkg
#     from starting services: this guest is a real systemd machine);
#   - default.target = tbvm.target: sysinit.target (journald, udev,
#     modules-load, tmpfiles...) and tbvm-job.service, which runs COMMAND with
#     run.sh's environment, prints run.sh's exit marker and powers off.
#     multi-user.target, getty, timers and the host's enabled services are not
#     started (the host's conntrackd, postgresql, apt timers...).
# COMMAND runs in tbvm-job.service (a system service, cgroup of its own), can
# use systemctl, journalctl, dpkg, apt-get -o offline etc. The overlay is
# writable and thrown away at power-off.
# /tmp is the host's /tmp (through the overlay; systemd-tmpfiles does not wipe
# it here), so host paths under /tmp are visible without --keep. Limitation:
# host paths under /run are not (systemd mounts its own /run).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/vm/kernel.sh
. "$here/kernel.sh"
tbvm_resolve "$repo" || exit 125
base=$TBVM_OUT
out=$repo/build/vm-systemd/$TBVM_RELEASE
groot=${TBVM_ROOT:-/}

"$here/prepare.sh" --quiet || { echo "run-systemd.sh: tests/vm/prepare.sh failed" >&2; exit 125; }
for f in "$base/kernel-version" "$base/initramfs.cpio.gz"; do
    [ -f "$f" ] || { echo "run-systemd.sh: $f missing after prepare.sh" >&2; exit 125; }
done
[ -x "${groot%/}/lib/systemd/systemd" ] || {
    echo "run-systemd.sh: $groot/lib/systemd/systemd missing (apt-get install systemd)" >&2
    exit 125
}

mkdir -p "$out/overlay.d"
exec 9>"$out/.lock"
flock 9

# --- stage 2 for systemd ---------------------------------------------------------
cat > "$out/overlay.d/stage2.sh" <<'STAGE2'
#!/bin/bash
# tbhelper VM test bed, systemd stage 2 (tests/vm/run-systemd.sh): PID 1 in the
# overlay root. Prepares the root for systemd and execs it.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
say() { echo "tbvm-systemd: $*" >/dev/console 2>/dev/null || echo "tbvm-systemd: $*"; }
fail() {
    say "FATAL: $*"
    echo "TBVM-BOOT-FAILED: $*" > /dev/ttyS1 2>/dev/null
    sync; echo o > /proc/sysrq-trigger; sleep 10; exit 1
}
mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys
mount -t devtmpfs -o mode=0755 devtmpfs /dev 2>/dev/null

job=""
for w in $(cat /proc/cmdline); do
    case "$w" in tbvm.job=*) job=${w#tbvm.job=} ;; esac
done
[ -n "$job" ] || fail "no tbvm.job= on the kernel command line"
mkdir -p /.tbvm
cp "$job" /.tbvm/job.sh 2>/dev/null || fail "cannot read job file $job"
TBVM_KEEP=()
# shellcheck disable=SC1091
. /.tbvm/job.sh || fail "bad job file"

kver=$(uname -r)
# TBVM_KDIR=/usr: the root has the modules in place (run.sh with TBVM_ROOT).
if [ "$TBVM_KDIR" != /usr ]; then
    rm -rf "/lib/modules/$kver"
    mkdir -p /lib/modules
    ln -s "$TBVM_KDIR/lib/modules/$kver" "/lib/modules/$kver" || fail "link /lib/modules/$kver"
fi
[ -f "/lib/modules/$kver/modules.dep" ] || fail "no modules.dep for $kver"

# A machine of its own, not the host's.
: > /etc/fstab
tr -d '-' < /proc/sys/kernel/random/uuid > /etc/machine-id
echo tbvm > /etc/hostname
rm -f /usr/sbin/policy-rc.d
ln -sf /proc/self/mounts /etc/mtab
# /tmp stays the host's (read-only lower layer): no "D /tmp" wipe at boot by
# systemd-tmpfiles (it would also take 15 s over 9p).
mkdir -p /etc/tmpfiles.d
ln -sf /dev/null /etc/tmpfiles.d/tmp.conf

# The job service and the target that replaces multi-user.target.
{
    printf 'TBVM_MARK=%q\n' "$TBVM_MARK"
    printf 'TBVM_CWD=%q\n' "$TBVM_CWD"
    printf 'TBVM_ENV=('; printf '%q ' "${TBVM_ENV[@]}"; printf ')\n'
    printf 'TBVM_CMD=('; printf '%q ' "${TBVM_CMD[@]}"; printf ')\n'
} > /.tbvm/job-systemd.sh
cat > /.tbvm/run-job.sh <<'RUNJOB'
#!/bin/bash
# Runs the job (tbvm-job.service), prints run.sh's markers on ttyS1, powers off.
. /.tbvm/job-systemd.sh
stty -F /dev/ttyS1 raw -echo 2>/dev/null
echo "TBVM-$TBVM_MARK-BOOTED" > /dev/ttyS1
echo "tbvm-systemd: running job in ${TBVM_CWD}: ${TBVM_CMD[*]}" > /dev/console
(
    cd "$TBVM_CWD" || exit 126
    exec env -i "${TBVM_ENV[@]}" "${TBVM_CMD[@]}"
) </dev/null >/dev/ttyS1 2>&1
rc=$?
echo "tbvm-systemd: job exited with $rc" > /dev/console
printf 'TBVM-%s-EXIT:%d\n' "$TBVM_MARK" "$rc" > /dev/ttyS1
stty -F /dev/ttyS1 raw -echo 2>/dev/null
sleep 0.2
sync
echo o > /proc/sysrq-trigger
RUNJOB
chmod 0755 /.tbvm/run-job.sh
u=/etc/systemd/system
cat > $u/tbvm-job.service <<'UNIT'
[Unit]
Description=tbvm test job (tests/vm/run-systemd.sh)
Requires=sysinit.target
After=sysinit.target sockets.target
[Service]
Type=exec
ExecStart=/.tbvm/run-job.sh
TimeoutStartSec=infinity
# The job's processes (daemons it starts outside systemd) die with it.
KillMode=control-group
UNIT
cat > $u/tbvm.target <<'UNIT'
[Unit]
Description=tbvm test target (tests/vm/run-systemd.sh)
Requires=sysinit.target tbvm-job.service
Wants=sockets.target
After=sysinit.target
AllowIsolate=yes
UNIT
ln -sf tbvm.target $u/default.target
# Units that only slow a test machine down or need hardware it lacks.
for m in systemd-timesyncd.service systemd-pstore.service systemd-firstboot.service \
         systemd-repart.service systemd-binfmt.service proc-sys-fs-binfmt_misc.automount \
         systemd-random-seed.service systemd-update-utmp.service \
         apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
         fstrim.timer man-db.timer getty.target serial-getty@ttyS0.service \
         conntrackd.service; do
    ln -sf /dev/null "$u/$m"
done

umount /sys 2>/dev/null
umount /proc 2>/dev/null
say "exec /lib/systemd/systemd"
exec /lib/systemd/systemd
fail "exec /lib/systemd/systemd failed"
STAGE2
chmod 0755 "$out/overlay.d/stage2.sh"

# --- initramfs: prepare.sh's + an archive that replaces /stage2.sh -----------------
key=$( { sha256sum "$base/initramfs.cpio.gz"; sha256sum "$out/overlay.d/stage2.sh"; } | sha256sum | cut -d' ' -f1 )
if [ ! -f "$out/initramfs.cpio.gz" ] || [ "$(cat "$out/initramfs.key" 2>/dev/null)" != "$key" ]; then
    ( cd "$out/overlay.d" && printf 'stage2.sh\n' | cpio -o -H newc --owner=0:0 --quiet ) \
        | gzip -1 > "$out/overlay.cpio.gz"
    # The kernel unpacks concatenated archives in order; later files win.
    cat "$base/initramfs.cpio.gz" "$out/overlay.cpio.gz" > "$out/initramfs.cpio.gz.tmp"
    mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
    echo "$key" > "$out/initramfs.key"
fi
cp "$base/kernel-version" "$out/kernel-version"
cp "$base/release" "$out/release" 2>/dev/null || echo "$TBVM_RELEASE" > "$out/release"
ln -sfn "$(realpath "$base/kernel")" "$out/kernel"
if [ "$groot" != / ]; then
    kver=$(cat "$base/kernel-version")
    mdir=${groot%/}/usr/lib/modules/$kver
    if [ ! -f "$mdir/modules.dep" ]; then
        rm -rf "$mdir.tmp" && mkdir -p "$(dirname "$mdir")"
        cp -al "$(realpath "$base/kernel/lib/modules/$kver")" "$mdir.tmp" 2>/dev/null \
            || cp -a "$(realpath "$base/kernel/lib/modules/$kver")" "$mdir.tmp"
        rm -f "$mdir.tmp/vmlinuz"
        mv "$mdir.tmp" "$mdir"
    fi
fi
exec 9>&-

# A slower boot than busybox's: give run.sh's default timeout some room.
export TBVM_BUILD_DIR=$out
export TBVM_TIMEOUT=${TBVM_TIMEOUT:-900}
export TBVM_APPEND="${TBVM_APPEND:+$TBVM_APPEND }systemd.show_status=1 systemd.log_color=0"
exec "$here/run.sh" --no-prepare "$@"
