"""Versions of the software stack and what QEMU can emulate.

Installed packages and QEMU's abilities do not change while the agent runs
(an upgrade restarts it), so each probe runs once per process and its
answer is kept. A missing tool is logged and reported as unknown, never an
error: capabilities must still be answered.
"""

from __future__ import annotations

import functools
import logging
import platform
import re

import vdsm
from vdsm.common import commands
from vdsm.host import osinfo

log = logging.getLogger(__name__)

VERSION_NAME = "Snow Man"
SOFTWARE_REVISION = "0"
SUPPORTED_ENGINES = ["4.2", "4.3", "4.4", "4.5"]
PROBE_TIMEOUT = 20.0

# packages2 key -> Debian package carrying it.
DEBIAN_PACKAGES = {
    "libvirt": "libvirt0",
    "qemu-kvm": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "lvm2": "lvm2",
    "spice-server": "libspice-server1",
    "librbd1": "librbd1",
    "sanlock": "sanlock",
}


def qemu_binary() -> str:
    return f"qemu-system-{platform.machine()}"


def _run_optional(argv: list[str]) -> str | None:
    try:
        return commands.run(argv, timeout=PROBE_TIMEOUT).out
    except commands.CommandError as e:
        log.warning("probe failed: %s", e)
        return None


def parse_qemu_version(text: str) -> str:
    """'QEMU emulator version 7.2.22 (Debian ...)' -> '7.2.22'."""
    m = re.search(r"version (\d+(?:\.\d+)+)", text)
    return m.group(1) if m else ""


def parse_machine_help(text: str) -> list[str]:
    """Machine type names from ``qemu-system-* -machine help``."""
    machines = []
    for line in text.splitlines()[1:]:
        name = line.split(None, 1)[0] if line.strip() else ""
        if name and name != "none":
            machines.append(name)
    return machines


def split_debian_version(version: str) -> dict[str, str]:
    """'1:7.2+dfsg-7+deb12u18' -> {'version': '7.2+dfsg', 'release': '7+deb12u18'}."""
    _, _, version = version.rpartition(":")
    upstream, sep, revision = version.rpartition("-")
    if not sep:
        return {"version": version, "release": ""}
    return {"version": upstream, "release": revision}


def parse_dpkg_query(text: str) -> dict[str, str]:
    """Lines 'name<TAB>version<TAB>status' -> {name: version} for installed."""
    found = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[2].endswith(" installed") and fields[1]:
            found[fields[0]] = fields[1]
    return found


@functools.cache
def dpkg_versions() -> dict[str, str]:
    """Installed versions of DEBIAN_PACKAGES; {} where dpkg is absent."""
    argv = ["dpkg-query", "-W", "-f", "${Package}\t${Version}\t${Status}\n",
            *DEBIAN_PACKAGES.values()]
    try:
        # rc 1 only means some of the packages are not installed.
        result = commands.run(argv, timeout=PROBE_TIMEOUT, check=False)
    except commands.CommandError as e:
        log.info("no dpkg here: %s", e)
        return {}
    return parse_dpkg_query(result.out)


@functools.cache
def qemu_version() -> str:
    out = _run_optional([qemu_binary(), "--version"])
    return parse_qemu_version(out) if out else ""


@functools.cache
def qemu_img_version() -> str:
    out = _run_optional(["qemu-img", "--version"])
    return parse_qemu_version(out) if out else ""


@functools.cache
def emulated_machines() -> tuple[str, ...]:
    out = _run_optional([qemu_binary(), "-machine", "help"])
    return tuple(parse_machine_help(out)) if out else ()


@functools.cache
def libvirt_version() -> str:
    """Version of the libvirt library, 'x.y.z', or '' without python3-libvirt."""
    try:
        import libvirt
    except ImportError:
        log.info("python libvirt bindings not installed")
        return ""
    number = libvirt.getVersion()
    return f"{number // 1000000}.{number // 1000 % 1000}.{number % 1000}"


def _package(version: str, debian_name: str, debs: dict[str, str]) -> dict:
    release = split_debian_version(debs[debian_name])["release"] \
        if debian_name in debs else ""
    return {"version": version, "release": release}


def package_versions() -> dict[str, dict[str, str]]:
    """Classic ``packages2``: ``{name: {'version': ..., 'release': ...}}``.

    kernel, vdsm, libvirt, qemu-kvm and qemu-img come from the running
    software itself; the rest from dpkg when installed.
    """
    debs = dpkg_versions()
    packages = {
        "kernel": osinfo.kernel_version(),
        "vdsm": {"version": vdsm.__version__, "release": SOFTWARE_REVISION},
    }
    for key, version in (("libvirt", libvirt_version()),
                         ("qemu-kvm", qemu_version()),
                         ("qemu-img", qemu_img_version())):
        if version:
            packages[key] = _package(version, DEBIAN_PACKAGES[key], debs)
    for key, deb in DEBIAN_PACKAGES.items():
        if key not in packages and deb in debs:
            packages[key] = split_debian_version(debs[deb])
    return packages


def _major_minor(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:2] if p.isdigit())


def cluster_levels() -> list[str]:
    """Engine cluster levels this libvirt/QEMU pair can serve."""
    levels = ["4.2", "4.3", "4.4", "4.5", "4.6"]
    libvirt = _major_minor(libvirt_version())
    qemu = _major_minor(qemu_version())
    if libvirt >= (8, 0):
        levels.append("4.7")
    if libvirt >= (10, 10) and qemu >= (9, 1):
        levels.append("4.8")
    return levels


def version_info() -> dict:
    return {
        "version_name": VERSION_NAME,
        "software_version": vdsm.__version__,
        "software_revision": SOFTWARE_REVISION,
        "supportedENGINEs": list(SUPPORTED_ENGINES),
        "clusterLevels": cluster_levels(),
    }
