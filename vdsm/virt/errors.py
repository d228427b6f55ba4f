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


# --- running VMs' disks: replication, resize, secrets (issue 12) -----------
class ReplicaError(VdsmError):
    name = "ReplicaError"
    default_message = "Drive replication error"


class ReplicationNotInProgress(VdsmError):
    name = "ReplicationNotInProgress"
    default_message = "Replication not in progress."


class DestinationVolumeTooSmall(VdsmError):
    name = "DestinationVolumeTooSmall"
    default_message = "Destination volume is too small"


class BadDiskResizeParameter(VdsmError):
    name = "BadDiskResizeParameter"
    default_message = "Wrong resize disk parameter"


class UpdateDeviceFailed(VdsmError):
    name = "UpdateDeviceFailed"
    default_message = "Failed to update device"


class BadSecretRequest(VdsmError):
    name = "BadSecretRequest"
    default_message = "Bad secret request"


class SecretRegistrationFailed(VdsmError):
    name = "SecretRegistrationFailed"
    default_message = "Error registering Libvirt secret"


class SecretUnregistrationFailed(VdsmError):
    name = "SecretUnregistrationFailed"
    default_message = "Error unregistering Libvirt secret"


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


# --- QoS and CPU/memory hotplug (issue 12) ----------------------------------
class UpdateIOTuneError(VdsmError):
    name = "UpdateIOTuneError"
    default_message = "Failed to update ioTune values"


class CpuTuneError(VdsmError):
    name = "CpuTuneError"
    default_message = "CpuTune operation is not available"


class UpdateVMPolicyFailed(VdsmError):
    name = "UpdateVMPolicyFailed"
    default_message = "Failed to update VM SLA policy"


class SetNumberOfCpusFailed(VdsmError):
    name = "SetNumberOfCpusFailed"
    default_message = "Failed to set the number of cpus"


class HotplugMemFailed(VdsmError):
    name = "HotplugMemFailed"
    default_message = "Failed to hotplug memory"


class HotunplugMemFailed(VdsmError):
    name = "HotunplugMemFailed"
    default_message = "Failed to hotunplug memory"


# --- live snapshot (issue 12) -----------------------------------------------
class SnapshotFailed(VdsmError):
    name = "SnapshotFailed"
    default_message = "Snapshot failed"


# --- live merge (issue 12) --------------------------------------------------
class MergeFailed(VdsmError):
    name = "MergeFailed"
    default_message = "Merge failed"
