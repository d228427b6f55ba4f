"""Fixtures of the storage tests."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from tests.storage import helpers
from tests.supervdsm.helpers import ensure_vdsm_user
from vdsm import config as vdsm_config
from vdsm.storage.context import StorageContext
from vdsm.storage.io.out_of_process import IOProcessPool
from vdsm.storage.leases import manager as leases


@pytest.fixture
def world_tmp() -> Iterator[str]:
    """A temp dir every user can traverse (pytest's tmp_path is 0700)."""
    path = tempfile.mkdtemp(prefix="vdsm-storage-", dir="/var/tmp")
    os.chmod(path, 0o755)
    yield path
    helpers.unmount_under(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def local_ctx(world_tmp: str) -> Iterator[StorageContext]:
    """A storage context on local directories, file I/O in this process."""
    config = vdsm_config.Config(vdsm_config.rooted(world_tmp))
    os.makedirs(config.mount_root)
    yield StorageContext(config=config, supervdsm=None,  # type: ignore[arg-type]
                         io=None, leases=leases.create("sanlock", io_timeout=1))


@pytest.fixture
def oop_ctx(local_ctx: StorageContext) -> Iterator[StorageContext]:
    """The same with file I/O in helper processes, as in the daemon."""
    pool = IOProcessPool(timeout=5)
    yield StorageContext(config=local_ctx.config, supervdsm=None,  # type: ignore
                         io=pool, leases=local_ctx.leases)
    pool.close_all()


@pytest.fixture
def sanlock_daemon(world_tmp: str, monkeypatch: pytest.MonkeyPatch
                   ) -> Iterator[helpers.SanlockDaemon]:
    """A private sanlock daemon (no watchdog) this process talks to."""
    if os.geteuid() != 0 or shutil.which("sanlock") is None:
        pytest.skip("sanlock daemon needs root and the sanlock package")
    daemon = helpers.SanlockDaemon(os.path.join(world_tmp, "sanlock"), group="vdsm")
    daemon.start()
    monkeypatch.setenv("SANLOCK_RUN_DIR", daemon.run_dir)
    try:
        yield daemon
    finally:
        daemon.stop()



@pytest.fixture
def host() -> Iterator[helpers.StorageHost]:
    """A whole storage host: vdsmd, supervdsmd and a private sanlock."""
    ensure_vdsm_user()
    h = helpers.StorageHost().start()
    try:
        yield h
    finally:
        h.stop()
