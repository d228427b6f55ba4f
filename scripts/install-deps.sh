#!/bin/sh
# Install what vdsm needs on Debian 12 (run as root), and a venv in .venv
# that sees Debian's python3-libvirt & co. (--system-site-packages).
# Idempotent: re-running installs nothing new.
set -eu
cd "$(dirname "$0")/.."

DEBS="python3 python3-venv python3-pip python3-yaml python3-cryptography \
python3-libvirt python3-lxml python3-pyudev python3-ethtool python3-pyroute2 \
python3-sanlock python3-pytest \
libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients \
qemu-system-x86 qemu-utils iproute2 procps passwd \
sanlock lvm2 gcc libc6-dev libfuse3-dev fuse3 pkg-config e2fsprogs util-linux \
busybox dnsmasq-base python3-prometheus-client prometheus \
tgt libiscsi-bin open-iscsi \
fence-agents ipmitool openipmi"

missing=""
for p in $DEBS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing Debian packages:$missing"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

if [ ! -x .venv/bin/python ]; then
    /usr/bin/python3 -m venv --system-site-packages .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check \
    -r requirements-dev.txt
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps \
    --no-build-isolation -e .
