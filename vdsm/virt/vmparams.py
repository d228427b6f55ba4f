"""Classic ``vmParams``: validated and normalized into a :class:`VmDef`.

Every value an engine or vdsClient may send as a string (``"256"``,
``"true"``) is converted here; an invalid value raises InvalidParameter
naming the key, a missing required one MissingParameter, so a bad
request never leaves a half-made VM behind. Unknown keys are ignored with
one log line. Pure: no libvirt, no files (drive paths are checked by
:mod:`vdsm.virt.drives` at start time).
"""

from __future__ import annotations

import copy
import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from vdsm.common.errors import InvalidParameter, MissingParameter
from vdsm.virt import devices as vmdevices

log = logging.getLogger(__name__)

MAX_MEM_MIB = 16 * 1024 * 1024
MAX_VCPUS = 512
_BOOT_DEVS = {"c": "hd", "d": "cdrom", "n": "network", "a": "fd"}
_NAME_RE = re.compile(r"^[^/\0\n]{1,200}$")

# Keys the agent understands; anything else is logged and ignored.
KNOWN_KEYS = frozenset({
    "vmId", "vmName", "memSize", "smp", "smpCoresPerSocket",
    "smpThreadsPerCore", "cpuType", "emulatedMachine", "kvmEnable", "boot",
    "kernel", "initrd", "kernelArgs", "drives", "nics", "display",
    "displayPort", "displaySecurePort", "displayIp", "keyboardLayout",
    "timeOffset", "balloon", "custom", "devices", "restoreState",
    "launchPaused", "acpiEnable", "vmType", "macAddr", "bridge", "nicModel",
    "network", "guestAgent", "spiceSecureChannels", "nice", "tdf",
    # hotplug limits, and the QoS/hotplug state kept for recovery
    "maxVCpus", "maxMemSize", "maxMemSlots", "memGuaranteedSize", "qos",
    "memoryDevices",
})
DEFAULT_MEM_SLOTS = 16


@dataclass
class VmDef:
    """What the agent needs to build and describe one VM."""

    vm_id: str
    name: str
    mem_mib: int
    smp: int = 1
    cores_per_socket: int = 1
    threads_per_core: int = 1
    cpu_type: str | None = None
    machine: str | None = None
    kvm_enable: bool = True
    acpi: bool = True
    boot: list[str] = field(default_factory=list)
    kernel: str | None = None
    initrd: str | None = None
    kernel_args: str | None = None
    time_offset: int = 0
    custom: dict[str, str] = field(default_factory=dict)
    devices: list[dict[str, Any]] = field(default_factory=list)
    restore_state: Any = None
    launch_paused: bool = False
    max_vcpus: int | None = None      # vCPUs hotpluggable up to this
    max_mem_mib: int | None = None    # DIMMs hotpluggable up to this
    max_mem_slots: int = DEFAULT_MEM_SLOTS
    params: dict[str, Any] = field(default_factory=dict)

    def conf(self) -> dict[str, Any]:
        """The classic VM definition (``vmList`` entry): the request as
        normalized, with its devices in the list form."""
        conf = {k: v for k, v in self.params.items()
                if k not in ("devices", "drives", "nics", "restoreState")}
        conf.update({
            "vmId": self.vm_id, "vmName": self.name,
            "memSize": self.mem_mib, "smp": str(self.smp),
            "smpCoresPerSocket": str(self.cores_per_socket),
            "kvmEnable": "true" if self.kvm_enable else "false",
            "acpiEnable": "true" if self.acpi else "false",
            "timeOffset": str(self.time_offset),
            "custom": dict(self.custom),
            "devices": copy.deepcopy(self.devices),
            "vmType": "kvm",
        })
        drives = [vmdevices.classic_drive(d) for d in self.devices
                  if d["type"] == "disk"]
        if drives:
            conf["drives"] = drives
        return conf


def parse(params: dict[str, Any]) -> VmDef:
    """Raises MissingParameter or InvalidParameter with the key named."""
    if not isinstance(params, dict):
        raise InvalidParameter("Invalid parameter: vmParams must be a struct")
    unknown = sorted(k for k in params if k not in KNOWN_KEYS)
    if unknown:
        log.info("vmParams: ignoring unknown keys %s", ", ".join(unknown))
    vm_id = _required(params, "vmId")
    try:
        vm_id = str(uuid.UUID(str(vm_id)))
    except ValueError:
        raise InvalidParameter(
            f"Invalid parameter: vmId {vm_id!r} is not a UUID") from None
    name = str(params.get("vmName") or vm_id)
    if not _NAME_RE.match(name):
        raise InvalidParameter(f"Invalid parameter: vmName {name!r}")
    mem = integer(params, "memSize", required=True, minimum=1,
                  maximum=MAX_MEM_MIB)
    smp = integer(params, "smp", default=1, minimum=1, maximum=MAX_VCPUS)
    cores = integer(params, "smpCoresPerSocket", default=1, minimum=1,
                    maximum=smp)
    threads = integer(params, "smpThreadsPerCore", default=1, minimum=1,
                      maximum=smp)
    if smp % (cores * threads):
        raise InvalidParameter(
            f"Invalid parameter: smp={smp} is not a multiple of "
            f"smpCoresPerSocket*smpThreadsPerCore={cores * threads}")
    max_vcpus = integer(params, "maxVCpus", minimum=smp, maximum=MAX_VCPUS)
    if max_vcpus is not None and max_vcpus % (cores * threads):
        raise InvalidParameter(
            f"Invalid parameter: maxVCpus={max_vcpus} is not a multiple of "
            f"smpCoresPerSocket*smpThreadsPerCore={cores * threads}")
    max_mem = integer(params, "maxMemSize", minimum=mem, maximum=MAX_MEM_MIB)
    vmdef = VmDef(
        max_vcpus=max_vcpus, max_mem_mib=max_mem,
        max_mem_slots=integer(params, "maxMemSlots", default=DEFAULT_MEM_SLOTS,
                              minimum=1, maximum=256),
        vm_id=vm_id, name=name, mem_mib=mem, smp=smp, cores_per_socket=cores,
        threads_per_core=threads,
        cpu_type=_optional_str(params, "cpuType"),
        machine=_optional_str(params, "emulatedMachine"),
        kvm_enable=boolean(params, "kvmEnable", default=True),
        acpi=boolean(params, "acpiEnable", default=True),
        boot=_boot(params.get("boot")),
        kernel=_optional_str(params, "kernel"),
        initrd=_optional_str(params, "initrd"),
        kernel_args=_optional_str(params, "kernelArgs"),
        time_offset=integer(params, "timeOffset", default=0),
        custom=_custom(params.get("custom")),
        restore_state=params.get("restoreState"),
        launch_paused=boolean(params, "launchPaused", default=False),
        params=dict(params, vmId=vm_id))
    if vmdef.initrd and not vmdef.kernel:
        raise InvalidParameter("Invalid parameter: initrd given without kernel")
    vmdef.devices = vmdevices.from_params(params)
    return vmdef


def _required(params: dict[str, Any], key: str) -> Any:
    value = params.get(key)
    if value is None or value == "":
        raise MissingParameter(f"Missing required parameter: vmParams "
                               f"needs {key!r}")
    return value


def integer(params: dict[str, Any], key: str, *, default: int | None = None,
            required: bool = False, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """An integer value (int or decimal string) within bounds."""
    value = params.get(key)
    if value is None or value == "":
        if required:
            _required(params, key)
        return default  # type: ignore[return-value]
    if isinstance(value, bool):
        raise InvalidParameter(f"Invalid parameter: {key} must be an integer")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidParameter(
            f"Invalid parameter: {key} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise InvalidParameter(
            f"Invalid parameter: {key} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise InvalidParameter(
            f"Invalid parameter: {key} must be at most {maximum}, got {number}")
    return number


def boolean(params: dict[str, Any], key: str, *, default: bool) -> bool:
    value = params.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise InvalidParameter(f"Invalid parameter: {key} must be true or false, "
                           f"got {value!r}")


def _optional_str(params: dict[str, Any], key: str) -> str | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, (str, int)):
        raise InvalidParameter(f"Invalid parameter: {key} must be a string")
    return str(value)


def _boot(value: Any) -> list[str]:
    if not value:
        return []
    devs = []
    for letter in str(value):
        if letter not in _BOOT_DEVS:
            raise InvalidParameter(
                f"Invalid parameter: boot {value!r}: use letters of "
                f"{''.join(_BOOT_DEVS)} (c disk, d cdrom, n network, a floppy)")
        devs.append(_BOOT_DEVS[letter])
    return devs


def _custom(value: Any) -> dict[str, str]:
    if not value:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameter("Invalid parameter: custom must be a struct")
    return {str(k): str(v) for k, v in value.items()}
