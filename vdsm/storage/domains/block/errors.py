"""Errors of block domain creation (classic names; codes in vdsm/api/codes.py).

StorageDomainCreationError is registered with the supervdsm client: the
master mkfs op raises it in supervdsmd and vdsmd gets the same class.
"""

from __future__ import annotations

from vdsm.storage.errors import StorageDomainCreationError, StorageError
from vdsm.supervdsm.errors import register_error

register_error(StorageDomainCreationError)


class VolumeGroupHasDomainTag(StorageError):
    """The VG is, or was meant to be, a storage domain already (515)."""

    name = "VolumeGroupHasDomainTag"
    default_message = "Volume Group has domain tag - requires cleaning"


class StorageDomainNotEmpty(StorageError):
    """The VG already holds LVs (361)."""

    name = "StorageDomainNotEmpty"
    default_message = "Storage domain is not empty - requires cleaning"


class VolumesZeroingError(StorageError):
    """A special LV could not be zeroed before use (374)."""

    name = "VolumesZeroingError"
    default_message = "Cannot zero out volume"


class BlockStorageDomainMasterMountError(StorageError):
    """The master LV's file system could not be mounted (368)."""

    name = "BlockStorageDomainMasterMountError"
    default_message = "BlockSD master file system mount error"
