"""supervdsmd killed (-9) under a running vdsmd, during a mount, then back.

The call that was in supervdsmd when it died, and those made while it is
down, answer a clear error (ResourceUnavailable, code 40; never the
unexpected-error code 16) within the supervdsm client's bounds. Once
supervdsmd is started again the same calls work, and vdsmd was never
restarted (its client reconnects).

``mount`` is held in a wrapper on the daemons' PATH while a flag file
exists, so the kill lands while supervdsmd runs it.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from tests.storage.helpers import (
    BLANK,
    StorageHost,
    loop_ext4,
    need_root,
    need_sanlock,
    ok,
    posix_connection,
    wait_for,
)
from tests.supervdsm.helpers import ensure_vdsm_user

pytestmark = [need_root, need_sanlock]
UNAVAILABLE = 40
CONNECT_TIMEOUT = 10.0  # SupervdsmClient's wait for a daemon to come back

WRAPPER = """#!/bin/sh
# mount, held while {flag} exists (at most 60 s); {flag}.started says so
if [ -e {flag} ]; then
    touch {flag}.started
    n=0
    while [ -e {flag} ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
fi
exec /usr/bin/mount "$@"
"""


@pytest.fixture
def host():
    ensure_vdsm_user()
    h = StorageHost({("supervdsm", "timeout"): 20.0})
    bin_dir = os.path.join(h.root.root, "slow-bin")
    os.makedirs(bin_dir)
    os.chmod(bin_dir, 0o755)
    h.flag = os.path.join(h.root.root, "hold-mount")
    with open(os.path.join(bin_dir, "mount"), "w") as f:
        f.write(WRAPPER.format(flag=h.flag))
    os.chmod(os.path.join(bin_dir, "mount"), 0o755)
    h.root.extra_env["PATH"] = bin_dir + ":" + os.environ.get("PATH", "/usr/bin:/bin")
    h.start()
    try:
        yield h
    finally:
        if os.path.exists(h.flag):
            os.unlink(h.flag)
        h.stop()


def timed(call):
    start = time.monotonic()
    answer = call()
    return answer, time.monotonic() - start


def test_supervdsmd_killed_during_a_mount_then_back(host):
    with loop_ext4(64) as device:
        con = posix_connection(device)
        vdsmd_pid = host.root.procs["vdsmd"].pid
        open(host.flag, "w").close()
        result: dict = {}

        def connect() -> None:
            result["answer"], result["took"] = timed(
                lambda: host.proxy().connectStorageServer(6, BLANK, [con]))
        caller = threading.Thread(target=connect, daemon=True)
        caller.start()
        wait_for(lambda: os.path.exists(host.flag + ".started"), 20,
                 "supervdsmd running mount")
        supervdsmd = host.root.procs.pop("supervdsmd")
        os.kill(supervdsmd.pid, signal.SIGKILL)
        supervdsmd.wait(10)
        os.unlink(host.flag)
        caller.join(CONNECT_TIMEOUT + 20)
        assert not caller.is_alive(), "connectStorageServer hung"
        statuses = ok(result["answer"])["statuslist"]
        assert statuses == [{"id": con["id"], "status": UNAVAILABLE}], statuses
        assert result["took"] < CONNECT_TIMEOUT + 5

        # while it is down: a clear error, soon
        p = host.proxy()
        answer, took = timed(p.getVdsHardwareInfo)
        assert answer["status"]["code"] == UNAVAILABLE, answer["status"]
        assert took < CONNECT_TIMEOUT + 5

        host.root.start_supervdsmd()
        statuses = ok(p.connectStorageServer(6, BLANK, [con]))["statuslist"]
        assert statuses == [{"id": con["id"], "status": 0}], statuses
        assert p.getVdsHardwareInfo()["status"]["code"] == 0
        assert host.root.procs["vdsmd"].pid == vdsmd_pid  # never restarted
        ok(p.disconnectStorageServer(6, BLANK, [con]))
