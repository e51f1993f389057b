#!/usr/bin/env bash
# A Debian root filesystem of another release, for building the package there
# (make deb DIST=trixie) and for booting it in the test bed with systemd
# (tests/package/30-trixie-systemd-vm.sh).
#
#   packaging/debian-root.sh DIST                 prepare it; print its path
#   packaging/debian-root.sh DIST --run CMD...    prepare it, run CMD inside
#                                                 (chroot, /proc and /dev mounted
#                                                 for the time of CMD)
# DIST: trixie, or any suite debootstrap knows. The path (printed on the last
# line of stdout) is build/roots/DIST/root.
# Cached: debootstrap --variant=minbase DIST from Debian's archive (the URL
# that this machine's apt sources name, tools/debian-archive.sh), then, with
# apt-get inside the root, the build tools, packaging/debian/control's
# Build-Depends and the few programs the package test runs (systemd, nftables,
# iproute2, conntrack, nfct, python3...), and libnss-systemd, which a Debian 13
# system has (systemd recommends it): it resolves the daemon's DynamicUser
# name (without it ps and stat show the uid, "UNKNOWN"). A second run does nothing unless the
# package list changed (then the missing packages are added). Needs root.
# The root gets a policy-rc.d that keeps services from starting inside it; the
# test bed removes it in its (throwaway) overlay.
#   TBHELPER_ROOT_REFRESH=1   apt-get upgrade inside the cached root
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
dist=${1:?usage: packaging/debian-root.sh DIST [--run COMMAND...]}
shift
run=()
if [[ ${1:-} == --run ]]; then shift; run=("$@"); fi
[[ $dist =~ ^[a-z]+$ ]] || { echo "debian-root: bad DIST '$dist'" >&2; exit 2; }
log() { echo "debian-root[$dist]: $*" >&2; }
die() { echo "debian-root[$dist]: ERROR: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, chroot)"

base=$top/build/roots/$dist
root=$base/root
mkdir -p "$base"
exec 8>"$base/.lock"
flock 8

archive=$(tools/debian-archive.sh)
build_deps=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' packaging/debian/control | sed '1s/^Build-Depends://; /^[A-Z][A-Za-z-]*:/d' \
             | tr ',' '\n' | sed 's/([^)]*)//g; s/|.*//; s/[[:space:]]//g' | grep . | sort -u | tr '\n' ' ')
# debhelper-compat is a virtual package that debhelper provides.
build_deps=${build_deps//debhelper-compat/debhelper}
packages="build-essential dpkg-dev fakeroot lintian $build_deps
          systemd dbus libnss-systemd nftables iproute2 conntrack conntrackd nfct kmod procps python3 python3-prometheus-client socat iputils-ping"
packages=$(tr -s ' \n' '\n' <<<"$packages" | grep . | sort -u | tr '\n' ' ')
key=$(printf '%s\n' "$dist" "$archive" "$packages" | sha256sum | cut -d' ' -f1)

command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2 \
        || die "apt-get install debootstrap failed"
}

if [[ ! -f $root/.tbhelper-debootstrap-complete ]]; then
    log "debootstrap --variant=minbase $dist $archive (a few minutes)"
    rm -rf "$root"
    debootstrap --variant=minbase "$dist" "$root" "$archive" > "$base/debootstrap.log" 2>&1 \
        || { tail -n 30 "$base/debootstrap.log" >&2; die "debootstrap failed (log: $base/debootstrap.log)"; }
    printf '#!/bin/sh\n# tbhelper build root: no service starts inside the chroot.\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    echo "deb $archive $dist main" > "$root/etc/apt/sources.list"
    touch "$root/.tbhelper-debootstrap-complete"
fi

mounted=()
cleanup() { local m; for m in "${mounted[@]+"${mounted[@]}"}"; do umount -l "$m" 2>/dev/null || true; done; }
trap cleanup EXIT
in_root() { # COMMAND...: in the root, with /proc and /dev mounted for the time of the call
    if ! mountpoint -q "$root/proc"; then mount -t proc proc "$root/proc" && mounted+=("$root/proc"); fi
    if ! mountpoint -q "$root/dev"; then mount --bind /dev "$root/dev" && mounted+=("$root/dev"); fi
    chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

if [[ $(cat "$base/packages.key" 2>/dev/null) != "$key" || ${TBHELPER_ROOT_REFRESH:-0} == 1 ]]; then
    log "apt-get install (in the root): $packages"
    {
        in_root apt-get update -qq
        [[ ${TBHELPER_ROOT_REFRESH:-0} == 1 ]] && in_root apt-get -y -qq dist-upgrade
        # shellcheck disable=SC2086
        in_root apt-get install -y -qq --no-install-recommends $packages
        in_root apt-get clean
    } > "$base/apt.log" 2>&1 || { tail -n 30 "$base/apt.log" >&2; die "apt-get in the root failed (log: $base/apt.log)"; }
    # nfct's dependency conntrackd is not wanted running in the test bed.
    rm -f "$root"/etc/systemd/system/multi-user.target.wants/conntrackd.service
    echo "$key" > "$base/packages.key"
fi
if ((${#run[@]})); then
    exec 8>&-   # the lock guards the preparation, not the command
    in_root "${run[@]}"
    exit
fi
# (not through in_root: a command substitution's subshell would not unmount)
log "ready: $root ($(. "$root/etc/os-release"; echo "$PRETTY_NAME"))"
echo "$root"
