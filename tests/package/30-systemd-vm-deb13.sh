#!/bin/bash
# package/30-systemd-vm-deb13: the Debian 13 package installed, used and
# removed on Debian 13: the Debian 13 root of packaging/debian-root.sh (the
# build root of `make deb DIST=trixie`, which also holds systemd, nftables,
# iproute2, conntrack, nfct, python3) booted as the guest's root filesystem on
# Debian 13's kernel with systemd as PID 1 (TBVM_KERNEL=trixie
# TBVM_ROOT=<root> tests/vm/run-systemd.sh). The story is the Debian 12 one
# (tests/package/vm/systemd-package-test.sh: dpkg -i, enable, rules --apply,
# legacy and TCP sessions, reload, stop, remove, purge), and on Debian 13
# `tbhelperctl check` of the correct setup must say it is correct
# (TBTEST_PKG_STRICT_CHECK=1).
# The test's files are copied into the root's /srv/tbtest (the script,
# tests/vm/netns.sh, the package, and the tbsim that was built in the root).
# Run from the repository root. Exit 0 pass, 1 fail, 77 skip (not root).
set -uo pipefail
cd "$(dirname "$0")/../.."
[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (the VM test bed, the Debian 13 root)"; exit 77; }
version=$(tr -d '[:space:]' < VERSION)
arch=$(dpkg --print-architecture)
deb=$PWD/build/tbhelper_${version}~deb13_${arch}.deb
if [[ ! -f $deb || ! -x build/deb-trixie/tbsim ]]; then
    echo "== make deb DIST=trixie"
    make --no-print-directory deb DIST=trixie > build/package-vm13-make-deb.log 2>&1 \
        || { tail -n 30 build/package-vm13-make-deb.log; echo "FAIL: make deb DIST=trixie failed"; exit 1; }
fi
root=$(packaging/debian-root.sh trixie | tail -n 1)
[[ -x $root/lib/systemd/systemd ]] || { echo "FAIL: no systemd in the Debian 13 root $root"; exit 1; }
stage=$root/srv/tbtest
rm -rf "$stage"
mkdir -p "$stage/tests/package/vm" "$stage/tests/vm" "$stage/tests/kernel/tools" "$stage/build"
# The test, the library it sources, and the metrics checker it runs.
cp tests/package/vm/systemd-package-test.sh tests/package/vm/lib.sh "$stage/tests/package/vm/"
cp tests/kernel/tools/check_metrics.py "$stage/tests/kernel/tools/"
cp tests/vm/netns.sh "$stage/tests/vm/"
cp build/deb-trixie/tbsim "$stage/build/tbsim"
cp "$deb" "$stage/"
echo "== package $(basename "$deb"), root $root ($(. "$root/etc/os-release"; echo "$PRETTY_NAME"))"
echo "== booting Debian 13's kernel with systemd on that root (tests/vm/run-systemd.sh)"
TBVM_KERNEL=trixie TBVM_ROOT=$root TBVM_CWD=/srv/tbtest \
TBTEST_PKG_DEB=/srv/tbtest/$(basename "$deb") TBTEST_BUILD=/srv/tbtest/build TBTEST_PKG_STRICT_CHECK=1 \
    tests/vm/run-systemd.sh --timeout "${TBTEST_PKG_VM_TIMEOUT:-900}" -- /srv/tbtest/tests/package/vm/systemd-package-test.sh
rc=$?
echo "== exit $rc (kernel console: build/vm-systemd/trixie/last-console.log)"
rm -rf "$stage"
exit "$rc"
