"""SR-IOV: check a VF count request, and the sysfs write supervdsm does.

The kernel refuses to change a non-zero ``sriov_numvfs`` to another
non-zero value, so a change writes 0 first; a request above
``sriov_totalvfs`` is refused before anything is written.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from vdsm.common.errors import InvalidParameter

log = logging.getLogger(__name__)


def check_request(name: str, params: dict[str, Any], numvfs: Any) -> int:
    """The VF count to set on PF ``name``; InvalidParameter unless the
    device is an SR-IOV PF and 0 <= numvfs <= its totalvfs."""
    if params.get("capability") != "pci" or "physfn" in params:
        raise InvalidParameter(
            f"Invalid parameter: {name} is not a PCI physical function")
    total = params.get("totalvfs")
    if not total:
        raise InvalidParameter(
            f"Invalid parameter: {name} does not support SR-IOV")
    try:
        count = int(numvfs)
    except (TypeError, ValueError):
        raise InvalidParameter(
            f"Invalid parameter: numvfs {numvfs!r} is not a number") from None
    if isinstance(numvfs, bool) or not 0 <= count <= total:
        raise InvalidParameter(
            f"Invalid parameter: numvfs {numvfs!r} is not from 0 to the "
            f"device's totalvfs {total}")
    return count


def write_numvfs(device_dir: str, numvfs: int) -> None:
    """Set ``device_dir``/sriov_numvfs (root only). Raises OSError from the
    kernel and InvalidParameter above sriov_totalvfs."""
    with open(os.path.join(device_dir, "sriov_totalvfs")) as f:
        total = int(f.read().strip())
    if not 0 <= numvfs <= total:
        raise InvalidParameter(f"Invalid parameter: numvfs {numvfs} is not "
                               f"from 0 to {total}")
    path = os.path.join(device_dir, "sriov_numvfs")
    with open(path) as f:
        current = int(f.read().strip() or 0)
    if current == numvfs:
        return
    if current and numvfs:
        _write(path, 0)
    _write(path, numvfs)
    log.info("%s: %d -> %d VFs", device_dir, current, numvfs)


def _write(path: str, value: int) -> None:
    with open(path, "w") as f:
        f.write(str(value))
