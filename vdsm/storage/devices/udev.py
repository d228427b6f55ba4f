"""The host's whole disks as udev knows them (through pyudev).

udev is the source of the device list because it is what names device
nodes and carries the identities udev rules computed (``ID_SERIAL`` from
scsi_id, ``ID_WWN``); where udevd does not run, pyudev still enumerates
the disks from sysfs, only without those properties. pyudev is imported
here and nowhere else, lazily, so a host without it gets one clear error
instead of an ImportError at start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from vdsm.storage.devices.errors import BlockDeviceActionError

log = logging.getLogger(__name__)

PYUDEV_MISSING = ("cannot list block devices: the pyudev module is not "
                  "installed (Debian package python3-pyudev)")


@dataclass(frozen=True)
class UdevDisk:
    """One whole disk: kernel name (``sdb``, ``dm-3``), its node, and the
    udev properties."""

    name: str
    devnode: str
    properties: Mapping[str, str] = field(default_factory=dict)


def _pyudev():  # noqa: ANN202 - the module, typed only when present
    try:
        import pyudev
    except ImportError:
        raise BlockDeviceActionError(PYUDEV_MISSING) from None
    return pyudev


def disks() -> list[UdevDisk]:
    """Every block device of type disk (partitions left out).

    Raises BlockDeviceActionError when pyudev is missing or udev cannot be
    read.
    """
    pyudev = _pyudev()
    try:
        context = pyudev.Context()
        found = [UdevDisk(d.sys_name, d.device_node or f"/dev/{d.sys_name}",
                          dict(d.properties))
                 for d in context.list_devices(subsystem="block", DEVTYPE="disk")]
    except (OSError, pyudev.DeviceNotFoundError) as e:
        raise BlockDeviceActionError(f"cannot list block devices: {e}") from None
    log.debug("udev lists %d disks", len(found))
    return found
