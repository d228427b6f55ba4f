"""Errors of the virt subsystem, named after the classic error names.

The API boundary turns each ``name`` into its numeric wire code.
"""

from __future__ import annotations

from vdsm.common.errors import VdsmError


class NoSuchVM(VdsmError):
    name = "NoSuchVM"
    default_message = "Virtual machine does not exist"


class VMExists(VdsmError):
    name = "VMExists"
    default_message = "Virtual machine already exists"


class VMIsDown(VdsmError):
    name = "VMIsDown"
    default_message = "Virtual machine is down"


class CannotCreateVM(VdsmError):
    name = "CannotCreateVM"
    default_message = "Error creating the requested VM"


class ImageFileNotFound(VdsmError):
    name = "ImageFileNotFound"
    default_message = "Drive image file could not be found"


class UnsupportedOperation(VdsmError):
    name = "UnsupportedOperation"
    default_message = "Operation not supported"


class VMDestroyFailed(VdsmError):
    name = "VMDestroyFailed"
    default_message = "Virtual machine destroy error"


class ChangeDiskFailed(VdsmError):
    name = "ChangeDiskFailed"
    default_message = "Failed to change disk image"


class HotplugDiskFailed(VdsmError):
    name = "HotplugDiskFailed"
    default_message = "Failed to hotplug disk"


class HotunplugDiskFailed(VdsmError):
    name = "HotunplugDiskFailed"
    default_message = "Failed to hotunplug disk"


class HotplugNicFailed(VdsmError):
    name = "HotplugNicFailed"
    default_message = "Failed to hotplug NIC"


class HotunplugNicFailed(VdsmError):
    name = "HotunplugNicFailed"
    default_message = "Failed to hotunplug NIC"


class SpiceTicketError(VdsmError):
    name = "SpiceTicketError"
    default_message = "Error while setting spice ticket"


class ResetFailed(VdsmError):
    name = "ResetFailed"
    default_message = "Failed to reset VM."



class NonResponsiveGuestAgent(VdsmError):
    name = "NonResponsiveGuestAgent"
    default_message = "Guest agent non-responsive"


class BalloonError(VdsmError):
    name = "BalloonError"
    default_message = "Balloon operation is not available"


class FreezeGuestFSFailed(VdsmError):
    name = "FreezeGuestFSFailed"
    default_message = "Unable to freeze guest filesystems"


class ThawGuestFSFailed(VdsmError):
    name = "ThawGuestFSFailed"
    default_message = "Unable to thaw guest filesystems"


class MergeFailed(VdsmError):
    name = "MergeFailed"
    default_message = "Merge failed"
