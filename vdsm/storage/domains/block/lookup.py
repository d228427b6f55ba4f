"""Finding block domains: VGs carrying the domain tag on the host's devices.

The devices are those the host lists as LUNs (udev and sysfs read now,
loop devices with ``[irs] list_loop_devices``), so a VG is found only on
storage this host would offer; a VG with a missing PV (partial) is left
out. A VG found gets its PVs recorded in the host's LVM object.
"""

from __future__ import annotations

import logging

from vdsm.storage.blockdevs import BlockStorage
from vdsm.storage.context import StorageContext
from vdsm.storage.domains.block import tags
from vdsm.storage.domains.block.domain import BlockStorageDomain
from vdsm.storage.lvm_report import VG

log = logging.getLogger(__name__)


def domain_vgs(ctx: StorageContext) -> dict[str, VG]:
    """The block domains' VGs by name (= sdUUID). Raises what the device
    listing and LVM reports raise."""
    storage = BlockStorage(ctx.lvm, include_loop=bool(ctx.setting("list_loop_devices")))
    found = {}
    for vg in storage.listing().vgs:
        if tags.DOMAIN_TAG in vg.tags and not vg.partial:
            ctx.lvm.set_devices(vg.name, vg.pv_names)
            found[vg.name] = vg
    return found


def find_domain(ctx: StorageContext, sd_uuid: str) -> BlockStorageDomain | None:
    """The block domain ``sd_uuid``, or None when no listed VG is it."""
    if sd_uuid not in domain_vgs(ctx):
        return None
    return domain(ctx, sd_uuid)


def domain(ctx: StorageContext, sd_uuid: str) -> BlockStorageDomain:
    """The domain object of a VG domain_vgs found (its PVs known).
    Raises VolumeGroupDoesNotExist, MetaDataValidationError."""
    return BlockStorageDomain.from_context(ctx, sd_uuid)
