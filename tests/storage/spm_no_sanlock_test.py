"""spmStart on a host whose sanlock daemon is not running: a clear error at
once (AcquireHostIdFailure, 661, naming sanlock), not a wait of
``[irs] host_id_timeout`` for a host id that cannot come."""

from __future__ import annotations

import time

from tests.storage import helpers
from tests.storage.helpers import code, create_pool, loop_ext4, need_root, need_sanlock
from tests.supervdsm.helpers import ensure_vdsm_user

pytestmark = [need_root, need_sanlock]


def test_spm_start_without_sanlock_fails_at_once_saying_so():
    ensure_vdsm_user()
    # Its sanlock run dir stays empty: the daemon is never started.
    host = helpers.StorageHost({("irs", "host_id_timeout"): 60.0})
    try:
        host.root.start_supervdsmd()
        host.root.start_vdsmd()
        proxy = host.proxy()
        with loop_ext4() as device:
            names = create_pool(proxy, device, start_spm=False)
            start = time.monotonic()
            answer = proxy.spmStart(names["sp"], -1, -1, -1, False)
            elapsed = time.monotonic() - start
            assert code(answer) == 661, answer
            message = answer["status"]["message"]
            assert "sanlock daemon is not running" in message, message
            assert elapsed < 5, elapsed
            status = proxy.getSpmStatus(names["sp"])["spm_st"]
            assert status["spmStatus"] == "Free", status
            proxy.disconnectStoragePool(names["sp"], 1, "")
            proxy.disconnectStorageServer(6, helpers.BLANK, [names["con"]])
    finally:
        host.stop()
