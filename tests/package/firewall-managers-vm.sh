#!/bin/bash
# package/firewall-managers-vm (tests/check.sh runs it after the NN- scenarios): the Debian package next to firewalld and
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

# shellcheck source=tests/package/lib.sh
. tests/package/lib.sh
package_deb build/package-fw-make-deb.log
debs=$(tests/package/firewall-debs.sh build) || { echo "FAIL: tests/package/firewall-debs.sh"; exit 1; }
echo "== package $deb; firewalld and ufw from $debs: $(cd "$debs" && ls firewalld_*.deb ufw_*.deb | tr '\n' ' ')"
echo "== booting the Debian 12 kernel with systemd (tests/vm/run-systemd.sh)"
TBTEST_PKG_DEB=$deb TBTEST_BUILD=$PWD/build TBTEST_FW_TREE=$debs/root.tar \
    tests/vm/run-systemd.sh --timeout "${TBTEST_PKG_VM_TIMEOUT:-900}" -- tests/package/vm/firewall-managers-test.sh
rc=$?
echo "== exit $rc (kernel console: build/vm-systemd/bookworm/last-console.log)"
exit "$rc"
