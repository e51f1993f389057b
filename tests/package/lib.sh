# shellcheck shell=bash
# What the package scenarios that boot the test bed share on this machine's
# side (tests/package/20-systemd-vm.sh, firewall-managers-vm.sh): root, the
# programs, and build/tbhelper_<version>_<arch>.deb, made anew with `make
# deb` when a program or a packaging or documentation file is newer.
# Sourced from the repository root.
#   package_deb LOG   sets $deb; exits 77 (skip) without root, 1 on failure

package_deb() {
    local log=$1 version arch f fresh=1 b
    if [[ $(id -u) -ne 0 ]]; then
        echo "SKIP: needs root (the VM test bed: apt-get, qemu, 9p root)"; exit 77
    fi
    version=$(tr -d '[:space:]' < VERSION)
    arch=$(dpkg --print-architecture)
    deb=$PWD/build/tbhelper_${version}_${arch}.deb
    for b in tbhelperd tbhelperctl tbsim; do
        [[ -x build/$b ]] || { echo "FAIL: build/$b missing (run make first)"; exit 1; }
    done
    if [[ ! -f $deb ]]; then
        fresh=0
    else
        for f in build/tbhelperd build/tbhelperctl Makefile VERSION $(find packaging docs -type f); do
            [[ $f -nt $deb ]] && { fresh=0; echo "$f is newer than $(basename "$deb")"; break; }
        done
    fi
    if ((fresh == 0)); then
        echo "== make deb"
        if ! make --no-print-directory deb > "$log" 2>&1; then
            tail -n 30 "$log"
            echo "FAIL: make deb failed ($log)"
            exit 1
        fi
    fi
}
