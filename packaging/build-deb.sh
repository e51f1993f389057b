#!/usr/bin/env bash
# `make deb`: build the Debian package of tbhelper and check it with lintian.
#
#   packaging/build-deb.sh
#
# Copies the source tree (git's tracked and untracked-but-not-ignored files;
# never build/ or .git) to build/deb/tbhelper-<version>/, puts
# packaging/debian/ at its top, runs `dpkg-buildpackage -us -uc -b` there and
# leaves build/tbhelper_<version>_<arch>.deb (the path is printed on the last
# line of stdout). Then runs lintian on it: errors fail the build, warnings
# and informational tags are printed.
# Installs what it needs (dpkg-dev, debhelper, devscripts, lintian, fakeroot,
# and missing Build-Depends) with apt-get when run as root.
#   TBHELPER_DEB_KEEP=1   keep build/deb/ afterwards (for debugging)
set -euo pipefail

cd "$(dirname "$0")/.."
top=$PWD
log() { echo "build-deb: $*" >&2; }
die() { echo "build-deb: ERROR: $*" >&2; exit 1; }

version=$(tr -d '[:space:]' < VERSION)
[[ $version =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "VERSION '$version' is not a valid native Debian version"
arch=$(dpkg --print-architecture)

# --- tools --------------------------------------------------------------------
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
apt_install() {
    if [[ $(id -u) -ne 0 ]]; then
        die "missing packages: $*; install them (as root: apt-get install $*)"
    fi
    log "installing: $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "$@" >&2 || {
        apt-get update -qq >&2
        apt-get install -y -qq --no-install-recommends "$@" >&2
    } || die "apt-get install $* failed"
}
need=()
for p in dpkg-dev debhelper devscripts lintian fakeroot build-essential; do
    have_pkg "$p" || need+=("$p")
done
((${#need[@]} == 0)) || apt_install "${need[@]}"

# Build-Depends from packaging/debian/control, checked by dpkg itself.
if ! unmet=$(cd packaging && dpkg-checkbuilddeps 2>&1); then
    missing=$(sed -n 's/.*Unmet build dependencies: //p' <<<"$unmet" \
              | sed 's/([^)]*)//g; s/|[^ ]*//g' | tr -s ' ')
    [[ -n $missing ]] || die "dpkg-checkbuilddeps: $unmet"
    # shellcheck disable=SC2086
    apt_install $missing
fi

# --- source tree ----------------------------------------------------------------
work=$top/build/deb
src=$work/tbhelper-$version
rm -rf "$work"
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [[ -e $f || -L $f ]] && printf '%s\0' "$f"; done \
        | grep -zv -e '^build/' -e '^debian/' \
        | tar --null -T - -cf - | tar -xf - -C "$src"
else
    tar --exclude=./build --exclude=./.git --exclude=./debian -cf - . | tar -xf - -C "$src"
fi
cp -a packaging/debian "$src/debian"

# The package version is VERSION's. When packaging/debian/changelog does not
# have it yet, a new entry is added to the copy (dated from the last commit, so
# two builds of one commit give the same changelog).
top_version=$(cd "$src" && dpkg-parsechangelog -S Version)
if [[ $top_version != "$version" ]]; then
    when=$(git log -1 --format=%ct 2>/dev/null || date +%s)
    log "debian/changelog is at $top_version; adding an entry for $version"
    {
        echo "tbhelper ($version) unstable; urgency=medium"
        echo
        echo "  * Version $version (from the VERSION file)."
        echo
        echo " -- tbhelper developers <tbhelper@example.org>  $(LC_ALL=C date -u -R -d "@$when")"
        echo
        cat "$src/debian/changelog"
    } > "$src/debian/changelog.new"
    mv "$src/debian/changelog.new" "$src/debian/changelog"
fi

# --- build ------------------------------------------------------------------------
log "dpkg-buildpackage in $src"
jobs=$(nproc 2>/dev/null || echo 1)
(
    cd "$src"
    DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS:-}" \
        dpkg-buildpackage -us -uc -b
) >&2 || die "dpkg-buildpackage failed (tree: $src)"

deb=$work/tbhelper_${version}_${arch}.deb
[[ -f $deb ]] || die "dpkg-buildpackage did not produce $deb"
out=$top/build/tbhelper_${version}_${arch}.deb
cp "$deb" "$out"

# --- lintian -----------------------------------------------------------------------
log "lintian $(basename "$out")"
set +e
lintian --fail-on error --display-info "$out" > "$work/lintian.log" 2>&1
lrc=$?
set -e
sed 's/^/    /' "$work/lintian.log" >&2
errors=$(grep -c '^E: ' "$work/lintian.log" || true)
warnings=$(grep -c '^W: ' "$work/lintian.log" || true)
log "lintian: $errors error(s), $warnings warning(s) (full output: $work/lintian.log)"
if ((lrc != 0)); then
    die "lintian reports errors (exit $lrc)"
fi
[[ ${TBHELPER_DEB_KEEP:-0} == 1 ]] || rm -rf "$src"
echo "$out"
