"""The classic LVM errors (codes 500-621), and which one a failed command is.

Names and messages only; the API boundary maps each ``name`` to its number
(vdsm/api/codes.py). Each class is registered with the supervdsm client,
so an error raised by an op in supervdsmd is raised again in vdsmd as the
same class (``except LogicalVolumeAlreadyExists`` works on both sides).
"""

from __future__ import annotations

import re

from vdsm.storage.errors import StorageError
from vdsm.supervdsm.errors import register_error


class LVMError(StorageError):
    """Base of the LVM family (classic LVMCommandError, 621)."""

    name = "LVMCommandError"
    default_message = "LVM command failed"


def _error(name: str, message: str) -> type[LVMError]:
    cls = type(name, (LVMError,), {"name": name, "default_message": message,
                                   "__module__": __name__})
    register_error(cls)
    return cls


register_error(LVMError)

# Volume groups.
VolumeGroupActionError = _error("VolumeGroupActionError", "Error volume group action")
VolumeGroupCreateError = _error("VolumeGroupCreateError", "Cannot create Volume Group")
VolumeGroupExtendError = _error("VolumeGroupExtendError", "Cannot extend Volume Group")
VolumeGroupSizeError = _error("VolumeGroupSizeError", "Volume Group not big enough")
VolumeGroupAlreadyExistsError = _error("VolumeGroupAlreadyExistsError",
                                       "Volume Group Already Exists")
VolumeGroupDoesNotExist = _error("VolumeGroupDoesNotExist",
                                 "Volume Group does not exist")
VolumeGroupReduceError = _error("VolumeGroupReduceError",
                                "Cannot reduce the Volume Group")
VolumeGroupBlockSizeError = _error("VolumeGroupBlockSizeError",
                                   "All devices in domain must have the same "
                                   "block size")
DeviceBlockSizeError = _error("DeviceBlockSizeError",
                              "Device block size is not supported")
VolumeGroupRemoveError = _error("VolumeGroupRemoveError", "Volume Group remove error")
VolumeGroupReplaceTagError = _error("VolumeGroupReplaceTagError",
                                    "Replace Volume Group tag error")
GetVolumeGroupListError = _error("GetVolumeGroupListError",
                                 "Get Volume Group list error")

# Logical volumes.
CannotCreateLogicalVolume = _error("CannotCreateLogicalVolume",
                                   "Cannot create Logical Volume")
CannotRemoveLogicalVolume = _error("CannotRemoveLogicalVolume",
                                   "Cannot remove Logical Volume")
CannotDeactivateLogicalVolume = _error("CannotDeactivateLogicalVolume",
                                       "Cannot deactivate Logical Volume")
LogicalVolumeExtendError = _error("LogicalVolumeExtendError",
                                  "Logical Volume extend failed")
LogicalVolumeRefreshError = _error("LogicalVolumeRefreshError",
                                   "Cannot refresh Logical Volume")
CannotActivateLogicalVolume = _error("CannotActivateLogicalVolume",
                                     "Cannot activate Logical Volume")
LogicalVolumeAddTagError = _error("LogicalVolumeAddTagError",
                                  "Add tag to Logical Volume error")
LogicalVolumeRemoveTagError = _error("LogicalVolumeRemoveTagError",
                                     "Remove tag from Logical Volume error")
LogicalVolumeReplaceTagError = _error("LogicalVolumeReplaceTagError",
                                      "Replace Logical Volume tag error")
LogicalVolumeRenameError = _error("LogicalVolumeRenameError",
                                  "Cannot rename Logical Volume")
LogicalVolumeAlreadyExists = _error("LogicalVolumeAlreadyExists",
                                    "Cannot create logical volume - already exists")
LogicalVolumeDoesNotExistError = _error("LogicalVolumeDoesNotExistError",
                                        "Logical volume does not exist")
CouldNotRetrieveLogicalVolumesList = _error("CouldNotRetrieveLogicalVolumesList",
                                            "Could not retrieve lv list")

# Physical volumes.
PhysDevInitializationError = _error("PhysDevInitializationError",
                                    "Failed to initialize physical device")
CouldNotRetrievePhysicalVolumeList = _error("CouldNotRetrievePhysicalVolumeList",
                                            "Could not retrieve pv list")
CouldNotResizePhysicalVolume = _error("CouldNotResizePhysicalVolume",
                                      "Could not resize PV")

# What LVM's stderr says, checked before the operation's own error: the
# cause a caller can act on wins over "lvcreate failed".
_CAUSES: tuple[tuple[re.Pattern[str], type[LVMError]], ...] = (
    (re.compile(r'Volume group "[^"]*" not found'), VolumeGroupDoesNotExist),
    (re.compile(r"A volume group called \S+ already exists"),
     VolumeGroupAlreadyExistsError),
    (re.compile(r'Logical Volume "[^"]*" already exists in volume group'),
     LogicalVolumeAlreadyExists),
    (re.compile(r'Failed to find logical volume|'
                r'Logical volume \S+ not found in volume group'),
     LogicalVolumeDoesNotExistError),
    (re.compile(r"(?i)insufficient free space"), VolumeGroupSizeError),
)


def classify(err: str, default: type[LVMError]) -> type[LVMError]:
    """The error class for a failed command whose stderr is ``err``."""
    for pattern, cls in _CAUSES:
        if pattern.search(err):
            return cls
    return default


def detail(err: str) -> str:
    """The lines of LVM's stderr worth showing (its warnings dropped)."""
    lines = [line.strip() for line in err.splitlines()
             if line.strip() and not line.strip().startswith("WARNING:")]
    return "; ".join(lines)[:500]
