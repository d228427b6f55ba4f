"""Peer credentials and the access policy."""

from __future__ import annotations

import grp
import os
import pwd
import socket

from vdsm.supervdsm import peers
from vdsm.supervdsm.ops import Peer

NOBODY = pwd.getpwnam("nobody")


def test_peer_credentials_of_a_real_socket():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert peers.peer_credentials(a) == Peer(pid=os.getpid(), uid=os.getuid(),
                                                 gid=os.getgid())


def test_policy_for_existing_user(vdsm_user):
    pw = pwd.getpwnam(vdsm_user)
    policy = peers.policy_for(vdsm_user)
    assert policy.uids == {0, pw.pw_uid}
    assert policy.gid == pw.pw_gid
    assert policy.allows(Peer(pid=1, uid=0, gid=0))
    assert policy.allows(Peer(pid=1, uid=pw.pw_uid, gid=pw.pw_gid))
    assert policy.allows(Peer(pid=1, uid=NOBODY.pw_uid, gid=pw.pw_gid))
    assert not policy.allows(Peer(pid=1, uid=NOBODY.pw_uid, gid=NOBODY.pw_gid))
    assert not policy.allows(Peer(pid=1, uid=123456, gid=123456))


def test_group_members_by_group_file(vdsm_user):
    group = grp.getgrgid(NOBODY.pw_gid).gr_name
    policy = peers.policy_for(vdsm_user, group)
    assert policy.gid == NOBODY.pw_gid
    # nobody's primary group is that group, whatever gid it connects with
    assert policy.allows(Peer(pid=1, uid=NOBODY.pw_uid, gid=12345))


def test_missing_user_allows_root_only(caplog):
    policy = peers.policy_for("no-such-user-xyz")
    assert policy == peers.AccessPolicy(uids=frozenset({0}), gid=None,
                                        members=frozenset())
    assert not policy.allows(Peer(pid=1, uid=NOBODY.pw_uid, gid=NOBODY.pw_gid))
    assert "does not exist" in caplog.text
