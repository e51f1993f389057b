#!/bin/bash
# package/15-deb13: `make deb DIST=trixie` builds the Debian 13 package inside
# a Debian 13 build root (packaging/debian-root.sh), named
# build/tbhelper_<version>~deb13_<arch>.deb: Debian 13's lintian reports no
# errors; its Depends come from the Debian 13 root's shlibs (no libfmt9,
# which Debian 13 does not have); apt in the Debian 13 root would install it
# (apt-get install --simulate); its programs link only libraries of that root
# (ldd inside it finds them all) and run there (--version, --help); the
# files are the same as those of the machine's own package (10-deb), under
# Debian 13's paths.
# Uses the package when it is newer than the sources (tests/check.sh builds it
# alongside the kernel sections), else runs `make deb DIST=trixie`.
# Run from the repository root. Exit 0 pass, 1 fail, 77 skip (not root).
set -uo pipefail
cd "$(dirname "$0")/../.."
fails=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
step() { echo; echo "== $*"; }
[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (debootstrap and chroot of the Debian 13 build root)"; exit 77; }

version=$(tr -d '[:space:]' < VERSION)
arch=$(dpkg --print-architecture)
pv=$version~deb13
deb=$PWD/build/tbhelper_${pv}_${arch}.deb

step "make deb DIST=trixie"
fresh=1
if [[ ! -f $deb ]]; then
    fresh=0
else
    for f in Makefile VERSION $(git ls-files lib nfhelper ctl tools packaging docs 2>/dev/null || find lib nfhelper ctl tools packaging docs -type f); do
        [[ -f $f && $f -nt $deb ]] && { fresh=0; echo "$f is newer than $(basename "$deb")"; break; }
    done
fi
if ((fresh)); then
    pass "using $(basename "$deb") (newer than the sources)"
else
    rm -f "$deb"
    if make --no-print-directory deb DIST=trixie > build/package-make-deb13.log 2>&1; then
        pass "make deb DIST=trixie"
    else
        tail -n 40 build/package-make-deb13.log
        fail "make deb DIST=trixie failed (build/package-make-deb13.log)"; exit 1
    fi
    [[ $(tail -n 1 build/package-make-deb13.log) == "$deb" ]] && pass "make deb DIST=trixie printed $deb" \
        || fail "last line of make deb DIST=trixie is '$(tail -n 1 build/package-make-deb13.log)', not $deb"
fi
[[ -f $deb ]] || { fail "no $deb"; exit 1; }
root=$(packaging/debian-root.sh trixie 2>/dev/null | tail -n 1)
[[ -d $root/usr ]] || { fail "no Debian 13 root"; exit 1; }
in_root() { packaging/debian-root.sh trixie --run "$@"; }
grep -q '^VERSION_ID="13"' "$root/etc/os-release" && pass "the build root is Debian 13 ($(. "$root/etc/os-release"; echo "$PRETTY_NAME"))" \
    || fail "the build root is not Debian 13: $(cat "$root/etc/os-release" | head -3)"

step "lintian of Debian 13 (inside the build root: $(cat build/deb-trixie/lintian-version.txt 2>/dev/null))"
sed 's/^/    /' build/deb-trixie/lintian.log
errors=$(grep -c '^E: ' build/deb-trixie/lintian.log)
root_lintian=$(sed -n 's/^Lintian v\([0-9][^ ]*\).*/\1/p' build/deb-trixie/lintian-version.txt 2>/dev/null)
[[ -n $root_lintian && $root_lintian != "$(dpkg-query -W -f='${Version}' lintian)" ]] \
    && pass "lintian is the root's ($(cat build/deb-trixie/lintian-version.txt)), not this machine's ($(dpkg-query -W -f='${Version}' lintian))" \
    || fail "lintian version: '$(cat build/deb-trixie/lintian-version.txt 2>/dev/null)'"
((errors == 0)) && pass "lintian (Debian 13): no errors" || fail "lintian (Debian 13): $errors errors"

step "control fields"
dpkg-deb -I "$deb" | sed -n 's/^ \(Package\|Version\|Architecture\|Depends\|Recommends\): /&/p' | sed 's/^/    /'
[[ $(dpkg-deb -f "$deb" Version) == "$pv" ]] && pass "version $pv" || fail "version $(dpkg-deb -f "$deb" Version), want $pv"
depends=$(dpkg-deb -f "$deb" Depends)
[[ $depends == *libc6* ]] && pass "Depends from shlibs: $depends" || fail "Depends: $depends"
[[ $depends != *libfmt9* ]] && pass "no libfmt9 (absent from Debian 13)" || fail "Depends names libfmt9"
for p in $(tr ',' '\n' <<<"$depends" | sed 's/([^)]*)//; s/|.*//' | tr -d ' '); do
    if in_root dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        pass "Depends $p: installed in the Debian 13 root"
    elif in_root apt-cache show "$p" >/dev/null 2>&1; then
        pass "Depends $p: a Debian 13 package"
    else
        fail "Depends $p: not in Debian 13"
    fi
done
cp "$deb" "$root/tmp/$(basename "$deb")"
if out=$(in_root apt-get install --simulate --no-install-recommends "/tmp/$(basename "$deb")" 2>&1); then
    pass "apt-get install --simulate ./$(basename "$deb") in the Debian 13 root"
    grep -E '^(Inst|Conf) ' <<<"$out" | sed 's/^/    /'
else
    sed 's/^/    /' <<<"$out" | tail -n 20; fail "apt-get in the Debian 13 root would not install it"
fi

step "the programs link Debian 13's libraries"
tmp=$root/tmp/tbhelper-deb13-test
rm -rf "$tmp"; mkdir -p "$tmp"
dpkg-deb -x "$deb" "$tmp"
for b in tbhelperd tbhelperctl; do
    if out=$(in_root ldd "/tmp/tbhelper-deb13-test/usr/sbin/$b" 2>&1) && ! grep -q 'not found' <<<"$out"; then
        pass "ldd $b in the Debian 13 root: every library found ($(grep -o 'libfmt[^ ]*' <<<"$out" | head -n1))"
    else
        sed 's/^/    /' <<<"$out"; fail "ldd $b in the Debian 13 root"
    fi
    if out=$(in_root "/tmp/tbhelper-deb13-test/usr/sbin/$b" --help 2>&1); then
        pass "$b --help runs in the Debian 13 root"
    else
        sed 's/^/    /' <<<"$out" | tail -n 5; fail "$b --help in the Debian 13 root"
    fi
done
if out=$(in_root /tmp/tbhelper-deb13-test/usr/sbin/tbhelperd --check-config --config /tmp/tbhelper-deb13-test/etc/tbhelper/tbhelper.conf 2>&1); then
    pass "tbhelperd --check-config accepts the shipped configuration (in the Debian 13 root)"
else
    sed 's/^/    /' <<<"$out"; fail "tbhelperd --check-config in the Debian 13 root"
fi

step "contents: the same files as this machine's package, with Debian 13's unit directory"
dpkg-deb -c "$deb" | awk '{ print $1, $6 }' > build/package-contents-deb13.txt
for e in "-rwxr-xr-x ./usr/sbin/tbhelperd" "-rwxr-xr-x ./usr/sbin/tbhelperctl" \
         "-rw-r--r-- ./etc/tbhelper/tbhelper.conf" "-rw-r--r-- ./usr/lib/systemd/system/tbhelperd.service" \
         "-rw-r--r-- ./usr/lib/modules-load.d/tbhelper.conf" "-rw-r--r-- ./usr/share/tbhelper/tbhelper.nft" \
         "-rw-r--r-- ./usr/share/bash-completion/completions/tbhelperctl" "-rw-r--r-- ./usr/share/man/man8/tbhelperd.8.gz" \
         "-rw-r--r-- ./usr/share/man/man8/tbhelperctl.8.gz" "-rw-r--r-- ./usr/share/man/man5/tbhelper.conf.5.gz" \
         "-rw-r--r-- ./usr/share/doc/tbhelper/copyright" "-rw-r--r-- ./usr/share/doc/tbhelper/install.md"; do
    grep -qxF -- "$e" build/package-contents-deb13.txt && pass "contains $e" || fail "missing $e"
done
grep -q ' \./lib/' build/package-contents-deb13.txt && fail "files under /lib (Debian 13 installs into /usr/lib): $(grep ' \./lib/' build/package-contents-deb13.txt | tr '\n' ' ')" \
    || pass "nothing under /lib (merged /usr)"
cmp -s "$tmp/usr/lib/systemd/system/tbhelperd.service" packaging/tbhelperd.service && pass "unit = packaging/tbhelperd.service" || fail "unit differs"
[[ -x build/deb-trixie/tbsim ]] && pass "tbsim built in the Debian 13 root too (build/deb-trixie/tbsim, for the package VM test; not in the package)" \
    || fail "no build/deb-trixie/tbsim"
rm -rf "$tmp" "$root/tmp/$(basename "$deb")"

echo
if ((fails)); then echo "package/15-deb13: $fails failure(s)"; exit 1; fi
echo "package/15-deb13: all passed"
