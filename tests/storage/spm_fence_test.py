"""The SPM's storage goes away under real sanlock: the SPM fences itself
and the agent stays up.

The master domain is a loop-backed ext4 whose backing file lives on
freezefs (FUSE); freezing it makes sanlock's renewals of the host id time
out. sanlock then wants the SPM lease back from its live holder; without
a kill path it SIGTERMs vdsmd, and the whole agent went down (found by
this test). Now vdsmd gets SIGUSR1 instead, releases the lease, stops
being SPM, and keeps answering: getSpmStatus says Free, the log says why.
No watchdog (sanlock -w 0). The fencing logic itself, with an in-memory
lease manager, is spm_test's
test_spm_that_loses_storage_fences_itself_and_the_next_one_rolls_back.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import pytest

from tests.storage import fusefs
from tests.storage.helpers import (
    StorageHost,
    create_pool,
    loop_ext4,
    need_root,
    need_sanlock,
    ok,
    unmount_under,
    wait_for,
)
from tests.supervdsm.helpers import ensure_vdsm_user

WHY = fusefs.unavailable()
pytestmark = [need_root, need_sanlock,
              pytest.mark.skipif(WHY is not None, reason=f"freezefs: {WHY}")]


@pytest.fixture
def frozen_storage():
    """A FUSE directory that can be frozen, outside the host's root."""
    top = tempfile.mkdtemp(prefix="vdsm-fence-", dir="/var/tmp")
    os.chmod(top, 0o755)
    fs = fusefs.FreezeFs(os.path.join(top, "backing"), os.path.join(top, "fuse"))
    fs.start()
    os.chmod(fs.mountpoint, 0o755)
    try:
        yield fs
    finally:
        fs.stop()
        shutil.rmtree(top, ignore_errors=True)


def test_spm_losing_master_storage_fences_itself_and_stays_up(frozen_storage):
    fs = frozen_storage
    ensure_vdsm_user()
    host = StorageHost().start()
    try:
        p = host.proxy()
        vdsmd = host.root.procs["vdsmd"]
        with loop_ext4(64, directory=fs.mountpoint) as device:
            names = create_pool(p, device)
            sp = names["sp"]
            assert ok(p.getSpmStatus(sp))["spm_st"]["spmStatus"] == "SPM"
            fs.freeze()
            try:
                start = time.monotonic()

                def spm_status():
                    assert vdsmd.poll() is None, "vdsmd exited:\n" + host.output()
                    return ok(p.getSpmStatus(sp))["spm_st"]["spmStatus"]
                wait_for(lambda: spm_status() != "SPM", 30, "the SPM to fence itself",
                         interval=0.5)
                assert time.monotonic() - start < 15  # sanlock: 8 x io_timeout
                time.sleep(2)  # sanlock would have stopped the agent by now
                t0 = time.monotonic()
                assert spm_status() == "Free"
                assert time.monotonic() - t0 < 1.0  # no read of the lost storage
                assert ok(p.ping())
                assert "fencing itself" in host.output() or "fencing itself" in open(
                    os.path.join(host.config.log_dir, "vdsm.log")).read()
            finally:
                fs.thaw()
            host.stop()
            unmount_under(host.root.root)
    finally:
        fs.thaw()
        host.stop()
