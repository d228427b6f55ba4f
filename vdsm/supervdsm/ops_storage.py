"""Privileged storage ops: iSCSI discovery, login, logout, sessions.

Only root may drive the iSCSI initiator. Arguments are checked (portal,
port, IQN, interface name) before any command line is built; CHAP
passwords are masked in the audit log and in command logs. Mounting is
in ops_mount.
"""

from __future__ import annotations

import logging
from typing import Any

from vdsm.common import commands
from vdsm.storage.connections import iscsiadm
from vdsm.storage.errors import (
    IscsiDiscoveryError,
    IscsiLoginAuthError,
    IscsiLoginError,
    IscsiLogoutError,
    StorageError,
    StorageServerIscsiError,
)
from vdsm.supervdsm.ops import OpContext, operation

log = logging.getLogger(__name__)

TIMEOUT = 120.0


def _run(argv: list[str], *, secrets: tuple[str, ...] = ()) -> commands.CommandResult:
    try:
        return commands.run(argv, timeout=TIMEOUT, check=False, secrets=secrets)
    except commands.CommandError as e:  # not installed, or timed out
        raise StorageServerIscsiError(f"iscsiadm {e.reason}") from None


def _detail(result: commands.CommandResult) -> str:
    lines = [line for line in (result.err or result.out).splitlines()
             if line.startswith("iscsiadm:")]
    return "; ".join(lines)[:500] or f"rc={result.rc}"


@operation
def iscsi_discover(ctx: OpContext, *, portal: str, port: int = 3260,
                   iface: str = "default") -> list[dict[str, Any]]:
    """SendTargets discovery; the targets the portal offers."""
    result = _run(iscsiadm.discovery_argv(portal, port, iface))
    if result.rc != 0:
        raise IscsiDiscoveryError(f"Failed discovery of iSCSI targets on "
                                  f"{portal}:{port}: {_detail(result)}")
    return [{"portal": t.portal, "port": t.port, "tpgt": t.tpgt, "iqn": t.iqn}
            for t in iscsiadm.parse_targets(result.out)]


@operation(secret_args=("password",))
def iscsi_login(ctx: OpContext, *, iqn: str, portal: str, port: int = 3260,
                tpgt: int = 1, iface: str = "default", user: str = "",
                password: str = "") -> None:
    """Create the node record (with CHAP credentials if given) and log in.
    Logging in again to a target already logged in is not an error; a
    failed login removes the node record it created."""
    target = iscsiadm.Target(portal, port, tpgt, iqn)
    result = _run(iscsiadm.new_node_argv(target, iface))
    if result.rc != 0:
        raise StorageServerIscsiError(f"Cannot add iSCSI node {iqn}: "
                                      f"{_detail(result)}")
    try:
        if user:
            for argv in iscsiadm.auth_argvs(target, user, password, iface):
                result = _run(argv, secrets=(password,))
                if result.rc != 0:
                    raise StorageServerIscsiError(
                        f"Cannot set iSCSI credentials of {iqn}: {_detail(result)}")
        result = _run(iscsiadm.login_argv(target, iface))
        if result.rc == iscsiadm.RC_SESSION_EXISTS:
            return
        if result.rc == iscsiadm.RC_LOGIN_AUTH_FAILED:
            raise IscsiLoginAuthError(
                f"iSCSI login to {iqn} refused: {_detail(result)}")
        if result.rc != 0:
            raise IscsiLoginError(f"Failed to login to iSCSI node {iqn}: "
                                  f"{_detail(result)}")
    except StorageError:
        _run(iscsiadm.delete_node_argv(target, iface))
        raise


@operation
def iscsi_logout(ctx: OpContext, *, iqn: str, portal: str, port: int = 3260,
                 tpgt: int = 1, iface: str = "default") -> None:
    """Log out of a target; not logged in is not an error."""
    target = iscsiadm.Target(portal, port, tpgt, iqn)
    result = _run(iscsiadm.logout_argv(target, iface))
    if result.rc not in (0, iscsiadm.RC_NO_OBJECTS):
        raise IscsiLogoutError(f"Failed to logout from iSCSI node {iqn}: "
                               f"{_detail(result)}")


@operation
def iscsi_sessions(ctx: OpContext) -> list[dict[str, Any]]:
    """The active iSCSI sessions."""
    result = _run(iscsiadm.session_argv())
    if result.rc == iscsiadm.RC_NO_OBJECTS:
        return []
    if result.rc != 0:
        raise StorageServerIscsiError(f"Cannot list iSCSI sessions: {_detail(result)}")
    return [{"sid": s.sid, "iqn": s.target.iqn, "portal": s.target.portal,
             "port": s.target.port, "tpgt": s.target.tpgt}
            for s in iscsiadm.parse_sessions(result.out)]
