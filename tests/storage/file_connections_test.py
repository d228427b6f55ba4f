"""Local directory connections with file I/O in helper processes."""

from __future__ import annotations

import os

import pytest

from vdsm.common.errors import VdsmError
from vdsm.storage import constants as sc
from vdsm.storage.connections.base import ConnectionParams
from vdsm.storage.connections.file import LocalFsConnection, MountConnection
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.operations import DomainService
from vdsm.storage.errors import (
    StorageDomainIllegalRemotePath,
    StorageServerValidationError,
)


def test_refused_connections_leave_no_helper(oop_ctx, world_tmp):
    """Each refused path used to keep its I/O helper process forever (the
    fuzzer saw vdsmd's fds and children grow with every new path)."""
    for i in range(3):
        con = LocalFsConnection(ConnectionParams(
            id=str(i), connection=f"/nonexistent/fuzz{i}"), oop_ctx)
        with pytest.raises(StorageServerValidationError):
            con.connect()
        assert not oop_ctx.has_file_ops(con.link)
    data = os.path.join(world_tmp, "data")
    os.makedirs(data)
    con = LocalFsConnection(ConnectionParams(id="ok", connection=data), oop_ctx)
    con.connect()
    assert con.is_connected() and oop_ctx.has_file_ops(con.link)


@pytest.mark.parametrize("path", [".", "..", ""])
def test_dot_paths_never_name_the_mount_root_or_its_parent(oop_ctx, path):
    """"." and ".." used to link, mount or create a domain on the mount
    root itself or on the repository above it (found by the fuzzer)."""
    domains = DomainService(oop_ctx, DomainCache(oop_ctx, lookup_timeout=5))
    with pytest.raises(StorageDomainIllegalRemotePath):
        domains.mount_dir(sc.LOCALFS_DOMAIN, path)
    for con in (MountConnection(ConnectionParams(
            id="m", connection=path, vfs_type="tmpfs"), oop_ctx),
                LocalFsConnection(ConnectionParams(id="l", connection=path),
                                  oop_ctx)):
        with pytest.raises(VdsmError):
            con.connect()
    assert os.listdir(oop_ctx.mount_root) == []
