"""Privileged device discovery: multipath maps, iSCSI discovery with CHAP.

multipathd answers only root on its socket, dmsetup needs
/dev/mapper/control, and iscsiadm's records are root's: vdsmd asks here.
Commands and parsing live in :mod:`vdsm.storage.devices.multipath` and
:mod:`vdsm.storage.devices.iscsi_discovery`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from vdsm.common import commands
from vdsm.storage.connections import iscsiadm
from vdsm.storage.devices import iscsi_discovery, multipath
from vdsm.storage.devices.errors import BlockDeviceActionError
from vdsm.storage.errors import IscsiDiscoveryError
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


def _iscsiadm(argv: list[str]) -> commands.CommandResult:
    try:
        return commands.run(argv, timeout=iscsi_discovery.TIMEOUT, check=False)
    except commands.CommandError as e:  # not installed, or timed out
        raise IscsiDiscoveryError(f"iscsiadm {e.reason}") from None


def _failure(result: commands.CommandResult) -> str:
    lines = [line for line in (result.err or result.out).splitlines()
             if line.startswith("iscsiadm:")]
    return "; ".join(lines)[:500] or f"rc={result.rc}"


def _write_record(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


@operation(secret_args=("password",))
def iscsi_discover_chap(ctx: OpContext, *, portal: str, user: str, password: str,
                        port: int = 3260, iface: str = "default",
                        ) -> list[dict[str, Any]]:
    """SendTargets discovery of a portal that wants CHAP.

    The credentials go into the portal's discovery record (a root-only
    file), not on iscsiadm's command line, and are cleared from it again
    whatever the discovery's outcome. Raises IscsiDiscoveryError.
    """
    def discoverydb(*extra: str) -> commands.CommandResult:
        return _iscsiadm(iscsi_discovery.discoverydb_argv(portal, port, iface, *extra))

    path = iscsi_discovery.record_path(portal, port)
    known = os.path.exists(path)
    result = discoverydb("-o", "new")
    if result.rc != 0:
        raise IscsiDiscoveryError(f"Cannot create the discovery record of "
                                  f"{portal}:{port}: {_failure(result)}")
    with open(path) as f:
        record = f.read()
    found = False
    try:
        _write_record(path, iscsi_discovery.with_auth(record, "CHAP", user, password))
        result = discoverydb("--discover")
        if result.rc != 0:
            raise IscsiDiscoveryError(f"Failed discovery of iSCSI targets on "
                                      f"{portal}:{port}: {_failure(result)}")
        targets = iscsiadm.parse_targets(result.out)
        found = True
    finally:
        _write_record(path, iscsi_discovery.with_auth(record))
        if not found and not known:
            # a failed discovery leaves no record of its own behind
            discoverydb("-o", "delete")
    log.info("discovered %d targets on %s:%s", len(targets), portal, port)
    return [{"portal": t.portal, "port": t.port, "tpgt": t.tpgt, "iqn": t.iqn}
            for t in targets]
