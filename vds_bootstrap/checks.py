"""Read-only checks of the host: operating system and CPU virtualization.

Parsers take text so they can be tested on recorded files; the steps read
the real /etc/os-release, uname and /proc/cpuinfo.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shlex

from vds_bootstrap import report
from vds_bootstrap.report import StepResult

log = logging.getLogger(__name__)

OS_RELEASE = "/etc/os-release"
CPUINFO = "/proc/cpuinfo"
KVM_DEV = "/dev/kvm"

DEBIAN_FAMILY = {"debian", "ubuntu"}
RHEL_FAMILY = {"rhel", "centos", "fedora", "rocky", "almalinux", "ol"}
# Oldest kernel the agent is written for (namespaces, cgroup v2, pidfds).
MIN_KERNEL = (4, 18)
KVM_GET_API_VERSION = 0xAE00


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value lines of os-release(5), values unquoted."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            parts = shlex.split(value)
        except ValueError:
            parts = [value]
        fields[key] = parts[0] if parts else ""
    return fields


def os_family(fields: dict[str, str]) -> str | None:
    """'debian', 'rhel' or None for a distribution we do not know."""
    ids = {fields.get("ID", "").lower()}
    ids.update(fields.get("ID_LIKE", "").lower().split())
    if ids & DEBIAN_FAMILY:
        return "debian"
    if ids & RHEL_FAMILY:
        return "rhel"
    return None


def kernel_version(release: str) -> tuple[int, int]:
    """(major, minor) of a uname release such as '6.1.0-18-amd64'."""
    numbers = []
    for part in release.split("-", 1)[0].split(".")[:2]:
        digits = "".join(c for c in part if c.isdigit())
        numbers.append(int(digits) if digits else 0)
    while len(numbers) < 2:
        numbers.append(0)
    return numbers[0], numbers[1]


def check_os(*, os_release: str = OS_RELEASE) -> StepResult:
    """OS family and kernel: FAIL on an old kernel, WARN on an unknown OS."""
    try:
        with open(os_release) as f:
            fields = parse_os_release(f.read())
    except OSError as e:
        return report.fail("OS", f"cannot read {os_release}: {e.strerror}")
    release = os.uname().release
    name = fields.get("PRETTY_NAME") or fields.get("NAME", "unknown")
    text = f"{name}, kernel {release}"
    if kernel_version(release) < MIN_KERNEL:
        wanted = ".".join(map(str, MIN_KERNEL))
        return report.fail("OS", f"{text}: kernel older than {wanted}")
    family = os_family(fields)
    if family is None:
        return report.warn("OS", f"{text}: not a Debian or RHEL family system")
    return report.ok("OS", f"{text} ({family} family)")


def cpu_flags(cpuinfo: str) -> set[str]:
    """Flags of the first processor in /proc/cpuinfo."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def kvm_usable(path: str = KVM_DEV) -> str | None:
    """None when /dev/kvm answers KVM_GET_API_VERSION, else the reason.

    Only the version ioctl is issued: no VM is created.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return f"{path}: {e.strerror}"
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
    except OSError as e:
        return f"{path}: KVM_GET_API_VERSION failed: {errno.errorcode.get(e.errno)}"
    finally:
        os.close(fd)
    log.debug("%s API version %s", path, version)
    return None


def check_cpu(*, cpuinfo: str = CPUINFO, kvm_dev: str = KVM_DEV) -> StepResult:
    """vmx/svm and a usable /dev/kvm; without them guests run on TCG (WARN)."""
    try:
        with open(cpuinfo) as f:
            flags = cpu_flags(f.read())
    except OSError as e:
        return report.warn("CPU", f"cannot read {cpuinfo}: {e.strerror}; "
                                  "TCG fallback")
    virt = sorted(flags & {"vmx", "svm"})
    if not virt:
        return report.warn("CPU", "no vmx/svm CPU flag: TCG fallback")
    problem = kvm_usable(kvm_dev)
    if problem:
        return report.warn("CPU", f"{virt[0]} present but {problem}: "
                                  "TCG fallback")
    return report.ok("CPU", f"{virt[0]} present, {kvm_dev} usable")
