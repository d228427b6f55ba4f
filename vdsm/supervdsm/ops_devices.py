"""Privileged reads of the host's multipath maps.

multipathd answers only root on its socket, and dmsetup needs
/dev/mapper/control: vdsmd asks here. Commands and parsing live in
:mod:`vdsm.storage.devices.multipath`.
"""

from __future__ import annotations

import logging
from typing import Any

from vdsm.common import commands
from vdsm.storage.devices import multipath
from vdsm.storage.devices.errors import BlockDeviceActionError
from vdsm.supervdsm.ops import OpContext, operation

log = logging.getLogger(__name__)

TIMEOUT = 60.0


def _run(argv: list[str]) -> str:
    try:
        return commands.run(argv, timeout=TIMEOUT).out
    except commands.CommandError as e:  # not installed, failed, or timed out
        raise BlockDeviceActionError(f"{argv[0]} {e.reason}: {e.err.strip()[:300]}"
                                     ) from None


@operation
def multipath_maps(ctx: OpContext) -> list[dict[str, Any]]:
    """multipathd's maps with their paths and path states."""
    try:
        maps = multipath.parse_maps(_run(multipath.maps_argv()))
    except multipath.MultipathParseError as e:
        raise BlockDeviceActionError(str(e)) from None
    return multipath.maps_to_answer(maps)


@operation
def multipath_status(ctx: OpContext) -> dict[str, dict[str, str]]:
    """Path states of every multipath map from device-mapper (dmsetup)."""
    return multipath.parse_status(_run(multipath.status_argv()))
