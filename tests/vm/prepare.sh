#!/bin/bash
# tbhelper VM test bed: fetch a Debian kernel and build the initramfs.
#
#   [TBVM_KERNEL=bookworm|trixie|sid] tests/vm/prepare.sh [--refresh] [--quiet]
#
# TBVM_KERNEL chooses Debian 12's kernel (bookworm, the default), Debian 13's
# (trixie) or the newest kernel in Debian unstable (sid). Idempotent and
# cached: a second run does nothing (and needs no network) unless the guest
# scripts or this file changed. Output, all in build/vm/<release>/
# (git-ignored; never commit it):
#   kernel/                  the kernel package(s) unpacked (dpkg -x) + depmod;
#                            always kernel/boot/vmlinuz-VERSION and
#                            kernel/lib/modules/VERSION (symlinks into the
#                            merged /usr of Debian 13 and unstable)
#   kernel-version           e.g. 6.1.0-56-amd64
#   release                  bookworm, trixie or sid
#   apt/                     trixie and sid: the private apt configuration and
#                            package lists (the system's sources and apt
#                            cache are never touched)
#   initramfs.cpio.gz        busybox-static + 9p/overlay modules (unpacked
#                            when the kernel ships .ko.xz) + guest/init
# Installs what it needs with apt-get when missing (qemu-system-x86,
# busybox-static, kmod, cpio) and the tools the scenarios use inside the guest
# (nftables, iproute2, socat, conntrack, iputils-ping). Not nfct: it drags in and enables the
# conntrackd service; the scenarios use it only when it is there.
#   --refresh   look up the current Debian kernel again (apt-cache) and rebuild
#   TBVM_KERNEL_VERSION=6.1.0-NN-amd64  pins the kernel version
#   TBVM_BUILD_DIR=DIR                  instead of <repo>/build/vm/<release>
#                                       (one release per directory)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/vm/kernel.sh
. "$here/kernel.sh"
tbvm_resolve "$repo" || exit 2
out=$TBVM_OUT
release=$TBVM_RELEASE
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
            cpio:cpio xz:xz-utils nft:nftables ip:iproute2 ss:iproute2 socat:socat \
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
# bookworm: the machine's own apt configuration (its release). trixie, sid: a
# private one, from the same archive, that never touches the system's sources,
# lists or cache (-o Dir::Etc::sourcelist=... see docs/testbed.md).
aptopt=(-o APT::Sandbox::User=root)
if [ "$release" != bookworm ]; then
    aptdir=$out/apt
    mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
    archive=$("$repo/tools/debian-archive.sh") || die "no Debian archive in the apt sources"
    echo "deb $archive $release main" > "$aptdir/sources.list"
    aptopt+=(-o "Dir::Etc::sourcelist=$aptdir/sources.list" -o Dir::Etc::sourceparts=-
             -o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir/cache"
             -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
fi
apt_private_update() {
    [ "$apt_updated" = 1 ] && return 0
    if [ "$release" = bookworm ]; then apt_update; return; fi
    log "apt-get update ($release, private configuration in $aptdir)"
    apt-get "${aptopt[@]}" update -qq >&2 || die "apt-get update for $release failed"
    apt_updated=1
}
kver=${TBVM_KERNEL_VERSION:-}
if [ -z "$kver" ] && [ "$refresh" = 0 ] && [ -s "$out/kernel-version" ]; then
    kver=$(cat "$out/kernel-version")
fi
find_kver() {
    apt-cache "${aptopt[@]}" depends linux-image-amd64 2>/dev/null \
        | sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*-amd64\)$/\1/p' | head -n1
}
if [ -z "$kver" ]; then
    kver=$(find_kver || true)
    if [ -z "$kver" ] || [ "$refresh" = 1 ]; then
        apt_private_update
        kver=$(find_kver || true)
    fi
    [ -n "$kver" ] || die "cannot find the $release kernel (apt-cache depends linux-image-amd64)"
fi
kdir=$out/kernel
modroot=$kdir/lib/modules/$kver
vmlinuz=$kdir/boot/vmlinuz-$kver

if [ ! -f "$vmlinuz" ] || [ ! -f "$modroot/modules.dep" ] || [ ! -f "$kdir/.complete-$kver" ]; then
    log "fetching linux-image-$kver ($release)"
    rm -rf "$kdir" "$out/debs"
    mkdir -p "$out/debs"
    # unstable's linux-image-VERSION is small and depends on linux-binary-VERSION
    # (vmlinuz) and linux-modules-VERSION: fetch those with it.
    pkgs_of() {
        echo "linux-image-$kver"
        apt-cache "${aptopt[@]}" depends "linux-image-$kver" 2>/dev/null \
            | sed -n 's/^ *Depends: \(linux-\(binary\|modules\)-[^ ]*\)$/\1/p'
    }
    pkgs=$(pkgs_of || true)
    if ! ( cd "$out/debs" && apt-get "${aptopt[@]}" download $pkgs >&2 ); then
        apt_private_update
        pkgs=$(pkgs_of || true)
        ( cd "$out/debs" && apt-get "${aptopt[@]}" download $pkgs >&2 ) \
            || die "apt-get download $pkgs failed"
    fi
    mkdir -p "$kdir.tmp"
    rm -rf "$kdir.tmp"/*
    for deb in "$out"/debs/*.deb; do
        log "unpacking $(basename "$deb")"
        dpkg -x "$deb" "$kdir.tmp"
    done
    # One layout for every release: lib/modules and boot/vmlinuz-VERSION.
    if [ ! -e "$kdir.tmp/lib/modules" ] && [ -d "$kdir.tmp/usr/lib/modules" ]; then
        mkdir -p "$kdir.tmp/lib"
        ln -s ../usr/lib/modules "$kdir.tmp/lib/modules"
    fi
    if [ ! -e "$kdir.tmp/boot/vmlinuz-$kver" ] && [ -f "$kdir.tmp/usr/lib/modules/$kver/vmlinuz" ]; then
        mkdir -p "$kdir.tmp/boot"
        ln -s "../usr/lib/modules/$kver/vmlinuz" "$kdir.tmp/boot/vmlinuz-$kver"
    fi
    [ -d "$kdir.tmp/lib/modules/$kver" ] || die "no modules for $kver in $pkgs"
    depmod -b "$kdir.tmp" "$kver"
    rm -rf "$out/debs"   # the unpacked tree is the cache
    mv "$kdir.tmp" "$kdir"
    touch "$kdir/.complete-$kver"
fi
[ -f "$vmlinuz" ] || die "no $vmlinuz"
echo "$kver" > "$out/kernel-version.tmp" && mv "$out/kernel-version.tmp" "$out/kernel-version"
echo "$release" > "$out/release.tmp" && mv "$out/release.tmp" "$out/release"

# --- initramfs --------------------------------------------------------------
modules=(virtio_pci 9pnet_virtio 9p overlay)
key=$( { echo "$kver"; cat "$here/guest/init" "$here/guest/stage2.sh" "$0"; \
         sha256sum "$busybox"; } | sha256sum | cut -d' ' -f1 )
if [ -f "$out/initramfs.cpio.gz" ] && [ "$(cat "$out/initramfs.key" 2>/dev/null)" = "$key" ]; then
    log "cached: $release kernel $kver, $out/initramfs.cpio.gz"
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
# A module built into this kernel (virtio_pci on 7.2) prints "builtin NAME".
# unstable's packages ship no modules.builtin, so there modprobe says "not
# found" for it: a module with no file in the tree is taken as built in (a
# kernel that really lacks it fails loudly at the 9p mount).
for m in "${modules[@]}"; do
    if ! modprobe -d "$kdir" -S "$kver" --show-depends "$m" 2>/dev/null; then
        if [ -n "$(find "$modroot/" -name "$m.ko*" -print -quit)" ]; then
            die "modprobe --show-depends $m failed for $kver"
        fi
        log "$m: no module file in $kver, taken as built in"
    fi
done | awk '$1 == "insmod" { print $2 }' | while read -r ko; do
    name=$(basename "$ko")
    case "$name" in
        *.ko.xz) name=${name%.xz} ;;
        *.ko.zst) name=${name%.zst} ;;
        *.ko.gz) name=${name%.gz} ;;
    esac
    grep -qxF "$name" "$ird/modules/order" && continue
    # busybox's insmod takes plain .ko files only.
    case "$ko" in
        *.xz) xz -dc "$ko" > "$ird/modules/$name" ;;
        *.zst) zstd -qdc "$ko" > "$ird/modules/$name" ;;
        *.gz) gzip -dc "$ko" > "$ird/modules/$name" ;;
        *) cp "$ko" "$ird/modules/$name" ;;
    esac || die "cannot unpack $ko"
    echo "$name" >> "$ird/modules/order"
done
log "modules: $(tr '\n' ' ' < "$ird/modules/order")"
( cd "$ird" && find . -print0 | LC_ALL=C sort -z \
    | cpio --null -o -H newc --owner=0:0 --quiet ) | gzip -1 > "$out/initramfs.cpio.gz.tmp"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
echo "$key" > "$out/initramfs.key"
log "ready: kernel $kver, $out/initramfs.cpio.gz ($(du -h "$out/initramfs.cpio.gz" | cut -f1))"
