"""vdsmd life cycle: hooks at start and stop, tasks across restarts,
vdsClient against the live agent, supervdsm socket permissions."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time

import pytest

from tests.agentproc import PYTHON, REPO, AgentRoot, ensure_vdsm_user
from vdsm.tasks.manager import TaskManager


@pytest.fixture
def root():
    ensure_vdsm_user()
    r = AgentRoot()
    yield r
    r.cleanup()


def _hook(root: AgentRoot, point: str, name: str, body: str) -> None:
    directory = os.path.join(root.config.hooks_dir, point)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)


def _wait_for_file(path: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    with open(path) as f:
        return f.read()


def test_vdsm_start_and_stop_hooks_run(root):
    marks = os.path.join(root.config.state_dir, "marks")
    os.makedirs(root.config.state_dir, exist_ok=True)
    _hook(root, "before_vdsm_start", "10_mark", f'echo "start $(id -un)" >> {marks}')
    _hook(root, "after_vdsm_stop", "10_mark", f"echo stop >> {marks}")
    root.start_supervdsmd()
    root.start_vdsmd()
    assert _wait_for_file(marks).split("\n")[0] == "start vdsm"
    caps = root.proxy().getVdsCapabilities()["info"]
    checksum = caps["hooks"]["before_vdsm_start"]["10_mark"]["checksum"]
    assert len(checksum) == 64
    assert root.stop("vdsmd") == 0
    with open(marks) as f:
        assert f.read().split() == ["start", "vdsm", "stop"]


def test_persisted_task_is_reported_after_restart(root):
    manager = TaskManager(2, persist_dir=os.path.join(root.config.state_dir,
                                                       "tasks"))
    task_id = manager.schedule(lambda ctx: "done", persist=True,
                               verb="testVerb")
    assert manager.wait(task_id, 10)
    manager.shutdown(10)

    root.start_supervdsmd()
    root.start_vdsmd()
    proxy = root.proxy()
    statuses = proxy.getAllTasksStatuses()["allTasksStatus"]
    assert statuses[task_id]["taskState"] == "finished"
    assert statuses[task_id]["taskResult"] == "success"
    assert proxy.getTaskInfo(task_id)["TaskInfo"]["verb"] == "testVerb"

    # the agent restarts (SIGKILL: no chance to tidy up) and still knows it
    root.stop("vdsmd", sig=9)
    root.start_vdsmd()
    proxy = root.proxy()
    assert proxy.getTaskStatus(task_id)["taskStatus"]["taskResult"] == "success"
    assert proxy.clearTask(task_id)["status"]["code"] == 0
    assert proxy.getTaskStatus(task_id)["status"]["code"] == 401


def _vdsclient(root: AgentRoot, *args: str,
               options: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-m", "vdsm_cli.vdsclient", "--config", root.conf_file,
         *options, "-s", f"0:{root.port}", *args],
        capture_output=True, text=True, timeout=60, cwd=REPO, env=root.env())


def test_vdsclient_round_trip_against_the_live_agent(root):
    root.start_supervdsmd()
    root.start_vdsmd()
    done = _vdsclient(root, "ping")
    assert done.returncode == 0, done.stderr
    caps = _vdsclient(root, "getVdsCaps")
    assert caps.returncode == 0 and "cpuModel" in caps.stdout
    stats = _vdsclient(root, "getVdsStats", options=("--json",))
    assert json.loads(stats.stdout)["status"]["code"] == 0
    failed = _vdsclient(root, "getTaskStatus",
                        "00000000-0000-0000-0000-000000000000")
    assert failed.returncode == 1 and "code 401" in failed.stderr


def test_vdsclient_jsonrpc_against_the_live_agent(root):
    root.start_supervdsmd()
    root.start_vdsmd()
    for argv in (["ping"], ["getTaskStatus", "00000000-0000-0000-0000-000000000000"],
                 ["setLogLevel", "INFO"]):
        xml = _vdsclient(root, *argv)
        jsonrpc = _vdsclient(root, *argv, options=("--jsonrpc",))
        assert (jsonrpc.returncode, jsonrpc.stdout, jsonrpc.stderr) == \
            (xml.returncode, xml.stdout, xml.stderr)
    caps = _vdsclient(root, "getVdsCaps", options=("--jsonrpc",))
    assert caps.returncode == 0 and "cpuModel" in caps.stdout


def test_supervdsm_socket_is_group_restricted(root):
    root.start_supervdsmd()
    mode = os.stat(root.config.supervdsm_socket).st_mode
    assert stat.S_IMODE(mode) == 0o660
