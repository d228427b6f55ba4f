"""sparsifyImage as an SPM task: one volume, under its image lock.

The task holds the domain (shared) and the image (exclusive) so no other
job touches the volume, refuses an ILLEGAL volume (half made), and calls
:func:`vdsm.storage.sparsify.sparsify`, which replaces the volume file
atomically: there is nothing to roll back, so no recovery is registered.

A volume that a running VM on this host has attached is never rewritten
(qemu would keep writing to the old file): the guest trims its own file
systems through its agent (:class:`GuestTrim`, the virt side's, wired by
the agent), and its drive's ``discard='unmap'`` punches the freed blocks
out of the image. A guest without an agent fails the task with the
virt side's classic error (NonResponsiveGuestAgent), nothing rewritten.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Protocol

from vdsm.storage import resources as rm
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.file.volume import FileVolume
from vdsm.storage.domains.volume import Volume
from vdsm.storage.errors import ImagesActionError
from vdsm.storage.sparsify import Result, Trim, allocated, sparsify
from vdsm.storage.volumes import domain_lock, image_lock
from vdsm.tasks.context import TaskContext

log = logging.getLogger(__name__)

GUEST_TRIM = "guest-fstrim"


class GuestTrim(Protocol):
    """The virt side's seam (vdsm.virt.guesttrim.GuestTrim)."""

    def holder(self, path: str, vol_uuid: str) -> str | None: ...

    def trim(self, vm_id: str) -> None: ...


class ImageSpace:
    def __init__(self, cache: DomainCache, resources: rm.ResourceManager,
                 guard: Callable[[], None], *, trim: Trim | None,
                 guests: GuestTrim | None = None) -> None:
        """``trim``: the privileged host trim of a RAW image's file systems,
        None where the configuration does not allow it; ``guests``: the
        VMs of this host (None: a storage-only agent)."""
        self.cache = cache
        self.resources = resources
        self.guard = guard
        self.trim = trim
        self.guests = guests

    def sparsify(self, ctx: TaskContext, *, sd_uuid: str, img_uuid: str,
                 vol_uuid: str) -> dict[str, Any]:
        """Raises VolumeDoesNotExist, ImagesActionError, and for an attached
        volume the guest trim's NonResponsiveGuestAgent/UnsupportedOperation."""
        with self.resources.acquire([domain_lock(sd_uuid),
                                     image_lock(sd_uuid, img_uuid)]):
            vol = self.cache.produce(sd_uuid).volume(img_uuid, vol_uuid)
            if not vol.metadata().is_legal:
                raise ImagesActionError(f"Cannot sparsify {vol_uuid}: the volume "
                                        "is ILLEGAL")
            ctx.check_abort()
            self.guard()
            vm_id = (self.guests.holder(vol.path, vol_uuid)
                     if self.guests is not None else None)
            if vm_id is not None:
                return self._trim_guest(vm_id, vol).as_dict()
            return sparsify(vol, trim=self.trim).as_dict()

    def _trim_guest(self, vm_id: str, vol: Volume) -> Result:
        """Raises ImagesActionError for a block volume (refused as when
        not attached), the guest trim's errors."""
        assert self.guests is not None
        if not isinstance(vol, FileVolume):
            raise ImagesActionError(f"Cannot sparsify {vol.vol_uuid}: only file "
                                    "volumes give space back")
        log.info("volume %s is attached to VM %s: trimming the guest instead "
                 "of rewriting the image", vol.vol_uuid, vm_id)
        before = allocated(vol)
        self.guests.trim(vm_id)
        result = Result(before=before, after=allocated(vol), tool=GUEST_TRIM)
        log.info("volume %s sparsified by its guest: %d -> %d bytes allocated",
                 vol.vol_uuid, result.before, result.after)
        return result
