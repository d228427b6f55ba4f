"""Errors of the image repository, named after the classic storage errors.

Only names and messages live here; the API boundary maps each ``name`` to
its classic number (vdsm/api/codes.py). Every class derives from
:class:`StorageError`, so a caller can catch the whole family.
"""

from __future__ import annotations

from vdsm.common.errors import VdsmError


class StorageError(VdsmError):
    name = "StorageException"
    default_message = "General Storage Exception"


def _error(name: str, message: str,
           base: type[StorageError] = StorageError) -> type[StorageError]:
    """A StorageError subclass whose classic name is ``name``."""
    return type(name, (base,), {"name": name, "default_message": message,
                                "__module__": __name__})


# Access to storage.
InvalidParameterException = _error("InvalidParameterException", "Invalid parameter")
AccessTimeout = _error("AccessTimeout", "Image repository access timeout")
MiscFileReadException = _error("MiscFileReadException",
                               "Internal file read failure")
MiscFileWriteException = _error("MiscFileWriteException",
                                "Internal file write failure")
UnsupportedOperation = _error("UnsupportedOperation", "Unsupported operation")

# Metadata.
MetaDataKeyError = _error("MetaDataKeyError", "Meta data key error")
MetaDataValidationError = _error("MetaDataValidationError",
                                 "Meta Data self-validation failed")
MetaDataMappingError = _error("MetaDataMappingError", "Meta Data mapping failed")
MetadataOverflowError = _error("MetadataOverflowError",
                               "Metadata is too big. Cannot change Metadata")

# Volumes.
VolumeDoesNotExist = _error("VolumeDoesNotExist", "Volume does not exist")
IncorrectFormat = _error("IncorrectFormat", "Incorrect Volume format")
IncorrectType = _error("IncorrectType", "Incorrect Volume Preallocate Type")
VolumeImageHasChildren = _error(
    "VolumeImageHasChildren", "Cannot delete volume which has children")
VolumeCreationError = _error("VolumeCreationError", "Error creating a new volume")
VolumeExtendingError = _error("VolumeExtendingError", "Error extending volume")
VolumeMetadataReadError = _error("VolumeMetadataReadError",
                                 "Error while processing volume meta data")
VolumeMetadataWriteError = _error("VolumeMetadataWriteError",
                                  "Error while updating volume meta data")
VolumeAlreadyExists = _error("VolumeAlreadyExists", "Volume already exists")
CannotDeleteVolume = _error("CannotDeleteVolume", "Volume deletion error")
CannotDeleteSharedVolume = _error("CannotDeleteSharedVolume",
                                  "Shared Volume cannot be deleted")
VolumeCopyError = _error("VolumeCopyError", "Volume copy failed")
CreateIllegalVolumeSnapshotError = _error(
    "createIllegalVolumeSnapshotError",
    "Cannot create volume snapshot from illegal volume")
PrepareIllegalVolumeError = _error("prepareIllegalVolumeError",
                                   "Cannot prepare illegal volume")
CreateVolumeSizeError = _error(
    "createVolumeSizeError",
    "Requested size is too small. Must be larger or equal to 1")
VolumeResizeValueError = _error("VolumeResizeValueError",
                                "Incorrect size value for volume resize")
InvalidVolumeUpdate = _error("InvalidVolumeUpdate",
                             "Cannot update volume attributes")
UnexpectedVolumeState = _error("UnexpectedVolumeState", "Unexpected volume state.")
WrongParentVolume = _error("WrongParentVolume", "Wrong parent volume.")

# Images.
ImagePathError = _error("ImagePathError",
                        "Image path does not exist or cannot be accessed/created")
ImageDeleteError = _error("ImageDeleteError", "Could not remove all image's volumes")
CopyImageError = _error("CopyImageError", "low level Image copy failed")
MoveImageError = _error("MoveImageError", "Error moving image")
ImageIsNotLegalChain = _error("ImageIsNotLegalChain", "Image is not a legal chain")
ImageDoesNotExistInSD = _error("ImageDoesNotExistInSD",
                               "Image does not exist in domain")
MergeSnapshotsError = _error("MergeSnapshotsError", "Error merging snapshots")

# Pools.
StoragePoolActionError = _error("StoragePoolActionError", "Error storage pool action")
StoragePoolCreationError = _error("StoragePoolCreationError",
                                  "Error creating a storage pool")
StoragePoolConnectionError = _error("StoragePoolConnectionError",
                                    "Error storage pool connection")
StoragePoolDisconnectionError = _error("StoragePoolDisconnectionError",
                                       "Error storage pool disconnection")
StoragePoolDestroyingError = _error("StoragePoolDestroyingError",
                                    "Error destroying a storage pool")
StoragePoolUnknown = _error("StoragePoolUnknown",
                            "Unknown pool id, pool not connected")
StoragePoolNotConnected = _error("StoragePoolNotConnected",
                                 "Storage pool not connected")
StoragePoolAlreadyExists = _error(
    "StoragePoolAlreadyExists", "Error creating a storage pool - pool already exists")
IsoCannotBeMasterDomain = _error("IsoCannotBeMasterDomain",
                                 "ISO domain cannot be a master storage domain")
BackupCannotBeMasterDomain = _error("BackupCannotBeMasterDomain",
                                    "Backup domain cannot be a master storage domain")
CannotConnectMultiplePools = _error(
    "CannotConnectMultiplePools",
    "Cannot connect pool, already connected to another pool")
StoragePoolDescriptionTooLongError = _error(
    "StoragePoolDescriptionTooLongError", "Storage pool description is too long")

# Domains.
StorageDomainActionError = _error("StorageDomainActionError",
                                  "Error in storage domain action")
StorageDomainCreationError = _error("StorageDomainCreationError",
                                    "Error creating a storage domain")
StorageDomainNotInPool = _error("StorageDomainNotInPool", "Storage domain not in pool")
StorageDomainAttachError = _error("StorageDomainAttachError",
                                  "Error attaching storage domain")
StorageDomainMasterError = _error("StorageDomainMasterError",
                                  "Error validating master storage domain")
StorageDomainDetachError = _error("StorageDomainDetachError",
                                  "Error detaching storage domain")
StorageDomainDeactivateError = _error("StorageDomainDeactivateError",
                                      "Error deactivating storage domain")
StorageDomainDoesNotExist = _error("StorageDomainDoesNotExist",
                                   "Storage domain does not exist")
StorageDomainActivateError = _error("StorageDomainActivateError",
                                    "Error activating storage domain")
StorageDomainFSNotMounted = _error("StorageDomainFSNotMounted",
                                   "Storage domain remote path not mounted")
StorageDomainAlreadyExists = _error("StorageDomainAlreadyExists",
                                    "Storage domain already exists")
StorageDomainNotActive = _error("StorageDomainNotActive", "Storage domain not active")
StorageDomainLayoutError = _error("StorageDomainLayoutError",
                                  "Storage domain layout corrupted")
StorageDomainTypeError = _error("StorageDomainTypeError",
                                "Unsupported Storage Domain type")
StorageDomainCheckError = _error("StorageDomainCheckError", "Domain has errors")
StorageDomainClassError = _error("StorageDomainClassError",
                                 "Invalid domain class value")
StorageDomainDescriptionTooLongError = _error(
    "StorageDomainDescriptionTooLongError", "Storage domain description is too long")
StorageDomainIllegalRemotePath = _error("StorageDomainIllegalRemotePath",
                                        "Remote path is illegal")
CannotFormatAttachedStorageDomain = _error(
    "CannotFormatAttachedStorageDomain", "Cannot format attached storage domain")
CannotDetachMasterStorageDomain = _error("CannotDetachMasterStorageDomain",
                                         "Illegal action")
StorageDomainIsMemberOfPool = _error("StorageDomainIsMemberOfPool",
                                     "Storage domain is member of pool")

# Storage server connections.
StorageServerConnectionError = _error("StorageServerConnectionError",
                                      "Error storage server connection")
StorageServerDisconnectionError = _error("StorageServerDisconnectionError",
                                         "Error storage server disconnection")
StorageServerValidationError = _error(
    "StorageServerValidationError",
    "The specified path does not exist or cannot be reached")
StorageServerAccessPermissionError = _error(
    "StorageServerAccessPermissionError",
    "Permission settings on the specified path do not allow access")
StorageServerIscsiError = _error("StorageServeriSCSIError", "iSCSI connection error")
IscsiDiscoveryError = _error("iSCSIDiscoveryError", "Failed discovery of iSCSI targets")
IscsiLoginError = _error("iSCSILoginError", "Failed to login to iSCSI node")
IscsiLoginAuthError = _error(
    "iSCSILoginAuthError", "Failed to login to iSCSI node due to authorization failure")
IscsiLogoutError = _error("iSCSILogoutError", "Failed to logout from iSCSI node")
StorageTypeError = _error("StorageTypeError", "Storage type error")
MountError = _error("MountError", "Problem while trying to mount target")
MountParsingError = _error("MountParsingError", "Mount parsing error")

# SPM, leases and locks.
SpmStartError = _error("SpmStartError", "Error starting SPM")
SpmStatusError = _error("SpmStatusError", "Not SPM")
IsSpm = _error("IsSpm", "Operation not allowed while SPM is active")
AcquireHostIdFailure = _error("AcquireHostIdFailure", "Cannot acquire host id")
ReleaseHostIdFailure = _error("ReleaseHostIdFailure", "Cannot release host id")
DomainAlreadyLocked = _error("DomainAlreadyLocked",
                              "Cannot acquire lock, resource marked as locked")
ReleaseLockFailure = _error("ReleaseLockFailure", "Cannot release lock")
ClusterLockInitError = _error("ClusterLockInitError",
                              "Could not initialize cluster lock")
SanlockInquireError = _error("SanlockInquireError", "Inquire sanlock daemon failed")
TaskInProgress = _error("TaskInProgress", "Running Task in progress")
ResourceTimeout = _error("ResourceTimeout", "Resource timeout")
InvalidResourceName = _error("InvalidResourceName", "Invalid resource name")

# --- Pool recovery (reconstructMaster, upgradeStoragePool,
# forcedDetachStorageDomain, fenceSpmStorage): vdsm/storage/spm/recovery_*.py.
ReconstructMasterError = _error("ReconstructMasterError",
                                "Cannot reconstruct master domain")
StoragePoolConnected = _error(
    "StoragePoolConnected", "Cannot perform action while storage pool is connected")
StoragePoolHigherVersionMasterFound = _error(
    "StoragePoolHigherVersionMasterFound",
    "Found master domain with higher master version than input")
StorageDomainStatusError = _error("StorageDomainStatusError",
                                  "Unsupported Storage Domain status")
UnsupportedDomainVersion = _error(
    "UnsupportedDomainVersion", "Domain version is unsupported by this version of VDSM")
SpmParamsMismatch = _error("SpmParamsMismatch",
                           "Pool previous lver/id don't match request")
# OVF store, ISO files, sparsify (ovf_store.py, repo_files.py,
# sparsify.py).
StorageUpdateVmError = _error("StorageUpdateVmError", "Cannot update VM")
GetFileStatsError = _error("GetFileStatsError", "Cannot get file stats")
GetStorageDomainListError = _error("GetStorageDomainListError",
                                   "Cannot get Storage Domains list")
ImagesActionError = _error("ImagesActionError", "Error images action")
# ---- Image transfer and SDM jobs (issue 13: upload/download, SDM) --------
ImageVerificationError = _error("ImageVerificationError", "Image verification failed")
GenerationMismatch = _error(
    "GenerationMismatch",
    "The provided generation does not match the actual generation")
# Copy between domains (cloneImageStructure, syncImageData,
# moveMultipleImages; vdsm/storage/image_copy.py).
DestImageActionError = _error("DestImageActionError",
                              "Error during destination image manipulation")
MultipleMoveImageError = _error("MultipleMoveImageError",
                                "Error moving multiple image")
MiscNotImplementedException = _error("MiscNotImplementedException",
                                     "Method not implemented")
