#!/bin/bash
# Prints the URL of the Debian archive that this machine's apt sources name
# (the one serving the machine's own release; not -security, not third-party
# repositories). Other suites (trixie, sid) are fetched from the same URL with
# a private apt configuration (tests/vm/prepare.sh, packaging/debian-root.sh),
# never by editing the system's sources.
#   TBHELPER_DEBIAN_ARCHIVE=URL   use this URL instead
set -euo pipefail
if [[ -n ${TBHELPER_DEBIAN_ARCHIVE:-} ]]; then echo "$TBHELPER_DEBIAN_ARCHIVE"; exit 0; fi
{
    # one-line style: deb [opts] URL SUITE COMPONENTS
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | sed -n 's/^[[:space:]]*deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\{0,1\}\([^[:space:]]\+\)[[:space:]]\+\([^[:space:]]\+\).*/\2 \3/p'
    # deb822 style: URIs: and Suites: of one stanza
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        awk '/^URIs:/ { u = $2 } /^Suites:/ { s = $2 } /^$/ { if (u && s) print u, s; u = s = "" }
             END { if (u && s) print u, s }' "$f"
    done
} | awk '$1 ~ /^https?:\/\// && $1 !~ /security/ && $2 !~ /security/ && $1 ~ /debian/ { print $1; exit }' \
  | grep . || { echo "debian-archive: no Debian archive in /etc/apt/sources.list(.d)" >&2; exit 1; }
