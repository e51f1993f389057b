#!/usr/bin/env bash
# Installs the Debian 12 packages (the development and CI machine's release)
# that building, testing and demonstrating tbhelper need. Idempotent: packages
# already present are not touched.
set -euo pipefail

packages=(
  # build
  build-essential pkg-config
  libmnl-dev libnetfilter-queue-dev libnetfilter-conntrack-dev
  libnetfilter-cthelper-dev libnftables-dev libpcap-dev
  libfmt-dev libtomlplusplus-dev nlohmann-json3-dev libcli11-dev
  libsystemd-dev
  # tests
  catch2 clang libclang-rt-14-dev
  # simulator captures, kernel test bed, demonstration
  tshark qemu-system-x86 busybox-static kmod cpio iproute2 nftables conntrack
  socat iptables procps python3 jq
  # tbhelperctl metrics is checked with a real parser of the format
  python3-prometheus-client
  # packaging; debootstrap: the Debian 13 build root (make deb DIST=trixie)
  debhelper devscripts lintian fakeroot bash-completion debootstrap
  # Debian 13's and unstable's kernels ship .ko.xz (the test bed unpacks them)
  xz-utils
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or: sudo make deps)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
