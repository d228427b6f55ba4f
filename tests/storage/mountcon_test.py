"""Local directory connections with file I/O in helper processes."""

from __future__ import annotations

import os

import pytest

from vdsm.storage.conbase import ConnectionParams
from vdsm.storage.errors import StorageServerValidationError
from vdsm.storage.mountcon import LocalFsConnection


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
