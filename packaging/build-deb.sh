#!/usr/bin/env bash
# `make deb`: build the Debian package of tbhelper and check it with lintian.
#
#   packaging/build-deb.sh [--dist DIST]          (make deb [DIST=trixie])
#
# Without --dist (or with the machine's own release): built here, for this
# machine's release. --dist trixie: built INSIDE a Debian 13 build root
# (packaging/debian-root.sh: debootstrap --variant=minbase, cached in
# build/roots/trixie/), so the package links Debian 13's libraries and its
# Depends come from that root's shlibs; the version gets the release's suffix
# (0.1.0~deb13: "~" sorts before the plain version) and so does the file,
# build/tbhelper_<version>~deb13_<arch>.deb; lintian runs inside the root,
# i.e. Debian 13's lintian.
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
dist=""
while (($#)); do
    case $1 in
        --dist) dist=${2:?--dist needs a release}; shift 2 ;;
        --dist=*) dist=${1#*=}; shift ;;
        *) die "unknown argument $1 (usage: packaging/build-deb.sh [--dist DIST])" ;;
    esac
done
own=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[[ $dist == "$own" ]] && dist=""

# Collects the source tree (git's tracked and untracked-but-not-ignored files;
# never build/ or .git) into DIR, with packaging/debian/ at its top.
copy_source() { # DIR
    local src=$1
    rm -rf "$src"
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
}
# A changelog entry for VERSION on top of the copy's, dated from the last
# commit (two builds of one commit give the same changelog).
add_changelog_entry() { # DIR VERSION DISTRIBUTION
    local when
    when=$(git log -1 --format=%ct 2>/dev/null || date +%s)
    {
        echo "tbhelper ($2) $3; urgency=medium"
        echo
        echo "  * Version $2 (from the VERSION file${4:+; $4})."
        echo
        echo " -- tbhelper developers <tbhelper@example.org>  $(LC_ALL=C date -u -R -d "@$when")"
        echo
        cat "$1/debian/changelog"
    } > "$1/debian/changelog.new"
    mv "$1/debian/changelog.new" "$1/debian/changelog"
}
lintian_summary() { # LOG RC
    sed 's/^/    /' "$1" >&2
    local errors warnings
    errors=$(grep -c '^E: ' "$1" || true)
    warnings=$(grep -c '^W: ' "$1" || true)
    log "lintian: $errors error(s), $warnings warning(s) (full output: $1)"
    (($2 == 0)) || die "lintian reports errors (exit $2)"
}

# --- another release: inside its build root ----------------------------------------
if [[ -n $dist ]]; then
    case $dist in
        trixie) suffix=deb13 ;;
        *) die "DIST=$dist: supported are trixie (Debian 13) and this machine's own release ($own)" ;;
    esac
    [[ $(id -u) -eq 0 ]] || die "DIST=$dist needs root (debootstrap, chroot)"
    pv=$version~$suffix
    log "building $pv in a $dist build root"
    root=$(packaging/debian-root.sh "$dist" | tail -n 1)
    [[ -d $root/usr ]] || die "no build root for $dist"
    inner=/build/tbhelper
    src=$root$inner/tbhelper-$pv
    # TBHELPER_DEB_REUSE=1: keep the objects of the previous build in the root
    # (dpkg-buildpackage -nc; make rebuilds what changed). For development only.
    nc=""
    if [[ ${TBHELPER_DEB_REUSE:-0} == 1 && -d $src/build ]]; then
        rm -rf "$root$inner/objects.keep" && mv "$src/build" "$root$inner/objects.keep"
        nc=-nc
    fi
    find "$root$inner" -mindepth 1 -maxdepth 1 ! -name objects.keep -exec rm -rf {} + 2>/dev/null || true
    copy_source "$src"
    if [[ -n $nc ]]; then mv "$root$inner/objects.keep" "$src/build"; fi
    add_changelog_entry "$src" "$pv" "$dist" "built in a $dist root"
    # Overrides of tags this release's lintian no longer knows are an error
    # there ("alien-tag"): Debian 13's lintian dropped
    # package-supports-alternative-init-but-no-init.d-script.
    for f in "$src"/debian/*.lintian-overrides; do
        [[ -f $f ]] || continue
        while read -r tag; do
            if ! packaging/debian-root.sh "$dist" --run lintian-explain-tags "$tag" >/dev/null 2>&1; then
                log "lintian of $dist does not know the tag $tag: override dropped from $(basename "$f")"
                sed -i "/: $tag\( \|\$\)/d" "$f"
            fi
        done < <(sed -n 's/^[^#]*: \([a-z0-9.+-]*\).*/\1/p' "$f" | sort -u)
    done
    jobs=$(nproc 2>/dev/null || echo 1)
    packaging/debian-root.sh "$dist" --run sh -c \
        "cd $inner/tbhelper-$pv && DEB_BUILD_OPTIONS='parallel=$jobs ${DEB_BUILD_OPTIONS:-}' dpkg-buildpackage -us -uc -b $nc" >&2 \
        || die "dpkg-buildpackage failed in the $dist root (tree: $src)"
    deb=$root$inner/tbhelper_${pv}_${arch}.deb
    [[ -f $deb ]] || die "dpkg-buildpackage did not produce $deb"
    work=$top/build/deb-$dist
    mkdir -p "$work"
    out=$top/build/tbhelper_${pv}_${arch}.deb
    cp "$deb" "$out"
    log "lintian $(basename "$out") (the $dist root's lintian)"
    set +e
    packaging/debian-root.sh "$dist" --run lintian --fail-on error --display-info "$inner/$(basename "$deb")" \
        > "$work/lintian.log" 2>&1
    lrc=$?
    set -e
    packaging/debian-root.sh "$dist" --run lintian --version > "$work/lintian-version.txt" 2>&1 || true
    lintian_summary "$work/lintian.log" "$lrc"
    # The simulator (a test tool, not in the package) built against this
    # release's libraries, for the package test in the $dist root.
    [[ -x $src/build/tbsim ]] && cp "$src/build/tbsim" "$work/tbsim"
    [[ ${TBHELPER_DEB_KEEP:-0} == 1 ]] || rm -rf "$root$inner"
    echo "$out"
    exit 0
fi

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
copy_source "$src"

# The package version is VERSION's. When packaging/debian/changelog does not
# have it yet, a new entry is added to the copy.
top_version=$(cd "$src" && dpkg-parsechangelog -S Version)
if [[ $top_version != "$version" ]]; then
    log "debian/changelog is at $top_version; adding an entry for $version"
    add_changelog_entry "$src" "$version" unstable
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
lintian_summary "$work/lintian.log" "$lrc"
[[ ${TBHELPER_DEB_KEEP:-0} == 1 ]] || rm -rf "$src"
echo "$out"
