"""The operating system the agent runs on: release, kernel, identity.

Small readers of files under /etc, /proc and /sys, each tolerant of the file
being absent (the documented "unknown" value is returned) but not of other
read errors, which propagate.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import uuid

log = logging.getLogger(__name__)

OS_RELEASE = "/etc/os-release"
DEBIAN_VERSION = "/etc/debian_version"
PROC_CMDLINE = "/proc/cmdline"
SELINUX_ENFORCE = "/sys/fs/selinux/enforce"
ISCSI_INITIATOR = "/etc/iscsi/initiatorname.iscsi"
DMI_PRODUCT_UUID = "/sys/class/dmi/id/product_uuid"
MACHINE_ID = "/etc/machine-id"
VDSM_ID = "/etc/vdsm/vdsm.id"
FIPS_ENABLED = "/proc/sys/crypto/fips_enabled"
DEV_KVM = "/dev/kvm"

# Classic OSName values.
OS_DEBIAN = "Debian"
OS_FEDORA = "Fedora"
OS_RHEL = "RHEL"
OS_UNKNOWN = "unknown"

# Mixed into /etc/machine-id so the host UUID does not reveal the machine id.
_HOST_UUID_APP_ID = b"vdsm host uuid"


def _read_optional(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def parse_key_values(text: str) -> dict[str, str]:
    """``KEY=value`` lines (os-release, initiatorname), quotes removed."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if sep:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            values[key.strip()] = value
    return values


def os_version(*, os_release: str = OS_RELEASE,
               debian_version: str = DEBIAN_VERSION) -> dict[str, str]:
    """Classic ``operatingSystem``: name, version, release, pretty_name."""
    data = parse_key_values(_read_optional(os_release) or "")
    ids = {data.get("ID", "")} | set(data.get("ID_LIKE", "").split())
    if "debian" in ids:
        name = OS_DEBIAN
    elif "fedora" in ids and data.get("ID") == "fedora":
        name = OS_FEDORA
    elif ids & {"rhel", "centos", "fedora"}:
        name = OS_RHEL
    else:
        name = OS_UNKNOWN
    version = data.get("VERSION_ID", "")
    if data.get("ID") == "debian":
        # Debian's point release (12.11) lives in /etc/debian_version.
        version = (_read_optional(debian_version) or version).strip()
    return {"name": name, "version": version, "release": "",
            "pretty_name": data.get("PRETTY_NAME", "")}


def kernel_version(release: str | None = None) -> dict[str, str]:
    """Kernel ``{'version', 'release'}`` split at the first '-' of uname -r."""
    release = release or os.uname().release
    version, _, rest = release.partition("-")
    return {"version": version, "release": rest}


def realtime_kernel() -> bool:
    return "PREEMPT_RT" in os.uname().version or " RT " in os.uname().version


def kernel_args(path: str = PROC_CMDLINE) -> str:
    with open(path) as f:
        return f.read().strip()


def selinux_mode(path: str = SELINUX_ENFORCE) -> str:
    """'1' enforcing, '0' permissive, '-1' disabled (classic selinux.mode)."""
    text = _read_optional(path)
    return text.strip() if text is not None else "-1"


def fips_enabled(path: str = FIPS_ENABLED) -> bool:
    text = _read_optional(path)
    return text is not None and text.strip() == "1"


def kvm_enabled(path: str = DEV_KVM) -> str:
    """'true' when /dev/kvm exists (a string on the classic wire)."""
    return str(os.path.exists(path)).lower()


def nested_virtualization() -> bool:
    for module in ("kvm_intel", "kvm_amd"):
        text = _read_optional(f"/sys/module/{module}/parameters/nested")
        if text is not None:
            return text.strip() in ("1", "Y", "y")
    return False


def iscsi_initiator_name(path: str = ISCSI_INITIATOR) -> str:
    text = _read_optional(path)
    if text is None:
        return ""
    return parse_key_values(text).get("InitiatorName", "")


def vdsm_id_path(config_files: list[str]) -> str:
    """vdsm.id lives beside the configuration file that was loaded (the
    agent's and vdsm-reg's host UUID are the same file)."""
    if config_files:
        return os.path.join(os.path.dirname(config_files[0]), "vdsm.id")
    return VDSM_ID


def host_uuid(*, id_file: str = VDSM_ID, dmi_uuid: str = DMI_PRODUCT_UUID,
              machine_id: str = MACHINE_ID) -> str:
    """The identity the engine knows this host by.

    Order: an admin-set ``vdsm.id``, the firmware's product UUID, then a UUID
    derived from /etc/machine-id (keyed hash, so the machine id itself is
    not exposed). Returns '' only when none exists.
    """
    for path in (id_file, dmi_uuid):
        try:
            text = _read_optional(path)
        except PermissionError:
            log.debug("cannot read %s", path)
            continue
        if text and text.strip():
            return text.strip().lower()
    text = _read_optional(machine_id)
    if not text or not text.strip():
        log.warning("no host uuid: none of %s, %s, %s", id_file, dmi_uuid,
                    machine_id)
        return ""
    digest = hmac.new(text.strip().encode(), _HOST_UUID_APP_ID,
                      hashlib.sha256).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))
