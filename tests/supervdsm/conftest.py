"""Fixtures: the vdsm user, an agent root under /tmp, a running supervdsmd."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from vdsm.common import commands
from vdsm.supervdsm.client import SupervdsmClient
from vdsm.supervdsm.ops_mount import mount_points

from .helpers import SupervdsmProcess, ensure_vdsm_user


@pytest.fixture(scope="session")
def vdsm_user() -> str:
    if os.geteuid() != 0:
        pytest.skip("supervdsm tests need root (they mount and change owners)")
    return ensure_vdsm_user()


@pytest.fixture
def agent_root() -> Iterator[str]:
    """A world-traversable temp root, so dropped-privilege children reach it.

    (pytest's tmp_path lives under a 0700 directory.)
    """
    root = tempfile.mkdtemp(prefix="svdsm-", dir="/tmp")
    os.chmod(root, 0o755)
    yield root
    for target in sorted((m for m in mount_points() if m.startswith(root + "/")),
                         reverse=True):
        commands.run(["umount", "-l", target], timeout=30, check=False)
    shutil.rmtree(root)


@pytest.fixture
def supervdsmd(vdsm_user: str, agent_root: str) -> Iterator[SupervdsmProcess]:
    server = SupervdsmProcess(agent_root)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(supervdsmd: SupervdsmProcess) -> Iterator[SupervdsmClient]:
    with SupervdsmClient(supervdsmd.socket_path, timeout=10,
                         connect_timeout=5) as c:
        yield c
