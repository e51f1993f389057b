#!/bin/bash
# tbhelper VM test bed: fetch a Debian 12 kernel and build the initramfs.
#
#   tests/vm/prepare.sh [--refresh] [--quiet]
#
# Idempotent and cached: a second run does nothing (and needs no network)
# unless the guest scripts or this file changed. Output, all in build/vm/
# (git-ignored; never commit it):
#   linux-image-*.deb        the Debian kernel package (apt-get download)
#   kernel/                  the package unpacked (dpkg -x) + depmod
#   kernel-version           e.g. 6.1.0-56-amd64
#   initramfs.cpio.gz        busybox-static + 9p/overlay modules + guest/init
# Installs what it needs with apt-get when missing (qemu-system-x86,
# busybox-static, kmod, cpio) and the tools the scenarios use inside the guest
# (nftables, iproute2, socat, conntrack, iputils-ping). Not nfct: it drags in and enables the
# conntrackd service; the scenarios use it only when it is there.
#   --refresh   look up the current Debian kernel again (apt-cache) and rebuild
#   TBVM_KERNEL_VERSION=6.1.0-NN-amd64  pins the kernel version
#   TBVM_BUILD_DIR=DIR                  instead of <repo>/build/vm
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${TBVM_BUILD_DIR:-$repo/build/vm}
refresh=0
quiet=0
for a in "$@"; do
    case "$a" in
        --refresh) refresh=1 ;;
        --quiet|-q) quiet=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "prepare.sh: unknown argument $a" >&2; exit 2 ;;
    esac
done

log() { [ "$quiet" = 1 ] || echo "tbvm-prepare: $*" >&2; }
die() { echo "tbvm-prepare: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, depmod into build/vm)"
mkdir -p "$out"
case "$out" in *[[:space:]]*) die "build dir path contains whitespace: $out" ;; esac

# One prepare at a time (parallel make, two terminals).
exec 9>"$out/.lock"
flock 9

apt_updated=0
apt_update() {
    [ "$apt_updated" = 1 ] && return 0
    log "apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    apt_updated=1
}
apt_install() { # packages...
    log "installing: $*"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends "$@" >&2; then
        apt_update
        apt-get install -y -qq --no-install-recommends "$@" >&2 \
            || die "apt-get install $* failed"
    fi
}

# --- host tools -------------------------------------------------------------
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for pair in qemu-system-x86_64:qemu-system-x86 modprobe:kmod depmod:kmod \
            cpio:cpio nft:nftables ip:iproute2 ss:iproute2 socat:socat \
            conntrack:conntrack ping:iputils-ping flock:util-linux; do
    cmd=${pair%%:*} pkg=${pair#*:}
    PATH=$PATH:/usr/sbin:/sbin command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
have_pkg busybox-static || need+=(busybox-static)
if [ "${#need[@]}" -gt 0 ]; then
    mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
    apt_install "${need[@]}"
fi
busybox=/bin/busybox
[ -x "$busybox" ] || busybox=/usr/bin/busybox
[ -x "$busybox" ] || die "busybox not found after installing busybox-static"
if command -v ldd >/dev/null && ldd "$busybox" >/dev/null 2>&1; then
    die "$busybox is dynamically linked; install busybox-static (not busybox)"
fi

# --- kernel -----------------------------------------------------------------
kver=${TBVM_KERNEL_VERSION:-}
if [ -z "$kver" ] && [ "$refresh" = 0 ] && [ -s "$out/kernel-version" ]; then
    kver=$(cat "$out/kernel-version")
fi
if [ -z "$kver" ]; then
    find_kver() {
        apt-cache depends linux-image-amd64 2>/dev/null \
            | sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*-amd64\)$/\1/p' | head -n1
    }
    kver=$(find_kver)
    if [ -z "$kver" ] || [ "$refresh" = 1 ]; then
        apt_update
        kver=$(find_kver)
    fi
    [ -n "$kver" ] || die "cannot find the Debian kernel (apt-cache depends linux-image-amd64)"
fi
kdir=$out/kernel
modroot=$kdir/lib/modules/$kver
vmlinuz=$kdir/boot/vmlinuz-$kver

if [ ! -f "$vmlinuz" ] || [ ! -f "$modroot/modules.dep" ] || [ ! -f "$kdir/.complete-$kver" ]; then
    log "fetching linux-image-$kver"
    rm -rf "$kdir"
    rm -f "$out"/linux-image-*.deb
    ( cd "$out" && apt-get download -o APT::Sandbox::User=root "linux-image-$kver" >&2 ) || {
        apt_update
        ( cd "$out" && apt-get download -o APT::Sandbox::User=root "linux-image-$kver" >&2 ) \
            || die "apt-get download linux-image-$kver failed"
    }
    deb=$(ls "$out"/linux-image-"$kver"_*.deb | head -n1)
    log "unpacking $(basename "$deb")"
    mkdir -p "$kdir.tmp"
    rm -rf "$kdir.tmp"/*
    dpkg -x "$deb" "$kdir.tmp"
    depmod -b "$kdir.tmp" "$kver"
    rm -f "$deb"   # 70 MB we no longer need; the unpacked tree is the cache
    mv "$kdir.tmp" "$kdir"
    touch "$kdir/.complete-$kver"
fi
[ -f "$vmlinuz" ] || die "no $vmlinuz"
echo "$kver" > "$out/kernel-version.tmp" && mv "$out/kernel-version.tmp" "$out/kernel-version"

# --- initramfs --------------------------------------------------------------
modules=(virtio_pci 9pnet_virtio 9p overlay)
key=$( { echo "$kver"; cat "$here/guest/init" "$here/guest/stage2.sh" "$0"; \
         sha256sum "$busybox"; } | sha256sum | cut -d' ' -f1 )
if [ -f "$out/initramfs.cpio.gz" ] && [ "$(cat "$out/initramfs.key" 2>/dev/null)" = "$key" ]; then
    log "cached: kernel $kver, $out/initramfs.cpio.gz"
    exit 0
fi
log "building initramfs for $kver"
ird=$out/initramfs.d
rm -rf "$ird"
mkdir -p "$ird"/{bin,dev,proc,sys,modules,lower,rw,newroot}
cp "$busybox" "$ird/bin/busybox"
ln -s busybox "$ird/bin/sh"
install -m 0755 "$here/guest/init" "$ird/init"
install -m 0755 "$here/guest/stage2.sh" "$ird/stage2.sh"
# Dependency order from modprobe itself, each module once.
: > "$ird/modules/order"
for m in "${modules[@]}"; do
    modprobe -d "$kdir" -S "$kver" --show-depends "$m" \
        || die "modprobe --show-depends $m failed (module missing from $kver?)"
done | awk '$1 == "insmod" { print $2 }' | while read -r ko; do
    name=$(basename "$ko")
    grep -qxF "$name" "$ird/modules/order" && continue
    cp "$ko" "$ird/modules/$name"
    echo "$name" >> "$ird/modules/order"
done
log "modules: $(tr '\n' ' ' < "$ird/modules/order")"
( cd "$ird" && find . -print0 | LC_ALL=C sort -z \
    | cpio --null -o -H newc --owner=0:0 --quiet ) | gzip -1 > "$out/initramfs.cpio.gz.tmp"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
echo "$key" > "$out/initramfs.key"
log "ready: kernel $kver, $out/initramfs.cpio.gz ($(du -h "$out/initramfs.cpio.gz" | cut -f1))"
