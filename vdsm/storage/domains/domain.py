"""Storage domains: the interface every backend implements, and the registry.

A domain is a directory (file backends) or a volume group (a later block
backend) holding ``dom_md`` (metadata, ids, leases, inbox, outbox) and
images made of volumes. Code above this layer (pool, SPM, images, API)
uses only :class:`StorageDomain`; the concrete class comes from
:data:`BACKENDS` by storage type, so a block backend registers beside the
file one without touching its callers.
"""

from __future__ import annotations

import abc
import logging
import threading
from typing import TYPE_CHECKING, Any, Callable

from vdsm.common.errors import InvalidParameter
from vdsm.storage import constants as sc
from vdsm.storage.errors import (
    MetaDataKeyError,
    StorageDomainClassError,
    StorageDomainDescriptionTooLongError,
    StorageDomainTypeError,
    UnsupportedOperation,
)

if TYPE_CHECKING:
    from vdsm.storage.domains.volume import Volume, VolumeMetadata

log = logging.getLogger(__name__)

Metadata = dict[str, str]


def type_name(dom_type: int) -> str:
    try:
        return sc.DOMAIN_TYPES[dom_type]
    except KeyError:
        raise StorageDomainTypeError(f"Unsupported storage type {dom_type}") from None


def type_number(name: str) -> int:
    for number, text in sc.DOMAIN_TYPES.items():
        if text == name.upper():
            return number
    raise StorageDomainTypeError(f"Unknown storage type {name!r}")


def class_name(dom_class: int) -> str:
    try:
        return sc.DOMAIN_CLASSES[dom_class]
    except KeyError:
        raise StorageDomainClassError(f"Invalid domain class {dom_class}") from None


def class_number(name: str) -> int:
    for number, text in sc.DOMAIN_CLASSES.items():
        if text == name:
            return number
    raise StorageDomainClassError(f"Invalid domain class {name!r}")


def new_metadata(*, sd_uuid: str, name: str, dom_type: int, dom_class: int,
                 version: int, extra: Metadata | None = None) -> Metadata:
    """Metadata of a freshly created, unattached domain."""
    if len(name) > sc.DESCRIPTION_SIZE:
        raise StorageDomainDescriptionTooLongError(
            f"Storage domain description is too long ({len(name)})")
    if version not in sc.SUPPORTED_DOMAIN_VERSIONS:
        raise InvalidParameter(f"Unsupported domain version {version}")
    md = {
        sc.MD_SDUUID: sd_uuid, sc.MD_TYPE: type_name(dom_type),
        sc.MD_CLASS: class_name(dom_class), sc.MD_DESCRIPTION: name,
        sc.MD_ROLE: sc.REGULAR_DOMAIN, sc.MD_POOLS: "", sc.MD_VERSION: str(version),
    }
    if version >= 5:  # keys of format 5 (storage/spm/upgrade.py adds them)
        md.update({sc.MD_BLOCK_SIZE: str(sc.BLOCK_SIZE),
                   sc.MD_ALIGNMENT: str(sc.ALIGNMENT)})
    md.update({k: str(v) for k, v in sc.DEFAULT_LEASE_PARAMS.items()})
    md.update(extra or {})
    return md


class StorageDomain(abc.ABC):
    """One storage domain; methods may block on storage (call them from
    tasks, verbs or monitors, never while holding a global lock)."""

    # What the pool links to as <pool dir>/<sdUUID>: a file domain's
    # directory on its mount, a block domain's <mount root>/blockSD/<sdUUID>.
    domain_dir: str

    def __init__(self, sd_uuid: str) -> None:
        self.sd_uuid = sd_uuid
        self._md_lock = threading.Lock()
        self._type: int | None = None

    # --- metadata -------------------------------------------------------
    @abc.abstractmethod
    def read_metadata(self) -> Metadata:
        """Read and verify the metadata (MetaDataValidationError if corrupt)."""

    @abc.abstractmethod
    def write_metadata(self, md: Metadata) -> None:
        """Replace the metadata atomically."""

    def invalidate(self) -> None:  # noqa: B027 (a no-op unless overridden)
        """Forget what this host cached of the domain, so the next read
        shows what another host (the SPM) changed. File domains read
        their storage every time: nothing to forget."""

    def link_image(self, img_uuid: str, vol_uuids: list[str]) -> None:  # noqa: B027
        """Make the volumes reachable under ``image_path`` on this host
        before a prepare. A file domain's image directory holds them
        already; a block domain links its LVs there."""

    def update_metadata(self, changes: dict[str, Any]) -> Metadata:
        """Read-modify-write; a None value removes the key. Returns the new
        metadata. Serialized in this process; across hosts only the SPM
        writes."""
        with self._md_lock:
            md = self.read_metadata()
            for key, value in changes.items():
                if value is None:
                    md.pop(key, None)
                else:
                    md[key] = str(value)
            self.write_metadata(md)
            return md

    def field(self, md: Metadata, key: str) -> str:
        try:
            return md[key]
        except KeyError:
            raise MetaDataKeyError(f"Domain {self.sd_uuid} metadata has no {key}") \
                from None

    # --- identity -------------------------------------------------------
    @property
    def storage_type(self) -> int:
        """The type number (NFS, POSIXFS, ISCSI, ...), from the metadata once."""
        if self._type is None:
            self._type = type_number(self.field(self.read_metadata(), sc.MD_TYPE))
        return self._type

    def pools(self, md: Metadata | None = None) -> list[str]:
        md = md if md is not None else self.read_metadata()
        return [p for p in md.get(sc.MD_POOLS, "").split(",") if p]

    def is_master(self, md: Metadata | None = None) -> bool:
        md = md if md is not None else self.read_metadata()
        return md.get(sc.MD_ROLE) == sc.MASTER_DOMAIN

    def dom_class(self, md: Metadata | None = None) -> int:
        md = md if md is not None else self.read_metadata()
        return class_number(self.field(md, sc.MD_CLASS))

    def version(self, md: Metadata | None = None) -> int:
        md = md if md is not None else self.read_metadata()
        return int(self.field(md, sc.MD_VERSION))

    # --- layout ---------------------------------------------------------
    @property
    @abc.abstractmethod
    def ids_path(self) -> str:
        """Where the lockspace (host ids) lives."""

    @property
    @abc.abstractmethod
    def leases_path(self) -> str:
        """Where the SPM lease lives (at SDM_LEASE_OFFSET)."""

    # Whether a pool with this master runs the mailbox (hosts asking the SPM
    # to extend LVs): block domains only, as classic.
    requires_mailbox = False

    @property
    @abc.abstractmethod
    def inbox_path(self) -> str:
        """The pool mailbox's inbox (hosts' requests) on this domain."""

    @property
    @abc.abstractmethod
    def outbox_path(self) -> str:
        """The pool mailbox's outbox (the SPM's answers) on this domain."""

    @property
    @abc.abstractmethod
    def master_dir(self) -> str:
        """The master file system (tasks, vms) when this is the master."""

    @abc.abstractmethod
    def create_master_dir(self) -> None:
        """Lay out the master file system (``master/tasks``, ``master/vms``)."""

    def release_master_dir(self) -> None:
        """This host no longer needs the master file system (the SPM stepped
        down): block domains unmount their master LV; file domains keep
        nothing mounted for it."""
        return None

    @abc.abstractmethod
    def info(self) -> dict[str, Any]:
        """getStorageDomainInfo."""

    def common_info(self, md: Metadata) -> dict[str, Any]:
        """The getStorageDomainInfo keys every backend answers."""
        return {
            "uuid": self.sd_uuid, "type": md.get(sc.MD_TYPE, "UNKNOWN"),
            "class": md.get(sc.MD_CLASS, "Unknown"),
            "name": md.get(sc.MD_DESCRIPTION, ""),
            "role": md.get(sc.MD_ROLE, sc.REGULAR_DOMAIN), "pool": self.pools(md),
            "version": md.get(sc.MD_VERSION, "0"),
            "block_size": int(md.get(sc.MD_BLOCK_SIZE, sc.BLOCK_SIZE)),
            "alignment": int(md.get(sc.MD_ALIGNMENT, sc.ALIGNMENT)),
        }

    @abc.abstractmethod
    def stats(self) -> dict[str, Any]:
        """getStorageDomainStats: disktotal and diskfree at least."""

    @abc.abstractmethod
    def check(self) -> float:
        """Read the metadata from storage; return the seconds it took."""

    @abc.abstractmethod
    def format(self) -> None:
        """Remove the domain and everything in it."""

    # --- images and volumes ---------------------------------------------
    @abc.abstractmethod
    def images(self) -> list[str]:
        """UUIDs of the images in the domain."""

    @abc.abstractmethod
    def volumes(self, img_uuid: str | None = None) -> list[str]:
        """UUIDs of the volumes of one image, or of every image."""

    @abc.abstractmethod
    def volume(self, img_uuid: str, vol_uuid: str) -> Volume:
        """The volume object (VolumeDoesNotExist if it is not there)."""

    @abc.abstractmethod
    def new_volume(self, img_uuid: str, vol_uuid: str) -> Volume:
        """A volume object for a volume about to be created."""

    @abc.abstractmethod
    def create_image(self, img_uuid: str) -> bool:
        """Make sure the image exists; True if it was created now."""

    @abc.abstractmethod
    def remove_image_if_empty(self, img_uuid: str) -> None:
        """Drop an image that has no volume left."""

    @abc.abstractmethod
    def delete_image(self, img_uuid: str) -> None:
        """Remove an image with all its volumes (first out of sight, then
        removed), so a half-deleted image is never listed."""

    @abc.abstractmethod
    def image_path(self, img_uuid: str) -> str:
        """Where the image's volumes are, for VMs and qemu-img."""

    def extend_volume_lv(self, vol_uuid: str, size: int) -> int:
        """Grow a thin volume's LV to at least ``size`` bytes (the SPM, for a
        host's mailbox request); return the size reached. Only block
        domains have LVs: file volumes grow by themselves."""
        raise UnsupportedOperation(
            f"Domain {self.sd_uuid} is not a block domain: volume {vol_uuid} "
            "has no LV to extend")

    def refresh_volume(self, img_uuid: str, vol_uuid: str) -> None:
        """Make this host see a volume's LV at the size the SPM gave it
        (nothing to do for file volumes: every host sees the same file)."""
        return None

    def volume_metadata(self, img_uuid: str, vol_uuid: str) -> VolumeMetadata:
        return self.volume(img_uuid, vol_uuid).metadata()

    def files(self, pattern: str) -> list[str]:
        """ISO/floppy files in an ISO domain, by glob pattern."""
        return []


DomainFactory = Callable[..., StorageDomain]

# Storage type -> domain backend (set by the backend modules).
BACKENDS: dict[int, DomainFactory] = {}


def register_backend(types: frozenset[int] | set[int], factory: DomainFactory) -> None:
    for dom_type in types:
        BACKENDS[dom_type] = factory


def backend_for(dom_type: int) -> DomainFactory:
    try:
        return BACKENDS[dom_type]
    except KeyError:
        raise StorageDomainTypeError(
            f"Unsupported Storage Domain type {type_name(dom_type)}") from None
