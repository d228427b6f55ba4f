"""The SDM jobs API (vdsm/storage/sdm/) through a real agent over JSON-RPC,
each job followed with Host.getJobs (type storage) to its end:

- SDM.create_volume (twice), SDM.copy_data between the two volumes
  (qemu-img compare equal), SDM.amend_volume 1.1 -> 0.10 -> 1.1 (read
  back with qemu-img info), SDM.update_volume; each change bumps the
  generation, the volumes stay LEGAL; the copy shows intermediate
  progress in Host.getJobs while it runs (the test slows the real
  qemu-img by stopping and continuing it: ``-r`` would not help, qemu-img
  reports 100 % at once and sleeps at the end), then done at 100;
- a copy onto a too small destination: job failed with 261 and a
  message, the destination ILLEGAL;
- a stale generation: job failed with 911;
- a volume whose lease another process holds (a sanlock client of the
  same daemon): job failed with 657, the volume untouched; once the lease
  is free the same change succeeds;
- bad arguments and a reused job id are answered at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.storage.helpers import become_spm, need_root, need_sanlock, new_uuid
from tests.storage.transferagent import (
    COW,
    MiB,
    agent_with_pool,
    create_volume,
    job,
    jsonrpc,
    volume_info,
    volume_path,
    wait_job,
)
from vdsm.common import commands
from vdsm.storage import qemuimg
from vdsm_cli.jsonrpc_client import JsonRpcError

pytestmark = [need_root, need_sanlock]
COPY_ERROR, ALREADY_LOCKED, GENERATION_MISMATCH = 261, 657, 911

HOLD_LEASE = """
import sys, sanlock
fd = sanlock.register()
sanlock.acquire(sys.argv[1].encode(), sys.argv[2].encode(),
                [(sys.argv[3].encode(), 0)], slkfd=fd)
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def agent() -> Iterator[tuple[Any, dict[str, Any]]]:
    yield from agent_with_pool()


def run_job(host: Any, verb: str, **params: Any) -> dict[str, Any]:
    job_id = new_uuid()
    jsonrpc(host, verb, {"job_id": job_id, **params})
    record = wait_job(host, job_id)
    assert record["job_type"] == "storage"
    return record


def follow_job(host: Any, job_id: str, timeout: float = 60
               ) -> tuple[dict[str, Any], list[int]]:
    """The job's final record and the progress values seen while it ran."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = job(host, job_id)
        if record.get("status") in ("done", "failed"):
            return record, seen
        if record.get("status") == "running" and "progress" in record:
            seen.append(record["progress"])
    raise TimeoutError(f"job {job_id} not ended after {timeout} s: {seen}")


def _find_process(words: list[str], timeout: float) -> int | None:
    """The pid of a process whose argv holds all ``words``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().decode(errors="replace").split("\0")
            except OSError:
                continue
            if all(w in argv for w in words):
                return int(pid)
        time.sleep(0.002)
    return None


@contextlib.contextmanager
def slowed(words: list[str], run_s: float = 0.002, stop_s: float = 0.08
           ) -> Iterator[None]:
    """Slow the (agent's) process whose argv holds ``words``: a thread lets
    it run ``run_s``, stops it ``stop_s``, until it exits; always
    continued at the end."""
    done = threading.Event()

    def pace() -> None:
        pid = _find_process(words, 10)
        if pid is None:
            return
        try:
            while not done.is_set():
                os.kill(pid, signal.SIGSTOP)
                if done.wait(stop_s):
                    break
                os.kill(pid, signal.SIGCONT)
                done.wait(run_s)
        except ProcessLookupError:
            return
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    thread = threading.Thread(target=pace, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(15)


def div(pool: dict[str, Any], img: str, vol: str, **extra: Any) -> dict[str, Any]:
    return {"endpoint_type": "div", "sd_id": pool["sd"], "img_id": img,
            "vol_id": vol, **extra}


def sdm_create(host: Any, pool: dict[str, Any], size: int) -> tuple[str, str]:
    img, vol = new_uuid(), new_uuid()
    record = run_job(host, "SDM.create_volume", vol_info={
        "sd_id": pool["sd"], "img_id": img, "vol_id": vol, "virtual_size": size,
        "vol_format": "COW", "disk_type": "DATA", "description": "sdm"})
    assert record["status"] == "done", record
    return img, vol


def compat(path: str) -> str:
    return qemuimg.info(path)["format-specific"]["data"]["compat"]


def test_create_copy_amend_update(agent: Any) -> None:
    host, pool = agent
    src = sdm_create(host, pool, 32 * MiB)
    dst = sdm_create(host, pool, 32 * MiB)
    src_path, dst_path = (volume_path(host, pool, *v) for v in (src, dst))
    commands.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 24M", src_path],
                 timeout=30)
    assert volume_info(host, pool, *dst)["legality"] == "LEGAL"

    copy_id = new_uuid()
    jsonrpc(host, "SDM.copy_data", {"job_id": copy_id, "source": div(pool, *src),
                                    "destination": div(pool, *dst, generation=0)})
    with slowed(["qemu-img", "convert", dst_path]):
        record, seen = follow_job(host, copy_id)
    assert (record["status"], record["progress"]) == ("done", 100), record
    assert [p for p in seen if 0 < p < 100], seen     # it moved while running
    assert seen == sorted(seen), seen
    assert qemuimg.compare(src_path, dst_path)
    assert volume_info(host, pool, *dst)["generation"] == 1

    for generation, level in ((1, "0.10"), (2, "1.1")):
        record = run_job(host, "SDM.amend_volume",
                         vol_info=div(pool, *dst, generation=generation),
                         qcow2_attr={"compat": level})
        assert record["status"] == "done", record
        assert compat(dst_path) == level
    assert qemuimg.compare(src_path, dst_path)

    record = run_job(host, "SDM.update_volume", vol_info=div(pool, *dst),
                     vol_attr={"description": "copied"})
    assert record["status"] == "done", record
    info = volume_info(host, pool, *dst)
    assert (info["description"], info["generation"], info["legality"]) == \
        ("copied", 4, "LEGAL")


def test_copy_onto_too_small_destination_fails(agent: Any) -> None:
    host, pool = agent
    src = create_volume(host, pool, size=32 * MiB, fmt=COW)
    dst = create_volume(host, pool, size=8 * MiB, fmt=COW)
    record = run_job(host, "SDM.copy_data", source=div(pool, *src),
                     destination=div(pool, *dst))
    assert record["status"] == "failed", record
    assert record["error"]["code"] == COPY_ERROR
    assert "smaller than input" in record["error"]["message"]
    assert volume_info(host, pool, *dst)["legality"] == "ILLEGAL"


def test_stale_generation_fails(agent: Any) -> None:
    host, pool = agent
    img, vol = create_volume(host, pool, size=8 * MiB)
    record = run_job(host, "SDM.amend_volume", vol_info=div(pool, img, vol,
                                                            generation=7),
                     qcow2_attr={"compat": "0.10"})
    assert record["status"] == "failed"
    assert record["error"]["code"] == GENERATION_MISMATCH, record
    assert volume_info(host, pool, img, vol)["generation"] == 0


def test_volume_leased_elsewhere_fails_cleanly(agent: Any) -> None:
    host, pool = agent
    img, vol = create_volume(host, pool, size=8 * MiB)
    lease = volume_path(host, pool, img, vol) + ".lease"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LEASE, pool["sd"], vol, lease],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={"SANLOCK_RUN_DIR": host.sanlock.run_dir, "PATH": "/usr/bin"})
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        assert line.strip() == "held", holder.stderr.read() if holder.stderr else ""
        record = run_job(host, "SDM.update_volume", vol_info=div(pool, img, vol),
                         vol_attr={"description": "blocked"})
        assert record["status"] == "failed", record
        assert record["error"]["code"] == ALREADY_LOCKED, record
        assert volume_info(host, pool, img, vol)["description"] == "transfer"
    finally:
        holder.kill()
        holder.wait(10)
    record = run_job(host, "SDM.update_volume", vol_info=div(pool, img, vol),
                     vol_attr={"description": "free"})
    assert record["status"] == "done", record
    assert volume_info(host, pool, img, vol)["description"] == "free"


def test_bad_arguments_and_reused_job_id_answer_at_once(agent: Any) -> None:
    host, pool = agent
    img, vol = create_volume(host, pool, size=8 * MiB)
    with pytest.raises(JsonRpcError) as e:
        jsonrpc(host, "SDM.amend_volume", {"job_id": new_uuid(),
                                           "vol_info": div(pool, img, vol),
                                           "qcow2_attr": {"compat": "2.0"}})
    assert e.value.code == 1000
    job_id = new_uuid()
    params = {"job_id": job_id, "vol_info": div(pool, img, vol),
              "vol_attr": {"description": "once"}}
    jsonrpc(host, "SDM.update_volume", params)
    with pytest.raises(JsonRpcError):
        jsonrpc(host, "SDM.update_volume", params)
    assert wait_job(host, job_id)["status"] == "done"


def test_jobs_run_on_a_host_that_is_not_spm(agent: Any) -> None:
    """After spmStop the host still holds its id in the domain: SDM jobs
    run there, while SPM verbs (createVolume) answer Not SPM."""
    host, pool = agent
    img, vol = create_volume(host, pool, size=8 * MiB)
    p = host.proxy()
    assert p.spmStop(pool["sp"])["status"]["code"] == 0
    try:
        assert p.createVolume(pool["sd"], pool["sp"], new_uuid(), MiB, COW, 2, "DATA",
                              new_uuid(), "x")["status"]["code"] == 654
        record = run_job(host, "SDM.update_volume", vol_info=div(pool, img, vol),
                         vol_attr={"description": "not spm"})
        assert record["status"] == "done", record
        img2, vol2 = new_uuid(), new_uuid()
        record = run_job(host, "SDM.create_volume", vol_info={
            "sd_id": pool["sd"], "img_id": img2, "vol_id": vol2,
            "virtual_size": 8 * MiB, "vol_format": "RAW"})
        assert record["status"] == "done", record
        assert volume_info(host, pool, img2, vol2)["legality"] == "LEGAL"
    finally:
        become_spm(p, pool["sp"])
    assert volume_info(host, pool, img, vol)["description"] == "not spm"
