#!/bin/bash
# Unpacks Debian's conntrackd into build/conntrackd/ for the firewall-pair
# kernel scenario (tests/kernel/80-ha-failover.sh), without installing it:
#
#   tools/fetch-conntrackd.sh [--quiet]      prints the directory on stdout
#
# Why not `apt-get install conntrackd`: the package enables and starts a
# conntrackd service on the machine that installs it (the developer's or CI's),
# which would then sync that machine's own conntrack table; and the test bed's
# guest sees the host's / read-only over 9p, so a binary under build/ is all it
# needs. `apt-get download` + `dpkg -x` gives Debian's very binary (its
# libraries, libnetfilter-*, libmnl, libsystemd, are build dependencies of
# tbhelper and so already installed) and touches no service, no /etc.
# Cached: a second run with the same candidate version does nothing.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
quiet=0
[ "${1:-}" = --quiet ] && quiet=1
dest=$repo/build/conntrackd
say() { ((quiet)) || echo "fetch-conntrackd: $*" >&2; }

version=$(apt-cache policy conntrackd 2>/dev/null | awk '/Candidate:/ { print $2; exit }')
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    # No package lists (a fresh CI machine before apt-get update): use the cache if any.
    if [ -x "$dest/usr/sbin/conntrackd" ]; then echo "$dest"; exit 0; fi
    echo "fetch-conntrackd: apt knows no conntrackd package (run apt-get update)" >&2
    exit 1
fi
if [ -x "$dest/usr/sbin/conntrackd" ] && [ "$(cat "$dest/version" 2>/dev/null)" = "$version" ]; then
    say "conntrackd $version already in $dest"
    echo "$dest"; exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tbctd.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
say "downloading conntrackd $version (apt-get download; not installed)"
# _apt cannot write into a root-owned mktemp directory: download unsandboxed there.
(cd "$tmp" && apt-get -q -o APT::Sandbox::User=root download "conntrackd=$version" >/dev/null 2>&1) \
    || { echo "fetch-conntrackd: apt-get download conntrackd=$version failed" >&2; exit 1; }
deb=$(ls "$tmp"/conntrackd_*.deb)
rm -rf "$dest.new"; mkdir -p "$dest.new"
dpkg -x "$deb" "$dest.new"
echo "$version" > "$dest.new/version"
"$dest.new/usr/sbin/conntrackd" -v >/dev/null 2>&1 \
    || { echo "fetch-conntrackd: the unpacked conntrackd does not run here (libraries missing?): $(ldd "$dest.new/usr/sbin/conntrackd" | grep 'not found' | tr '\n' ' ')" >&2; exit 1; }
rm -rf "$dest"; mv "$dest.new" "$dest"
say "conntrackd $version unpacked into $dest"
echo "$dest"
