"""getDiskAlignment the classic way: only for a disk of no running VM.

The classic verb answered only when called with the blank VM id (the
engine asks about a disk before any VM uses it) and "not implemented"
otherwise; so does this one. The volume is prepared through the drive
resolver, its partition table read (:mod:`vdsm.virt.alignment`), then
torn down again.
"""

from __future__ import annotations

import logging
from typing import Any

from vdsm.common import commands
from vdsm.common.errors import MethodNotImplemented, VdsmError
from vdsm.virt import alignment, drives
from vdsm.virt.context import VirtContext

log = logging.getLogger(__name__)

BLANK_UUID = "00000000-0000-0000-0000-000000000000"


def disk_alignment(ctx: VirtContext, vm_id: str, spec: Any) -> dict[str, bool]:
    """Partition name -> aligned to 64 KiB; ``{}`` for a disk with no
    partition table. Raises MethodNotImplemented for a real VM id,
    ImageFileNotFound for a missing disk, VdsmError when it cannot be
    read."""
    if vm_id != BLANK_UUID:
        raise MethodNotImplemented("Not implemented: getDiskAlignment answers "
                                   "only for the blank VM id (a disk of no "
                                   "running VM)")
    path, volume = drives.resolve_spec(spec, resolver=ctx.resolver)
    try:
        return alignment.scan(path)
    except alignment.PartitionTableError as e:
        log.info("%s: no partition table (%s): no partitions", path, e)
        return {}
    except (OSError, commands.CommandError) as e:
        raise VdsmError(f"cannot read the partition table of {path}: {e}") \
            from None
    finally:
        if volume is not None:
            drives.teardown([dict(volume, type="disk")], resolver=ctx.resolver)
