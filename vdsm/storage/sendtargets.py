"""discoverSendTargets: the classic connection struct in, the classic
``fullTargets``/``targets`` answer out.

The discovery runs through supervdsm's iscsiadm ops (``iscsi_discover``;
with CHAP ``iscsi_discover_chap``, which keeps the password off command
lines), or, on a host configured for it (``[irs] iscsi_discovery =
libiscsi``: no iSCSI initiator, as on the test machines), in user space
through libiscsi. The password is never logged: the dispatcher masks it
by key name and commands.run masks it in command logs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from vdsm.common.errors import InvalidParameter
from vdsm.storage.connections import iscsiadm
from vdsm.storage.context import Privileged
from vdsm.storage.devices import iscsi_discovery

log = logging.getLogger(__name__)

METHODS = ("iscsiadm", "libiscsi")
DEFAULT_PORT = 3260


def _portal(con: Mapping[str, Any]) -> tuple[str, int]:
    portal = con.get("connection")
    if not isinstance(portal, str) or not portal:
        raise InvalidParameter("Invalid parameter: con needs a 'connection' "
                               "(portal address)")
    try:
        port = int(con.get("port") or DEFAULT_PORT)
    except (TypeError, ValueError):
        raise InvalidParameter(f"Invalid parameter: bad port {con.get('port')!r}"
                               ) from None
    iscsiadm.check_portal(portal, port)
    return portal, port


def _text(con: Mapping[str, Any], key: str) -> str:
    value = con.get(key) or ""
    if not isinstance(value, str):
        raise InvalidParameter(f"Invalid parameter: con {key!r} must be a string")
    return value


def discover(privileged: Privileged, con: Mapping[str, Any], *,
             method: str = "iscsiadm") -> dict[str, list[str]]:
    """The targets the portal of ``con`` offers ({connection, port, user,
    password, ipv6_enabled}). Raises InvalidParameter, iSCSIDiscoveryError."""
    portal, port = _portal(con)
    user, password = _text(con, "user"), _text(con, "password")
    ipv6 = str(con.get("ipv6_enabled", False)).lower() == "true"
    log.info("discovering targets on %s:%s (%s, chap=%s)", portal, port, method,
             bool(user))
    if method == "libiscsi":
        targets = iscsi_discovery.discover_user_space(portal, port, user=user,
                                                      password=password)
    elif user:
        targets = iscsi_discovery.targets_from_answer(privileged.call(
            "iscsi_discover_chap", portal=portal, port=port, user=user,
            password=password))
    else:
        targets = iscsi_discovery.targets_from_answer(privileged.call(
            "iscsi_discover", portal=portal, port=port))
    return iscsi_discovery.send_targets_answer(targets, ipv6_enabled=ipv6)
