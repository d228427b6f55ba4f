"""What every SDM job needs of the storage service."""

from __future__ import annotations

from dataclasses import dataclass

from vdsm.storage import resources as rm
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.leases.manager import LeaseManager


@dataclass(frozen=True)
class SdmDeps:
    cache: DomainCache
    resources: rm.ResourceManager
    leases: LeaseManager
    copy_bandwidth_mib: float = 0.0     # SDM.copy_data's qemu-img -r; 0: none
