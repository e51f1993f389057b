# shellcheck shell=bash
# tbhelper VM test bed: which Debian kernel, and where its files live.
# Sourced by tests/vm/prepare.sh, run.sh and run-systemd.sh.
#
#   TBVM_KERNEL=bookworm|trixie|sid   Debian 12's kernel (default), Debian 13's,
#                                     or the newest kernel in Debian unstable
#   TBVM_BUILD_DIR=DIR                the test bed's files (default
#                                     build/vm/<release>); a directory holds one
#                                     release: its file "release" says which
#                                     (none: a bed of before the matrix, bookworm)
# Sets TBVM_RELEASE and TBVM_OUT (the directory). Fails (status 2) on an
# unknown release or a directory that holds another release.

tbvm_resolve() { # REPO
    TBVM_RELEASE=${TBVM_KERNEL:-bookworm}
    case "$TBVM_RELEASE" in
        bookworm|trixie|sid) ;;
        *) echo "tbvm: TBVM_KERNEL must be bookworm, trixie or sid (not '$TBVM_RELEASE')" >&2; return 2 ;;
    esac
    TBVM_OUT=${TBVM_BUILD_DIR:-$1/build/vm/$TBVM_RELEASE}
    local have=""
    if [ -s "$TBVM_OUT/release" ]; then
        have=$(cat "$TBVM_OUT/release")
    elif [ -s "$TBVM_OUT/kernel-version" ]; then
        have=bookworm
    fi
    if [ -n "$have" ] && [ "$have" != "$TBVM_RELEASE" ]; then
        echo "tbvm: $TBVM_OUT holds the $have kernel, TBVM_KERNEL asks for $TBVM_RELEASE:" \
             "unset TBVM_BUILD_DIR (each release is cached in build/vm/<release>) or point it elsewhere" >&2
        return 2
    fi
    return 0
}
