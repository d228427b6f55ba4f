"""vdsm.common.spawn in one process tree: the death signal, the spawner
thread, the mark (the daemon-level proof is tests/storage/helper_death_test)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from tests.agentproc import REPO
from vdsm.common import commands, spawn

AGENT = """
import sys, time
from vdsm.common import commands, spawn
spawn.set_tag(sys.argv[1])
proc = commands.start(["sleep", "60"])
print(proc.pid, flush=True)
time.sleep(60)
"""


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_helper_outlives_the_thread_that_started_it():
    # PR_SET_PDEATHSIG fires when the forking thread exits: the fork must
    # happen in the long-lived spawner, not in this short-lived thread.
    started = []
    t = threading.Thread(target=lambda: started.append(commands.start(["sleep", "30"])))
    t.start()
    t.join(10)
    proc = started[0]
    try:
        time.sleep(0.3)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(5)


def test_a_helper_dies_with_its_agent_and_carries_its_mark(tmp_path):
    agent = subprocess.Popen([sys.executable, "-c", AGENT, str(tmp_path)],
                             stdout=subprocess.PIPE, text=True, cwd=REPO,
                             env=dict(os.environ, PYTHONPATH=REPO))
    try:
        pid = int(agent.stdout.readline())
        with open(f"/proc/{pid}/environ", "rb") as f:
            assert f"{spawn.MARK}={tmp_path}".encode() in f.read().split(b"\0")
        os.kill(agent.pid, signal.SIGKILL)
        agent.wait(5)
        deadline = time.monotonic() + 5
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone(pid)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(5)
        agent.stdout.close()


def test_reap_leftovers_kills_only_the_marked():
    env = dict(os.environ)
    procs = []
    try:
        for tag in ("/run/one", "/run/two"):
            env[spawn.MARK] = tag
            procs.append(subprocess.Popen(["sleep", "30"], env=env))
        assert spawn.reap_leftovers("/run/one", timeout=5) == [procs[0].pid]
        assert procs[0].wait(5) == -signal.SIGKILL
        assert procs[1].poll() is None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)
