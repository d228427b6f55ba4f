"""Errors of the device listing, under their classic names (codes in
vdsm/api/codes.py)."""

from __future__ import annotations

from vdsm.storage.errors import StorageError


class BlockDeviceActionError(StorageError):
    """The host's block devices cannot be read (no udev binding, sysfs
    unreadable)."""

    name = "BlockDeviceActionError"
    default_message = "Error block device action"
