#!/bin/bash
# package/10-deb: `make deb` builds build/tbhelper_<version>_<arch>.deb, lintian
# reports no errors, and the package holds what docs/install.md promises:
# programs, conffile, unit (hardened: systemd-analyze exposure <= 4.0), module
# list, nftables snippet (= `tbhelperctl rules` for the shipped configuration),
# man pages, bash completion, maintainer scripts.
# Run from the repository root after `make` (tests/check.sh does). Exit 0 pass,
# 1 fail, 77 skip (not root and build tools missing).
set -uo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
fails=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
step() { echo; echo "== $*"; }

version=$(tr -d '[:space:]' < VERSION)
arch=$(dpkg --print-architecture)
deb=build/tbhelper_${version}_${arch}.deb

if [[ $(id -u) -ne 0 ]] && ! command -v dpkg-buildpackage >/dev/null; then
    echo "SKIP: not root and dpkg-buildpackage missing (make deps)"; exit 77
fi

step "make deb"
rm -f "$deb"
if make --no-print-directory deb > build/package-make-deb.log 2>&1; then
    pass "make deb"
else
    tail -n 40 build/package-make-deb.log
    fail "make deb failed (log above, full: build/package-make-deb.log)"
    exit 1
fi
printed=$(tail -n 1 build/package-make-deb.log)
[[ $printed == "$top/$deb" ]] && pass "make deb printed the path $printed" \
    || fail "make deb's last line is '$printed', not $top/$deb"
[[ -f $deb ]] || { fail "no $deb"; exit 1; }

step "lintian (run by make deb: build/deb/lintian.log)"
# build-deb.sh fails on a lintian error; its log is checked here again.
sed 's/^/    /' build/deb/lintian.log
errors=$(grep -c '^E: ' build/deb/lintian.log)
warnings=$(grep -c '^W: ' build/deb/lintian.log)
if grep -q "build-deb: lintian: $errors error(s), $warnings warning(s)" build/package-make-deb.log && ((errors == 0)); then
    pass "lintian: no errors ($warnings warnings)"
else
    fail "lintian: $errors errors"
fi

step "contents (dpkg-deb -c)"
dpkg-deb -c "$deb" | awk '{ print $1, $6 }' > build/package-contents.txt
expect=(
    "-rwxr-xr-x ./usr/sbin/tbhelperd"
    "-rwxr-xr-x ./usr/sbin/tbhelperctl"
    "-rw-r--r-- ./etc/tbhelper/tbhelper.conf"
    "-rw-r--r-- ./lib/systemd/system/tbhelperd.service"
    "-rw-r--r-- ./usr/lib/modules-load.d/tbhelper.conf"
    "-rw-r--r-- ./usr/share/tbhelper/tbhelper.nft"
    "-rw-r--r-- ./usr/share/bash-completion/completions/tbhelperctl"
    "-rw-r--r-- ./usr/share/man/man8/tbhelperd.8.gz"
    "-rw-r--r-- ./usr/share/man/man8/tbhelperctl.8.gz"
    "-rw-r--r-- ./usr/share/man/man5/tbhelper.conf.5.gz"
    "-rw-r--r-- ./usr/share/doc/tbhelper/copyright"
    "-rw-r--r-- ./usr/share/doc/tbhelper/changelog.gz"
    "-rw-r--r-- ./usr/share/doc/tbhelper/install.md"
    "-rw-r--r-- ./usr/share/doc/tbhelper/ha.md"
    "-rw-r--r-- ./usr/share/doc/tbhelper/examples/ha/conntrackd.conf"
    "-rw-r--r-- ./usr/share/doc/tbhelper/examples/ha/keepalived.conf"
    "-rw-r--r-- ./usr/share/doc/tbhelper/examples/ha/tbhelperd-ha.conf"
    "-rwxr-xr-x ./usr/share/tbhelper/tbhelper-ha-notify"
)
for e in "${expect[@]}"; do
    grep -qxF -- "$e" build/package-contents.txt && pass "contains $e" || fail "missing $e"
done
if grep -E ' \./(usr/)?(bin|sbin)/tbsim$' build/package-contents.txt; then
    fail "the simulator tbsim is in the package"
else
    pass "tbsim (test tool) not in the package"
fi

step "control: conffiles, dependencies, maintainer scripts"
ctl=$(mktemp -d)
trap 'rm -rf "$ctl"' EXIT
dpkg-deb -e "$deb" "$ctl/DEBIAN"
dpkg-deb -x "$deb" "$ctl/root"
grep -qx /etc/tbhelper/tbhelper.conf "$ctl/DEBIAN/conffiles" \
    && pass "conffiles lists /etc/tbhelper/tbhelper.conf" || fail "conffiles: $(cat "$ctl/DEBIAN/conffiles" 2>&1)"
dpkg-deb -I "$deb" | sed -n 's/^ \(Depends\|Recommends\|Version\|Architecture\): /&/p' | sed 's/^/    /'
[[ $(dpkg-deb -f "$deb" Version) == "$version" ]] && pass "version $version (VERSION file)" || fail "version $(dpkg-deb -f "$deb" Version) != $version"
dpkg-deb -f "$deb" Depends | grep -q 'libc6' && pass "Depends from shlibs: $(dpkg-deb -f "$deb" Depends)" || fail "Depends: $(dpkg-deb -f "$deb" Depends)"
for r in nftables conntrack; do
    dpkg-deb -f "$deb" Recommends | grep -qw "$r" && pass "Recommends $r" || fail "Recommends lacks $r"
done
for s in postinst prerm postrm; do
    if [[ -x $ctl/DEBIAN/$s ]] && sh -n "$ctl/DEBIAN/$s"; then pass "$s present, sh -n clean"; else fail "$s"; fi
done
grep -q 'deb-systemd-helper' "$ctl/DEBIAN/postinst" && pass "postinst enables the unit (dh_installsystemd)" || fail "postinst has no dh_installsystemd snippet"
grep -q 'tbhelperctl rules --remove' "$ctl/DEBIAN/prerm" && grep -q 'tbhelperd --unregister' "$ctl/DEBIAN/prerm" \
    && pass "prerm removes the rules and the helper registration" || fail "prerm lacks rules --remove / --unregister"
grep -q 'rm -rf /etc/tbhelper' "$ctl/DEBIAN/postrm" && pass "postrm purge removes /etc/tbhelper" || fail "postrm purge"
# Commands only: the here-document that tells the administrator what to do is text.
if sed "/<<'MSG'/,/^MSG\$/d; /^[[:space:]]*#/d" "$ctl/DEBIAN/postinst" | grep -Eq '(^|[;&|( ])(nft|iptables|tbhelperctl)[[:space:]]'; then
    fail "postinst changes the firewall"
else
    pass "postinst does not change the firewall"
fi

step "files"
root=$ctl/root
cmp -s "$root/etc/tbhelper/tbhelper.conf" packaging/tbhelper.conf && pass "conffile = packaging/tbhelper.conf" || fail "conffile differs"
for k in queue tcp_contact_ports udp_contact_ports allowed_ports max_expectations expectation_timeout nat_rewrite log_level; do
    grep -Eq "^$k = " "$root/etc/tbhelper/tbhelper.conf" && pass "config sets $k" || fail "config lacks key $k"
done
if [[ -x build/tbhelperd ]]; then
    if out=$(build/tbhelperd --config "$root/etc/tbhelper/tbhelper.conf" --check-config 2>&1); then
        pass "tbhelperd --check-config accepts the shipped configuration"
    else
        fail "tbhelperd --check-config rejects the shipped configuration: $out"
    fi
fi
if [[ -x build/tbhelperctl ]]; then
    # The Makefile's only change: the header names the installed configuration.
    if build/tbhelperctl rules --config packaging/tbhelper.conf 2> "$ctl/rules.err" \
        | sed 's|from packaging/tbhelper.conf$|from the default /etc/tbhelper/tbhelper.conf|' > "$ctl/rules.nft" \
        && [[ -s $ctl/rules.nft ]]; then
        if cmp -s "$ctl/rules.nft" "$root/usr/share/tbhelper/tbhelper.nft"; then
            pass "tbhelper.nft = 'tbhelperctl rules' for the shipped configuration"
        else
            fail "tbhelper.nft differs from 'tbhelperctl rules':"
            diff -u "$root/usr/share/tbhelper/tbhelper.nft" "$ctl/rules.nft" | head -30
        fi
    else
        fail "tbhelperctl rules failed: $(head -c 300 "$ctl/rules.err")"
    fi
else
    fail "no build/tbhelperctl (run make first)"
fi
grep -q 'table inet tbhelper' "$root/usr/share/tbhelper/tbhelper.nft" && pass "tbhelper.nft declares table inet tbhelper" \
    || fail "tbhelper.nft has no 'table inet tbhelper'"
if nft -c -f "$root/usr/share/tbhelper/tbhelper.nft" >/dev/null 2>"$ctl/nft.err"; then
    pass "nft -c accepts tbhelper.nft"
elif grep -qi 'no such file\|helper' "$ctl/nft.err"; then
    echo "NOTE: nft -c cannot check the ct helper objects here (no helper registered on this kernel): $(head -c 200 "$ctl/nft.err")"
else
    fail "nft -c: $(head -c 300 "$ctl/nft.err")"
fi
mods=$(grep -Ev '^\s*(#|$)' "$root/usr/lib/modules-load.d/tbhelper.conf" | tr '\n' ' ')
[[ $mods == "nfnetlink_cthelper nfnetlink_queue nf_conntrack_netlink nft_ct nf_nat " ]] \
    && pass "modules-load.d: $mods" || fail "modules-load.d lists '$mods'"
bash -n "$root/usr/share/bash-completion/completions/tbhelperctl" && pass "bash completion: bash -n" || fail "bash completion syntax"
if bash -c ". /usr/share/bash-completion/bash_completion 2>/dev/null; . '$root/usr/share/bash-completion/completions/tbhelperctl'
           COMP_WORDS=(tbhelperctl ru); COMP_CWORD=1; COMP_LINE='tbhelperctl ru'; COMP_POINT=\${#COMP_LINE}
           _tbhelperctl; [[ \${COMPREPLY[*]} == rules ]]" 2>/dev/null; then
    pass "bash completion completes 'tbhelperctl ru' to rules"
elif [[ -f /usr/share/bash-completion/bash_completion ]]; then
    fail "bash completion does not complete 'tbhelperctl ru'"
fi
for m in man8/tbhelperd.8 man8/tbhelperctl.8 man5/tbhelper.conf.5; do
    w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$root/usr/share/man/$m.gz" 2>&1 >/dev/null)
    [[ -z $w ]] && pass "man $m renders without warnings" || fail "man $m: $w"
done

step "systemd unit"
unit=$root/lib/systemd/system/tbhelperd.service
cmp -s "$unit" packaging/tbhelperd.service && pass "unit = packaging/tbhelperd.service" || fail "unit differs"
for k in 'ExecStart=/usr/sbin/tbhelperd --foreground' 'ExecReload=/bin/kill -HUP $MAINPID' 'Restart=on-failure' \
         'RuntimeDirectory=tbhelper' 'DynamicUser=yes' 'CapabilityBoundingSet=CAP_NET_ADMIN' 'AmbientCapabilities=CAP_NET_ADMIN' 'RestrictAddressFamilies=AF_NETLINK AF_UNIX' \
         'ProtectSystem=strict' 'ProtectKernelModules=yes' 'NoNewPrivileges=yes' 'WantedBy=multi-user.target'; do
    grep -qxF -- "$k" "$unit" && pass "unit: $k" || fail "unit lacks: $k"
done
grep -Eq '^Before=(.* )?nftables.service( |$)' "$unit" && pass "unit: Before=nftables.service" || fail "unit not ordered before nftables.service"
grep -q '^ExecStartPre=-+/sbin/modprobe -a nfnetlink_cthelper nfnetlink_queue nf_conntrack_netlink nft_ct nf_nat$' "$unit" \
    && pass "unit loads the modules before start (outside the sandbox)" || fail "unit: no ExecStartPre modprobe"
if grep -qx 'Type=notify' "$unit"; then
    # Type=notify needs a daemon that sends READY=1 (else every start times out).
    grep -aq 'NOTIFY_SOCKET' "$root/usr/sbin/tbhelperd" && grep -aq 'READY=1' "$root/usr/sbin/tbhelperd" \
        && pass "Type=notify, and tbhelperd sends READY=1 to NOTIFY_SOCKET" \
        || fail "Type=notify but tbhelperd has no sd_notify (NOTIFY_SOCKET/READY=1)"
fi
# Offline checks need the programs at their paths: the unpacked package as the
# root, with copies of the few host programs the unit runs.
for p in /bin/sh /bin/kill /sbin/modprobe; do install -D "$(readlink -f $p)" "$root$p"; done
if out=$(systemd-analyze verify --root="$root" /lib/systemd/system/tbhelperd.service 2>&1 | grep -v "Command 'man " ); [[ -z $out ]]; then
    pass "systemd-analyze verify"
else
    echo "$out" | sed 's/^/    /'
    fail "systemd-analyze verify complains"
fi
systemd-analyze security --offline=true "$unit" > "$ctl/security.txt" 2>&1
exposure=$(sed -n 's/.*Overall exposure level for tbhelperd.service: \([0-9.]*\).*/\1/p' "$ctl/security.txt")
if [[ -n $exposure ]] && awk -v e="$exposure" 'BEGIN { exit !(e <= 4.0) }'; then
    pass "systemd-analyze security exposure $exposure <= 4.0"
else
    grep '✗' "$ctl/security.txt" | sed 's/^/    /'
    fail "systemd-analyze security exposure '${exposure:-?}' (want <= 4.0)"
fi
grep -q "exposure.* $exposure" docs/install.md 2>/dev/null && pass "docs/install.md quotes the exposure figure $exposure" \
    || fail "docs/install.md does not quote the exposure $exposure"

step "hardened binaries"
# (-fcf-protection is not in Debian 12's default build flags.)
if command -v hardening-check >/dev/null; then
    for b in tbhelperd tbhelperctl; do
        if out=$(hardening-check --nocfprotection "$root/usr/sbin/$b" 2>&1); then pass "hardening-check $b"
        else echo "$out" | sed 's/^/    /'; fail "hardening-check $b"; fi
    done
fi

echo
if ((fails)); then echo "package/10-deb: $fails failure(s)"; exit 1; fi
echo "package/10-deb: all passed"
