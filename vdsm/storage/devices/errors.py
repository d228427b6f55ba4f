"""Errors of the device listing, under their classic names (codes in
vdsm/api/codes.py)."""

from __future__ import annotations

from vdsm.storage.errors import StorageError
from vdsm.supervdsm.errors import register_error


@register_error  # raised by supervdsm's device ops, rebuilt by its client
class BlockDeviceActionError(StorageError):
    """The host's block devices cannot be read (no udev binding, sysfs
    unreadable)."""

    name = "BlockDeviceActionError"
    default_message = "Error block device action"


class InaccessiblePhysDev(StorageError):
    """A device named by the caller is not one this host lists."""

    name = "InaccessiblePhysDev"
    default_message = "Multipath cannot access physical device(s)"
