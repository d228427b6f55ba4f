"""What a block domain's parts share: its VG, the LVM object, where LVs appear.

The domain (:mod:`.domain`) builds one ``VGAccess`` and hands it to each of
its volumes (:mod:`.volume`), so neither reaches for configuration or
globals. LV paths are ``<lv_dir>/<VG>/<LV>``: ``/dev`` on real hosts, a
directory of files in tests on hosts without device-mapper.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from vdsm.storage.context import StorageContext
from vdsm.storage.io.file_operations import FileOps
from vdsm.storage.leases.manager import LeaseManager
from vdsm.storage.lvm import LVM

MiB = 1024 * 1024


@dataclass(frozen=True)
class VGAccess:
    sd_uuid: str            # the VG is named after the domain
    lvm: LVM
    lv_dir: str
    ops: FileOps            # direct I/O on the metadata/leases LVs
    leases: LeaseManager
    version: int            # the domain format version
    activation: bool = True  # [irs] lv_activation
    chunk_size: int = 2560 * 1024 * 1024  # [irs] volume_utilization_chunk_mb

    @classmethod
    def from_context(cls, ctx: StorageContext, sd_uuid: str, *, lvm: LVM,
                     version: int) -> VGAccess:
        """The VG of domain ``sd_uuid`` as this host's configuration says
        (LV directory, activation, the thin provisioning chunk)."""
        return cls(sd_uuid=sd_uuid, lvm=lvm, lv_dir=ctx.lv_dir,
                   ops=ctx.file_ops(sd_uuid), leases=ctx.leases, version=version,
                   activation=bool(ctx.setting("lv_activation")),
                   chunk_size=int(ctx.setting("volume_utilization_chunk_mb")) * MiB)

    def lv_path(self, lv: str) -> str:
        return os.path.join(self.lv_dir, self.sd_uuid, lv)
