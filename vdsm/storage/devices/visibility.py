"""getDevicesVisibility: can this host open the LUNs a domain needs?

Before connecting a block domain the engine asks each host whether it
sees the domain's LUNs. A LUN is visible when its device node exists and
this process may read it; the node of a GUID is the multipath map
``/dev/mapper/GUID`` on a host running multipathd, or the device a
resolver names (the listing's GUID -> devnode map, for LUNs without
multipath and for the loop devices of tests).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Iterable

from vdsm.storage.devices.blockdev import BlockDevice

log = logging.getLogger(__name__)

MAPPER_DIR = "/dev/mapper"


def mapper_path(guid: str) -> str:
    return os.path.join(MAPPER_DIR, guid)


def is_visible(path: str) -> bool:
    """True when ``path`` is a block device this process can read."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISBLK(st.st_mode) and os.access(path, os.R_OK)


def devices_visibility(guids: Iterable[str], *,
                       resolve: Callable[[str], str | None] = mapper_path,
                       ) -> dict[str, bool]:
    """{guid: visible} for each GUID asked; a GUID ``resolve`` cannot name
    a device for (returns None) is not visible. A GUID with a path
    separator is refused as invisible rather than looked up."""
    answer = {}
    for guid in guids:
        path = None if "/" in guid or guid in ("", ".", "..") else resolve(guid)
        answer[guid] = path is not None and is_visible(path)
    log.debug("devices visibility: %s", answer)
    return answer


def listing_resolver(devices: Iterable[BlockDevice]) -> Callable[[str], str | None]:
    """GUID -> node: the multipath map when it exists, else the node of the
    listed device with that GUID (a LUN without multipath, a loop device)."""
    nodes = {d.guid: d.devnode for d in devices}

    def resolve(guid: str) -> str | None:
        path = mapper_path(guid)
        return path if os.path.exists(path) else nodes.get(guid)

    return resolve
