#!/bin/bash
# package/firewall-managers-vm (opt-in: TB_CHECK_FIREWALL_MANAGERS=1 tests/check.sh): the Debian package next to firewalld and
# next to ufw, on a Debian 12 kernel booted with systemd (tests/vm/run-systemd.sh),
# by tests/package/vm/firewall-managers-test.sh (see there for the steps).
# firewalld and ufw are fetched for this machine's release by
# tests/package/firewall-debs.sh and extracted INSIDE the VM's throw-away
# overlay root only: they are never installed on this machine (an enabled
# firewalld on a CI runner would filter the runner's own traffic).
# Uses build/tbhelper_<version>_<arch>.deb when it is newer than the programs
# and the packaging files, else runs `make deb` first (as 20-systemd-vm does).
# Run from the repository root after `make`. Exit 0 pass, 1 fail, 77 skip
# (not root: the VM test bed needs root).
set -uo pipefail
cd "$(dirname "$0")/../.."

if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: needs root (the VM test bed: apt-get, qemu, 9p root)"; exit 77
fi
version=$(tr -d '[:space:]' < VERSION)
arch=$(dpkg --print-architecture)
deb=$PWD/build/tbhelper_${version}_${arch}.deb
for b in tbhelperd tbhelperctl tbsim; do
    [[ -x build/$b ]] || { echo "FAIL: build/$b missing (run make first)"; exit 1; }
done
fresh=1
if [[ ! -f $deb ]]; then
    fresh=0
else
    for f in build/tbhelperd build/tbhelperctl Makefile VERSION $(find packaging docs -type f); do
        [[ $f -nt $deb ]] && { fresh=0; echo "$f is newer than $(basename "$deb")"; break; }
    done
fi
if ((fresh == 0)); then
    echo "== make deb"
    if ! make --no-print-directory deb > build/package-fw-make-deb.log 2>&1; then
        tail -n 30 build/package-fw-make-deb.log
        echo "FAIL: make deb failed (build/package-fw-make-deb.log)"
        exit 1
    fi
fi
debs=$(tests/package/firewall-debs.sh build) || { echo "FAIL: tests/package/firewall-debs.sh"; exit 1; }
echo "== package $deb; firewalld and ufw from $debs: $(cd "$debs" && ls firewalld_*.deb ufw_*.deb | tr '\n' ' ')"
echo "== booting the Debian 12 kernel with systemd (tests/vm/run-systemd.sh)"
TBTEST_PKG_DEB=$deb TBTEST_BUILD=$PWD/build TBTEST_FW_TREE=$debs/root.tar \
    tests/vm/run-systemd.sh --timeout "${TBTEST_PKG_VM_TIMEOUT:-1500}" -- tests/package/vm/firewall-managers-test.sh
rc=$?
echo "== exit $rc (kernel console: build/vm-systemd/bookworm/last-console.log)"
exit "$rc"
