"""Who may talk to supervdsmd: root, the vdsm user, and its group.

The socket file's mode (0660, group of the vdsm user) is the first guard;
the kernel-reported credentials of each connecting process (SO_PEERCRED,
taken at connect time, so they cannot be forged by the peer) are the
second.
"""

from __future__ import annotations

import grp
import logging
import pwd
import socket
import struct
from dataclasses import dataclass

from vdsm.supervdsm.ops import Peer

log = logging.getLogger(__name__)

_UCRED = struct.Struct("3i")  # pid, uid, gid


def peer_credentials(sock: socket.socket) -> Peer:
    """The pid, uid and gid of the process that connected ``sock``."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return Peer(pid=pid, uid=uid, gid=gid)


@dataclass(frozen=True)
class AccessPolicy:
    """The uids and the group allowed to call supervdsm.

    ``gid`` is None when there is no vdsm user (only root is allowed
    then); ``members`` are the user names listed in that group.
    """

    uids: frozenset[int]
    gid: int | None
    members: frozenset[str]

    def allows(self, peer: Peer) -> bool:
        if peer.uid in self.uids:
            return True
        if self.gid is None:
            return False
        if peer.gid == self.gid:
            return True
        try:
            pw = pwd.getpwuid(peer.uid)
        except KeyError:
            return False
        return pw.pw_name in self.members or pw.pw_gid == self.gid


def policy_for(user: str, group: str | None = None) -> AccessPolicy:
    """Root, ``user``, and members of ``group`` (default: user's group).

    A missing user or group is logged as a warning and left out: the
    helper then serves root alone instead of failing to start.
    """
    uids = {0}
    gid = None
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        log.warning("user %r does not exist; only root may use supervdsm", user)
    else:
        uids.add(pw.pw_uid)
        gid = pw.pw_gid
    if group is not None:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            log.warning("group %r does not exist; ignoring it", group)
    members: frozenset[str] = frozenset()
    if gid is not None:
        try:
            members = frozenset(grp.getgrgid(gid).gr_mem)
        except KeyError:
            log.warning("gid %s has no group entry", gid)
    return AccessPolicy(uids=frozenset(uids), gid=gid, members=members)
