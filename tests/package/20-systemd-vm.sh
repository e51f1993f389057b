#!/bin/bash
# package/20-systemd-vm: the Debian package installed, used and removed on a
# Debian 12 kernel booted with systemd (tests/vm/run-systemd.sh), by
# tests/package/vm/systemd-package-test.sh (see there for the steps and the
# topology). Uses build/tbhelper_<version>_<arch>.deb when it is newer than the
# programs and the packaging files, else runs `make deb` first.
# Run from the repository root after `make`. Exit 0 pass, 1 fail, 77 skip
# (not root: the VM test bed needs root).
set -uo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=tests/package/lib.sh
. tests/package/lib.sh
package_deb build/package-vm-make-deb.log
# nfct, for the helper-table checks, unpacked rather than installed (see there).
nfct_dir=$(tests/package/nfct-tool.sh build) || { echo "FAIL: tests/package/nfct-tool.sh"; exit 1; }
echo "== package $deb"
echo "== booting the Debian 12 kernel with systemd (tests/vm/run-systemd.sh)"
TBTEST_PKG_DEB=$deb TBTEST_BUILD=$PWD/build TBTEST_NFCT_DIR=$nfct_dir \
    tests/vm/run-systemd.sh --timeout "${TBTEST_PKG_VM_TIMEOUT:-900}" -- tests/package/vm/systemd-package-test.sh
rc=$?
echo "== exit $rc (kernel console: build/vm-systemd/bookworm/last-console.log)"
exit "$rc"
