#!/usr/bin/python3
"""Build a tiny bootable test guest from Debian packages.

    scripts/build-test-guest.py [--dir DIR] [--no-agent] [--force]

Downloads (``apt-get download``, no installation) the Debian cloud kernel,
``busybox-static`` and ``qemu-guest-agent``, unpacks them with
``dpkg-deb -x`` and writes into DIR (default ``$VDSM_TEST_GUEST_DIR`` or
/var/cache/vdsm-test-guest, outside the repository):

- ``vmlinuz``: the kernel, booted directly by libvirt (``<kernel>``);
- ``initrd.img``: busybox, the virtio/ACPI modules the kernel needs (with
  their dependencies, loaded by ``insmod`` in order) and the guest agent
  with the host's copies of its libraries;
- ``guest.json``: what was built (kernel version, paths, recipe).

The guest's init prints ``VDSM-TEST-GUEST BOOTED`` on the serial console,
then ``VDSM-TEST-GUEST uptime <seconds>`` every second (a counter that
keeps counting across save/restore). An ACPI power button press or the
guest agent's ``guest-shutdown`` powers it off.

The oVirt guest agent stand-in (scripts/test-guest-ovirt-agent.sh) runs
on the channel ovirt-guest-agent.0 (or com.redhat.rhevm.vdsm) unless the
kernel command line says ``vdsm_no_ovirt_agent``; ``vdsm_ip=ADDR/PREFIX``
gives eth0 that address.

Idempotent: an up-to-date DIR (same RECIPE and the same digest of this
script and the guest's scripts) is left alone. Prints the guest.json path.
Exit status 0 when the guest is ready, 1 with the reason on stderr.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

DEFAULT_DIR = "/var/cache/vdsm-test-guest"
ENV_DIR = "VDSM_TEST_GUEST_DIR"
RECIPE = 8  # bump when the image content changes
KERNEL_META = "linux-image-cloud-amd64"
MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "virtio_console",
           "virtio_balloon", "virtio_scsi", "button", "evdev")
TIMEOUT = 300

INIT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /run /var
/bin/busybox ln -s /run /var/run
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /etc/modules.order); do insmod "/lib/modules/$m" 2>/dev/null; done
# A disk with serial vdsm-write-test gets filled (I/O error tests).
for s in /sys/block/vd*; do
    [ -e "$s/serial" ] || continue
    if [ "$(cat "$s/serial")" = "vdsm-write-test" ]; then
        (dd if=/dev/zero of="/dev/$(basename "$s")" bs=1M count=32 conv=fsync \
            2>&1; echo "VDSM-TEST-GUEST write test done") &
    fi
    # A disk with serial vdsm-fs-test holds an ext4 file system: mounted.
    if [ "$(cat "$s/serial")" = "vdsm-fs-test" ]; then
        mkdir -p /mnt/test && mount -t ext4 "/dev/$(basename "$s")" /mnt/test &&
            echo "VDSM-TEST-GUEST mounted /mnt/test"
    fi
done
acpid -c /etc/acpi -l /tmp/acpid.log
# vdsm_ip=ADDR/PREFIX on the kernel command line: eth0 gets it.
for arg in $(cat /proc/cmdline); do
    case "$arg" in
    vdsm_ip=*)
        ip link set eth0 up && ip addr add "${arg#vdsm_ip=}" dev eth0 &&
            echo "VDSM-TEST-GUEST eth0 ${arg#vdsm_ip=}" ;;
    esac
done
# The oVirt guest agent stand-in, unless vdsm_no_ovirt_agent is given.
if ! grep -qw vdsm_no_ovirt_agent /proc/cmdline; then
    for p in /sys/class/virtio-ports/*; do
        [ -e "$p/name" ] || continue
        case "$(cat "$p/name")" in
        com.redhat.rhevm.vdsm|ovirt-guest-agent.0)
            /bin/ovirt-agent "/dev/$(basename "$p")" & ;;
        esac
    done
fi
if [ -x /usr/sbin/qemu-ga ]; then
    for p in /sys/class/virtio-ports/*; do
        [ -e "$p/name" ] || continue
        if [ "$(cat "$p/name")" = "org.qemu.guest_agent.0" ]; then
            /usr/sbin/qemu-ga -m virtio-serial -p "/dev/$(basename "$p")" \
                2>&1 &
            echo "VDSM-TEST-GUEST agent started"
        fi
    done
fi
# vdsm_dirty=N on the kernel command line: keep rewriting N MiB of random
# data (memory dirtied faster than a slow migration can send it).
for arg in $(cat /proc/cmdline); do
    case "$arg" in vdsm_dirty=*)
        n="${arg#vdsm_dirty=}"
        dd if=/dev/urandom of=/tmp/random bs=1M count="$n" 2>/dev/null
        (while true; do cat /tmp/random > /tmp/dirty; done) &
        echo "VDSM-TEST-GUEST dirtying $n MiB";;
    esac
done
# Ready: acpid listens to the power button, the agent (if any) runs.
echo "VDSM-TEST-GUEST BOOTED"
while true; do
    echo "VDSM-TEST-GUEST uptime $(cut -d' ' -f1 /proc/uptime)"
    sleep 1
done
"""
POWEROFF = "#!/bin/sh\necho 'VDSM-TEST-GUEST powering off'\npoweroff -f\n"
# qemu-ga runs /sbin/shutdown with its output on /dev/null: say so on the console.
AGENT_SHUTDOWN = ("#!/bin/sh\necho 'VDSM-TEST-GUEST shutdown by the guest agent' "
                  ">/dev/console\nexec /etc/acpi/PWRF/00000080\n")
OVIRT_AGENT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "test-guest-ovirt-agent.sh")


def fail(message: str) -> None:
    sys.stderr.write(f"build-test-guest: {message}\n")
    raise SystemExit(1)


def run(argv: list[str], cwd: str | None = None) -> str:
    try:
        res = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                             timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        fail(f"{argv[0]}: {e}")
    if res.returncode != 0:
        fail(f"{' '.join(argv)} failed (rc={res.returncode}): "
             f"{res.stderr.strip()[-800:]}")
    return res.stdout


def kernel_package() -> str:
    out = run(["apt-cache", "depends", KERNEL_META])
    match = re.search(r"Depends: (linux-image-\S+-cloud-amd64)\b", out)
    if not match:
        fail(f"cannot tell which kernel {KERNEL_META} depends on")
    return match.group(1)


def download(packages: list[str], where: str) -> None:
    try:
        run(["apt-get", "download", *packages], cwd=where)
    except SystemExit:
        # Package lists may be missing on a fresh machine.
        run(["apt-get", "update", "-q"])
        run(["apt-get", "download", *packages], cwd=where)
    for deb in glob.glob(os.path.join(where, "*.deb")):
        run(["dpkg-deb", "-x", deb, os.path.join(where, "root")])


def module_index(moddir: str) -> dict[str, str]:
    index = {}
    for dirpath, _, files in os.walk(moddir):
        for name in files:
            if name.endswith(".ko"):
                index[name[:-3].replace("-", "_")] = os.path.join(dirpath, name)
    return index


def depends(path: str) -> list[str]:
    with open(path, "rb") as f:
        data = f.read()
    match = re.search(rb"\0depends=([^\0]*)\0", data)
    if not match or not match.group(1):
        return []
    return [d.replace("-", "_") for d in match.group(1).decode().split(",")]


def load_order(index: dict[str, str], wanted: tuple[str, ...]) -> list[str]:
    """Module names, every dependency before its user."""
    order: list[str] = []

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in order or name in trail:
            return
        if name not in index:
            fail(f"kernel module {name} not found (needed by {trail})")
        for dep in depends(index[name]):
            visit(dep, trail + (name,))
        order.append(name)

    for name in wanted:
        visit(name, ())
    return order


def shared_libraries(binary: str) -> list[str]:
    """Host paths of the libraries ``binary`` links (the guest is Debian too)."""
    out = run(["ldd", binary])
    missing = [line.split()[0] for line in out.splitlines() if "not found" in line]
    if missing:
        raise LookupError(f"{binary} needs libraries this host lacks: "
                          f"{', '.join(missing)}")
    libs = []
    for line in out.splitlines():
        match = re.search(r"(/\S+) \(0x", line)
        if match:
            libs.append(match.group(1))
    return libs


class Cpio:
    """A newc archive, written in memory (no cpio program needed)."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes) -> None:
        encoded = name.encode() + b"\0"
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0,
                  len(encoded), 0)
        self.ino += 1
        self.buf.write(b"070701" + "".join(f"{v:08x}" for v in fields).encode())
        self.buf.write(encoded)
        self.buf.write(b"\0" * (-(110 + len(encoded)) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-len(data) % 4))

    def directory(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755, b"")

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        parts = name.split("/")
        for i in range(1, len(parts)):
            self.directory("/".join(parts[:i]))
        self._entry(name, stat.S_IFREG | mode, data)

    def close(self) -> bytes:
        self._entry("TRAILER!!!", 0, b"")
        return self.buf.getvalue()


def build(target: str, *, agent: bool) -> dict:
    os.makedirs(target, exist_ok=True)
    work = tempfile.mkdtemp(prefix="test-guest-", dir=target)
    try:
        kernel_pkg = kernel_package()
        packages = [kernel_pkg, "busybox-static"]
        if agent:
            packages.append("qemu-guest-agent")
        download(packages, work)
        root = os.path.join(work, "root")
        vmlinuz = glob.glob(os.path.join(root, "boot", "vmlinuz-*"))
        if len(vmlinuz) != 1:
            fail(f"expected one kernel in {kernel_pkg}, found {vmlinuz}")
        version = os.path.basename(vmlinuz[0])[len("vmlinuz-"):]
        index = module_index(os.path.join(root, "lib", "modules", version))
        order = load_order(index, MODULES)

        cpio = Cpio()
        cpio.directory("dev")
        cpio.file("init", INIT.encode(), 0o755)
        with open(os.path.join(root, "bin", "busybox"), "rb") as f:
            cpio.file("bin/busybox", f.read(), 0o755)
        names = []
        for name in order:
            rel = os.path.relpath(index[name], os.path.join(root, "lib", "modules"))
            with open(index[name], "rb") as f:
                cpio.file(f"lib/modules/{rel}", f.read())
            names.append(rel)
        cpio.file("etc/modules.order", ("\n".join(names) + "\n").encode())
        cpio.file("etc/acpi/PWRF/00000080", POWEROFF.encode(), 0o755)
        cpio.file("sbin/shutdown", AGENT_SHUTDOWN.encode(), 0o755)
        with open(OVIRT_AGENT, "rb") as f:
            cpio.file("bin/ovirt-agent", f.read(), 0o755)
        if agent:
            qga = os.path.join(root, "usr", "sbin", "qemu-ga")
            try:
                libs = shared_libraries(qga)
            except LookupError as e:
                sys.stderr.write(f"build-test-guest: no guest agent: {e}\n")
                agent, libs = False, []
            if agent:
                with open(qga, "rb") as f:
                    cpio.file("usr/sbin/qemu-ga", f.read(), 0o755)
            for lib in libs:
                with open(lib, "rb") as f:
                    cpio.file(lib.lstrip("/"), f.read(), 0o755)
        initrd = os.path.join(target, "initrd.img")
        with open(initrd + ".tmp", "wb") as f:
            f.write(gzip.compress(cpio.close(), compresslevel=6, mtime=0))
        os.replace(initrd + ".tmp", initrd)
        kernel = os.path.join(target, "vmlinuz")
        shutil.copyfile(vmlinuz[0], kernel + ".tmp")
        os.replace(kernel + ".tmp", kernel)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"recipe": RECIPE, "digest": content_digest(), "kernel": kernel,
            "initrd": initrd,
            "kernel_version": version, "agent": agent,
            "cmdline": "console=ttyS0 panic=-1 quiet"}


def content_digest() -> str:
    """What the image is made of (this script and the guest's scripts):
    any change to them rebuilds a cached guest without a RECIPE bump."""
    digest = hashlib.sha256()
    for path in (os.path.abspath(__file__), OVIRT_AGENT):
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def is_fresh(info_path: str, *, agent: bool) -> bool:
    """Whether the guest described by ``info_path`` can be used as it is."""
    try:
        with open(info_path) as f:
            info = json.load(f)
        return (info.get("recipe") == RECIPE
                and info.get("digest") == content_digest()
                and info.get("asked_agent", info.get("agent")) == agent
                and all(os.path.exists(info[k]) for k in ("kernel", "initrd")))
    except (OSError, ValueError, KeyError, AttributeError):
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=os.environ.get(ENV_DIR, DEFAULT_DIR))
    parser.add_argument("--no-agent", action="store_true")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    info_path = os.path.join(args.dir, "guest.json")
    agent = not args.no_agent
    if is_fresh(info_path, agent=agent) and not args.force:
        print(info_path)
        return 0
    for tool in ("apt-get", "apt-cache", "dpkg-deb", "ldd"):
        if shutil.which(tool) is None:
            fail(f"{tool} not found (a Debian host is needed)")
    info = build(args.dir, agent=agent)
    info["asked_agent"] = agent
    with open(info_path + ".tmp", "w") as f:
        json.dump(info, f, indent=2)
    os.replace(info_path + ".tmp", info_path)
    print(info_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
