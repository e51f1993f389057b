#!/bin/bash
# Fetches firewalld and ufw, with whatever of their dependencies this machine
# lacks, as .deb files for the package test bed to install INSIDE the VM (the
# overlay root of tests/vm/run-systemd.sh is thrown away at power-off). They
# are never installed on this machine: an enabled firewalld (or ufw) here
# would filter the machine's own traffic, on a CI runner too.
# `apt-get install --simulate --no-install-recommends` names the packages
# (what this machine's release would install; nothing is changed), `apt-get
# download` fetches them into build/firewall-debs/ (kept: later runs reuse
# them). They are then unpacked (dpkg -x) into one tree, root.tar, that the
# VM extracts over its overlay root: `dpkg -i` of the nine packages inside
# the VM took 457 s (dpkg's database and the Python byte-compilation over 9p
# under TCG), extracting the tree takes seconds. What the maintainer scripts
# would have done that the tests need is done here on the tree: ufw's
# postinst copies its rule templates into /etc/ufw, firewalld's selects its
# polkit actions. Nothing else is needed: firewalld ships its configuration,
# and the test starts the services itself.
# Prints the directory.
#   tests/package/firewall-debs.sh [BUILD_DIR]
set -euo pipefail
build=$(realpath -m -- "${1:-build}")
dir=$build/firewall-debs
wanted=(firewalld ufw)
# .complete names the layout of the tree; an older one is made anew.
layout=3-pyc-trimmed-includes
if [[ -f $dir/.complete && $(cat "$dir/.complete") == "$layout" ]]; then echo "$dir"; exit 0; fi
names=$(apt-get install --simulate --no-install-recommends -o Debug::NoLocking=1 "${wanted[@]}" 2>/dev/null \
    | awk '$1 == "Inst" { print $2 }') \
    || { echo "firewall-debs: apt-get install --simulate ${wanted[*]} failed (apt-get update?)" >&2; exit 1; }
for w in "${wanted[@]}"; do
    grep -qx "$w" <<<"$names" || { echo "firewall-debs: $w is installed on this machine or not available; refusing (this machine must not run it)" >&2; exit 1; }
done
rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
# shellcheck disable=SC2086
( cd "$dir.tmp" && apt-get download -q $names ) >&2 \
    || { echo "firewall-debs: apt-get download $(echo $names) failed" >&2; exit 1; }
# The tree, laid out like this machine's root: a merged /usr has /lib, /bin
# and /sbin as symbolic links, which the archive must not replace.
tree=$dir.tmp/root
mkdir -p "$tree"
for d in "$dir.tmp"/*.deb; do dpkg -x "$d" "$tree"; done
for top in lib bin sbin; do
    if [[ -L /$top && -d $tree/$top && ! -L $tree/$top ]]; then
        mkdir -p "$tree/usr/$top"; cp -a "$tree/$top/." "$tree/usr/$top/"; rm -rf "${tree:?}/$top"
    fi
done
# ufw's postinst: the rules files and ufw.conf from its templates.
for f in before.rules before6.rules after.rules after6.rules user.rules user6.rules; do
    install -m 0640 "$tree/usr/share/ufw/iptables/$f" "$tree/etc/ufw/$f"
done
install -m 0644 "$tree/usr/share/ufw/ufw.conf" "$tree/etc/ufw/ufw.conf"
# firewalld's postinst: the polkit actions (an alternative; without them
# polkit refuses every firewall-cmd call, root's included).
actions=$tree/usr/share/polkit-1/actions
ln -sf org.fedoraproject.FirewallD1.server.policy.choice "$actions/org.fedoraproject.FirewallD1.policy"
# Smaller to extract over 9p: no manual pages, translations, documentation.
rm -rf "$tree/usr/share/man" "$tree/usr/share/locale" "$tree/usr/share/doc" "$tree/usr/share/ufw/messages"
# firewalld's catalogue of services: only those its zones and policies name,
# with the services those include (samba-client includes netbios-ns), and
# the helpers, all of them, a few files. firewalld parses every service file
# at each start and reload, about 200 of them, which under QEMU's CPU
# emulation took most of a minute; none of the others takes part in the
# test. A name left out would fail firewalld's start (INVALID_SERVICE).
# The package under test brings its own service timbuktu.
services=$tree/usr/lib/firewalld/services
if [[ -d $services ]]; then
    keep=$(cat "$tree"/usr/lib/firewalld/zones/*.xml "$tree"/usr/lib/firewalld/policies/*.xml 2>/dev/null \
        | sed -n 's/.*<service name="\([^"]*\)".*/\1/p' | sort -u)
    while :; do
        more=$(for n in $keep; do cat "$services/$n.xml"; done \
            | sed -n 's/.*<include service="\([^"]*\)".*/\1/p'; echo "$keep")
        more=$(sort -u <<<"$more" | grep .)
        [[ $more == "$keep" ]] && break
        keep=$more
    done
    for n in $keep; do
        [[ -f $services/$n.xml ]] || { echo "firewall-debs: service $n (named by a zone) missing" >&2; exit 1; }
    done
    for f in "$services"/*.xml; do
        n=$(basename "$f" .xml)
        grep -qx -- "$n" <<<"$keep" || rm -f "$f"
    done
    echo "firewall-debs: firewalld services kept: $(echo $keep)" >&2
fi
# What the packages' postinst would do with py3compile: byte-compile their
# Python modules (firewalld, firewall-cmd, ufw and the Python libraries the
# machine lacked), here on this machine instead of in the guest, where every
# firewall-cmd and ufw call compiled them again under QEMU's CPU emulation.
# Debian's own interpreter (this machine's release is the guest's, so its
# version and bytecode are the guest's); -p / records the installed paths.
if [[ -d $tree/usr/lib/python3 ]]; then
    /usr/bin/python3 -m compileall -q -j 0 -s "$tree" -p / "$tree/usr/lib/python3" >&2 \
        || { echo "firewall-debs: python3 -m compileall failed" >&2; exit 1; }
fi
tar -C "$tree" -cf "$dir.tmp/root.tar" .
rm -rf "$tree"
echo "$layout" > "$dir.tmp/.complete"
rm -rf "$dir" && mv "$dir.tmp" "$dir"
echo "$dir"
