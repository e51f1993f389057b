#!/bin/bash
# Makes nfct (conntrack-tools' helper table tool) usable by the package tests
# without installing it: Debian's nfct package depends on conntrackd, whose
# service would be enabled on this machine and in every VM booted from its
# root. So the two packages it needs are downloaded from the machine's own
# release and unpacked (dpkg -x) under build/nfct/, with a wrapper that finds
# its library there. Prints the directory to put on PATH.
#   tests/package/nfct-tool.sh [BUILD_DIR]
set -euo pipefail
build=$(realpath -m -- "${1:-build}")
dir=$build/nfct
if [[ -x $dir/nfct && -x $dir/usr/sbin/nfct ]]; then
    echo "$dir"; exit 0
fi
if command -v nfct >/dev/null 2>&1; then dirname "$(command -v nfct)"; exit 0; fi
rm -rf "$dir.tmp"; mkdir -p "$dir.tmp/debs"
( cd "$dir.tmp/debs" && apt-get download -q nfct libnetfilter-cttimeout1 ) >&2 \
    || { echo "nfct-tool: apt-get download nfct libnetfilter-cttimeout1 failed" >&2; exit 1; }
for d in "$dir.tmp"/debs/*.deb; do dpkg -x "$d" "$dir.tmp"; done
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
cat > "$dir.tmp/nfct" <<SH
#!/bin/sh
d=\$(dirname "\$(readlink -f "\$0")")
LD_LIBRARY_PATH=\$d/usr/lib/$multiarch\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH} exec "\$d/usr/sbin/nfct" "\$@"
SH
chmod 755 "$dir.tmp/nfct"
rm -rf "$dir" && mv "$dir.tmp" "$dir"
echo "$dir"
