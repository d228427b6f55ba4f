"""discoverSendTargets: which targets an iSCSI portal offers, in the
classic answer shape.

The discovery itself runs in supervdsm (iscsiadm needs root and iscsid:
``iscsi_discover``; with CHAP, ``iscsi_discover_chap``, which writes the
credentials into the root-only discovery record instead of putting them
on iscsiadm's command line). Where no iscsid runs, libiscsi's user-space
``iscsi-ls`` discovers without root (:func:`discover_user_space`); its
CHAP password goes through the environment (LIBISCSI_CHAP_PASSWORD), never
the command line. Log lines carry no password: commands.run masks it.
"""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
from collections.abc import Iterable
from typing import Any

from vdsm.common import commands
from vdsm.storage.connections import iscsiadm
from vdsm.storage.errors import IscsiDiscoveryError

log = logging.getLogger(__name__)

ISCSI_LS = "iscsi-ls"
TIMEOUT = 60.0
_ISCSI_LS_LINE = re.compile(r"^Target:(?P<iqn>\S+)\s+"
                            r"Portal:(?P<portal>\[[0-9A-Fa-f:.]+\]|[^\s:,\[]+):"
                            r"(?P<port>\d+),(?P<tpgt>-?\d+)$")
SEND_TARGETS_DIR = "/etc/iscsi/send_targets"
# discovery record keys that carry CHAP credentials (open-iscsi idbm)
AUTH_KEYS = ("discovery.sendtargets.auth.authmethod",
             "discovery.sendtargets.auth.username",
             "discovery.sendtargets.auth.password")


def _is_ipv6(portal: str) -> bool:
    return ":" in portal.strip("[]")


def full_target(target: iscsiadm.Target) -> str:
    """``portal:port,tpgt iqn``, the line iscsiadm prints per target."""
    return f"{target.address} {target.iqn}"


def send_targets_answer(targets: Iterable[iscsiadm.Target], *,
                        ipv6_enabled: bool = False) -> dict[str, list[str]]:
    """The classic answer: ``fullTargets`` as iscsiadm prints them and
    ``targets`` their IQNs; IPv6 portals only when the caller enabled them
    (an engine without IPv6 would try to log in to them)."""
    kept = [t for t in targets if ipv6_enabled or not _is_ipv6(t.portal)]
    return {"fullTargets": [full_target(t) for t in kept],
            "targets": [t.iqn for t in kept]}


def parse_iscsi_ls(out: str) -> list[iscsiadm.Target]:
    """Targets of ``iscsi-ls``: ``Target:IQN Portal:HOST:PORT,TPGT``."""
    targets = []
    for line in out.splitlines():
        m = _ISCSI_LS_LINE.match(line.strip())
        if m:
            targets.append(iscsiadm.Target(m["portal"].strip("[]"), int(m["port"]),
                                           int(m["tpgt"]), m["iqn"]))
    return targets


def iscsi_ls_command(portal: str, port: int, user: str = "",
                     password: str = "") -> tuple[list[str], dict[str, str]]:
    """argv and extra environment of a user-space discovery; the password is
    only in the environment."""
    iscsiadm.check_portal(portal, port)
    host = f"[{portal.strip('[]')}]" if _is_ipv6(portal) else portal
    userinfo = f"{urllib.parse.quote(user, safe='')}@" if user else ""
    env = {"LIBISCSI_CHAP_PASSWORD": password} if user else {}
    return [ISCSI_LS, f"iscsi://{userinfo}{host}:{port}"], env


def discover_user_space(portal: str, port: int = 3260, *, user: str = "",
                        password: str = "") -> list[iscsiadm.Target]:
    """SendTargets discovery through libiscsi (no root, no iscsid).

    Raises IscsiDiscoveryError when the portal cannot be reached or
    iscsi-ls is missing.
    """
    argv, extra = iscsi_ls_command(portal, port, user, password)
    try:
        result = commands.run(argv, timeout=TIMEOUT, env={**os.environ, **extra},
                              secrets=(password,) if password else ())
    except commands.CommandError as e:
        detail = (e.err or e.out).strip().splitlines()
        raise IscsiDiscoveryError(
            f"Failed discovery of iSCSI targets on {portal}:{port}: "
            f"{detail[-1] if detail else e.reason}") from None
    return parse_iscsi_ls(result.out)


def discoverydb_argv(portal: str, port: int, iface: str, *extra: str) -> list[str]:
    """``iscsiadm -m discoverydb`` on one portal's SendTargets record."""
    iscsiadm.check_portal(portal, port)
    iscsiadm.check_iface(iface)
    host = f"[{portal.strip('[]')}]" if _is_ipv6(portal) else portal
    return [iscsiadm.ISCSIADM, "-m", "discoverydb", "-t", "sendtargets", "-I", iface,
            "-p", f"{host}:{port}", *extra]


def record_path(portal: str, port: int, root: str = SEND_TARGETS_DIR) -> str:
    """The portal's discovery record (root-only, in a 0700 directory)."""
    return os.path.join(root, f"{portal.strip('[]')},{port}", "st_config")


def with_auth(record: str, method: str = "None", user: str = "",
              password: str = "") -> str:
    """A discovery record with its CHAP settings replaced: the auth lines
    dropped and the given ones put before ``# END RECORD``. ``method``
    "None" with no user clears the credentials."""
    values = {AUTH_KEYS[0]: method}
    if user:
        values.update({AUTH_KEYS[1]: user, AUTH_KEYS[2]: password})
    lines = [line for line in record.splitlines()
             if line.split("=", 1)[0].strip() not in AUTH_KEYS]
    added = [f"{k} = {v}" for k, v in values.items()]
    end = next((i for i, line in enumerate(lines) if line.startswith("# END RECORD")),
               len(lines))
    return "\n".join(lines[:end] + added + lines[end:]) + "\n"


def targets_from_answer(answer: Iterable[dict[str, Any]]) -> list[iscsiadm.Target]:
    """Targets from the supervdsm ``iscsi_discover`` answer."""
    return [iscsiadm.Target(t["portal"], t["port"], t["tpgt"], t["iqn"])
            for t in answer]
