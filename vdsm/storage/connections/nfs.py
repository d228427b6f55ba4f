"""NFS mount options, as the classic agent builds them.

Defaults: ``soft,nosharecache,timeo=100,retrans=3`` (a request fails
after about a minute instead of hanging forever), ``nfsvers``/
``minorversion`` from the requested version, and ``nolock`` for NFSv3 or
auto-negotiated mounts (remote NFSv3 locks break HA VM fail-over) unless
the engine asked for ``lock``.
"""

from __future__ import annotations

import logging

from vdsm.common.errors import InvalidParameter
from vdsm.storage.connections.mounts import MountRecord

log = logging.getLogger(__name__)

DEFAULT_OPTIONS = ("soft", "nosharecache")
DEFAULT_TIMEO = 100  # deciseconds
DEFAULT_RETRANS = 3


def parse_version(version: str | int | None) -> tuple[int, int | None] | None:
    """``"4.1"`` -> (4, 1); None/"auto"/"" -> None (negotiate)."""
    if version is None or str(version).strip().lower() in ("", "auto"):
        return None
    parts = str(version).split(".")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise InvalidParameter(f"Invalid NFS version {version!r}") from None
    if len(numbers) > 2 or numbers[0] not in (3, 4):
        raise InvalidParameter(f"Invalid NFS version {version!r}")
    return numbers[0], (numbers[1] if len(numbers) > 1 else None)


def mount_options(*, version: str | int | None = None, timeo: int | None = None,
                  retrans: int | None = None, extra: str | None = None) -> str:
    """The ``-o`` string for mounting an NFS export."""
    options = list(DEFAULT_OPTIONS)
    options.append(f"timeo={DEFAULT_TIMEO if timeo is None else int(timeo)}")
    options.append(f"retrans={DEFAULT_RETRANS if retrans is None else int(retrans)}")
    parsed = parse_version(version)
    if parsed is not None:
        options.append(f"nfsvers={parsed[0]}")
        if parsed[1] is not None:
            options.append(f"minorversion={parsed[1]}")
    extras = [o for o in (extra or "").split(",") if o]
    if parsed is None or parsed[0] == 3:
        if "lock" in extras:
            log.warning("Using remote NFSv3 locks; HA VMs should not use this mount")
        elif "nolock" not in extras:
            extras.append("nolock")
    return ",".join(options + extras)


def negotiated_version(record: MountRecord) -> str:
    """The NFS version in use on a mount ("3", "4.2"), from its options."""
    for option in record.options.split(","):
        key, _, value = option.partition("=")
        if key == "vers":
            return value
    return "4" if record.fstype == "nfs4" else "3"
