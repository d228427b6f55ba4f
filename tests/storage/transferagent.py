"""What the image transfer and SDM job tests share: an agent with a pool on
a loop ext4 POSIX domain, JSON-RPC calls (Host.getJobs and the SDM verbs
have no classic name), and small volume helpers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from tests.storage.helpers import (
    BLANK,
    StorageHost,
    create_pool,
    loop_ext4,
    new_uuid,
    ok,
    wait_for,
    wait_task,
)
from tests.supervdsm.helpers import ensure_vdsm_user
from vdsm.common import pki
from vdsm_cli.jsonrpc_client import StompClient

MiB = 1024 * 1024
COW, RAW, SPARSE = 4, 5, 2


def agent_with_pool(disk_mb: int = 256,
                    overrides: dict[tuple[str, str], Any] | None = None
                    ) -> Iterator[tuple[StorageHost, dict[str, Any]]]:
    """A started agent (sanlock, supervdsmd, vdsmd; ``overrides``: more
    configuration) as SPM of a new pool; everything stopped by pid
    afterwards."""
    ensure_vdsm_user()
    host = StorageHost(overrides)
    host.start()
    try:
        with loop_ext4(disk_mb) as device:
            names = create_pool(host.proxy(), device)
            try:
                yield host, names
            finally:
                p = host.proxy()
                ok(p.spmStop(names["sp"]))
                ok(p.disconnectStoragePool(names["sp"], 1, ""))
                ok(p.disconnectStorageServer(6, BLANK, [names["con"]]))
    finally:
        host.stop()


def jsonrpc(host: StorageHost, method: str, params: dict[str, Any]) -> Any:
    """One JSON-RPC call; JsonRpcError for an error answer."""
    p = host.root.pki
    ctx = pki.client_context(p.ca_cert, p.client_cert("engine"), p.client_key("engine"))
    with StompClient("127.0.0.1", host.root.port, ssl_context=ctx, timeout=30) as c:
        return c.call(method, params)


def job(host: StorageHost, job_id: str) -> dict[str, Any]:
    """The job's record ({} while it is not registered yet)."""
    return jsonrpc(host, "Host.getJobs", {"job_ids": [job_id]}).get(job_id, {})


def wait_job(host: StorageHost, job_id: str, timeout: float = 60) -> dict[str, Any]:
    """The job's record once done or failed."""
    def ended() -> dict[str, Any] | None:
        info = jsonrpc(host, "Host.getJobs", {"job_ids": [job_id]}).get(job_id)
        return info if info and info["status"] in ("done", "failed") else None
    return wait_for(ended, timeout, f"job {job_id}", interval=0.05)


def create_volume(host: StorageHost, pool: dict[str, Any], *, size: int = 64 * MiB,
                  fmt: int = COW, img: str | None = None) -> tuple[str, str]:
    """A new image with one volume (createVolume, SPM task): (img, vol)."""
    img, vol = img or new_uuid(), new_uuid()
    task = ok(host.proxy().createVolume(pool["sd"], pool["sp"], img, size, fmt,
                                        SPARSE, "DATA", vol, "transfer"))["uuid"]
    status = wait_task(host.proxy(), task)
    assert status["taskResult"] == "success", status
    return img, vol


def volume_info(host: StorageHost, pool: dict[str, Any], img: str,
                vol: str) -> dict[str, Any]:
    return ok(host.proxy().getVolumeInfo(pool["sd"], pool["sp"], img, vol))["info"]


def volume_path(host: StorageHost, pool: dict[str, Any], img: str, vol: str) -> str:
    return ok(host.proxy().getVolumePath(pool["sd"], pool["sp"], img, vol))["path"]


def agent_log(host: StorageHost) -> str:
    with open(os.path.join(host.root.root, "vdsmd.out"), errors="replace") as f:
        return f.read()
