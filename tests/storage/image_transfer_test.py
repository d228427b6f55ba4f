"""downloadImage / uploadImage (vdsm/storage/transfer/image_transfer.py)
through a real agent (sanlock, supervdsmd, vdsmd as SPM of a POSIX
domain on a loop ext4) and a local HTTP server started by the test:

- a qcow2 image downloaded into a volume and uploaded back out is
  byte-identical (and qemu-img compare equal), the volume LEGAL, the
  task's host job done at 100 %;
- a server that stops mid-transfer without Range support fails the task
  and the job with 484 (ImageVerificationError), the volume ILLEGAL;
- a server breaking once at 50 % with Range support: the transfer
  resumes (the agent's log names the offset) and completes, identical;
- a server stalling at 50 %: Host.getJobs shows the job running at about
  50 %, the volume ILLEGAL; stopTask ends it at once (the helper killed),
  the job failed, the volume still ILLEGAL;
- bad methodArgs are refused at once, before any task; an image of two
  volumes fails the task with 261 (classic: one volume only);
- a ticket in the URL's query and a token in the headers never reach the
  agent's log (at DEBUG), neither for a download that succeeds nor for
  one the server answers 404; the log shows the URL without its query;
- an image larger than the volume's capacity allows is refused with 206
  before a byte is written: the volume stays LEGAL and unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.storage.helpers import (
    need_root,
    need_sanlock,
    new_uuid,
    ok,
    wait_for,
    wait_task,
)
from tests.storage.transfer_server import TransferServer
from tests.storage.transferagent import (
    RAW,
    MiB,
    agent_log,
    agent_with_pool,
    create_volume,
    job,
    volume_info,
    volume_path,
)
from vdsm.common import commands
from vdsm.storage import qemuimg

pytestmark = [need_root, need_sanlock]
IMAGE_VIRTUAL = 64 * MiB
VERIFICATION_ERROR = 484   # classic ImageVerificationError
VOLUME_EXTEND_ERROR = 206  # classic VolumeExtendingError


@pytest.fixture(scope="module")
def agent() -> Iterator[tuple[Any, dict[str, Any]]]:
    yield from agent_with_pool(overrides={("logging", "level"): "DEBUG"})


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A qcow2 (compat 0.10, the volume's own header overwritten) holding
    12 MiB of patterns in a 64 MiB disk."""
    path = str(tmp_path_factory.mktemp("img") / "source.qcow2")
    qemuimg.create(path, size=IMAGE_VIRTUAL, fmt=qemuimg.QCOW2)
    for pattern, offset in ((0x11, 0), (0x22, 20 * MiB), (0x33, 60 * MiB)):
        commands.run(["qemu-io", "-f", "qcow2", "-c",
                      f"write -P {pattern} {offset} 4M", path], timeout=30)
    return path


@pytest.fixture(scope="module")
def server(image: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[TransferServer]:
    srv = TransferServer(image, str(tmp_path_factory.mktemp("put") / "uploaded"))
    try:
        yield srv
    finally:
        srv.close()


def http(url: str) -> dict[str, Any]:
    return {"method": "http", "url": url, "headers": {"Authorization": "t0k"}}


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def download(agent: Any, url: str, img: str, vol: str) -> tuple[str, dict[str, Any]]:
    host, pool = agent
    task = ok(host.proxy().downloadImage(http(url), pool["sp"], pool["sd"], img,
                                         vol))["uuid"]
    return task, wait_task(host.proxy(), task)


def test_download_then_upload_is_byte_identical(agent: Any, server: TransferServer,
                                                image: str) -> None:
    host, pool = agent
    img, vol = create_volume(host, pool, size=IMAGE_VIRTUAL)
    server.configure(source=image)
    task, status = download(agent, server.url, img, vol)
    assert status["taskResult"] == "success", status
    assert volume_info(host, pool, img, vol)["legality"] == "LEGAL"
    path = volume_path(host, pool, img, vol)
    assert read(path) == read(image)
    assert qemuimg.compare(path, image)
    record = job(host, task)
    assert (record["job_type"], record["status"], record["progress"]) == \
        ("storage", "done", 100)

    up = ok(host.proxy().uploadImage(http(server.url), pool["sp"], pool["sd"],
                                     img))["uuid"]     # volume: the leaf
    assert wait_task(host.proxy(), up)["taskResult"] == "success"
    assert read(server.put_path) == read(image)
    assert qemuimg.compare(server.put_path, image)
    assert volume_info(host, pool, img, vol)["legality"] == "LEGAL"


def test_server_stopping_mid_transfer_fails_and_leaves_volume_illegal(
        agent: Any, server: TransferServer, image: str) -> None:
    host, pool = agent
    img, vol = create_volume(host, pool, size=IMAGE_VIRTUAL)
    half = os.path.getsize(image) // 2
    server.configure(source=image, ranges=False, break_at=half, breaks=1)
    task, status = download(agent, server.url, img, vol)
    assert status["taskResult"] == "cleanSuccess", status   # failed, rolled back
    assert status["code"] == VERIFICATION_ERROR, status
    assert f"connection lost after {half} of" in status["message"]
    assert volume_info(host, pool, img, vol)["legality"] == "ILLEGAL"
    record = job(host, task)
    assert record["status"] == "failed"
    assert record["error"]["code"] == VERIFICATION_ERROR
    assert server.requests == [("GET", "")]    # no Range: nothing to resume


def test_broken_connection_resumes_with_range(agent: Any, server: TransferServer,
                                              image: str) -> None:
    host, pool = agent
    img, vol = create_volume(host, pool, size=IMAGE_VIRTUAL)
    half = os.path.getsize(image) // 2
    server.configure(source=image, ranges=True, break_at=half, breaks=1)
    task, status = download(agent, server.url, img, vol)
    assert status["taskResult"] == "success", status
    assert server.requests == [("GET", ""), ("GET", f"bytes={half}-")]
    assert f"resuming at offset {half} of {os.path.getsize(image)}" in agent_log(host)
    assert read(volume_path(host, pool, img, vol)) == read(image)
    assert volume_info(host, pool, img, vol)["legality"] == "LEGAL"


def test_bad_method_args_are_refused_before_a_task(agent: Any) -> None:
    host, pool = agent
    img, vol = create_volume(host, pool, size=16 * MiB)
    for args in ({"method": "ftp", "url": "ftp://x/y"},
                 {"method": "http", "url": "file:///etc/passwd"}):
        answer = host.proxy().downloadImage(args, pool["sp"], pool["sd"], img, vol)
        assert answer["status"]["code"] == 1000, answer   # InvalidParameterException
    assert volume_info(host, pool, img, vol)["legality"] == "LEGAL"


def test_image_of_several_volumes_is_refused(agent: Any, server: TransferServer
                                             ) -> None:
    host, pool = agent
    img, base = create_volume(host, pool, size=16 * MiB)
    p = host.proxy()
    top = new_uuid()
    task = ok(p.createVolume(pool["sd"], pool["sp"], img, 16 * MiB, 4, 2, "DATA",
                             top, "top", img, base))["uuid"]
    assert wait_task(p, task)["taskResult"] == "success"
    up = ok(p.uploadImage(http(server.url), pool["sp"], pool["sd"], img))["uuid"]
    status = wait_task(p, up)
    assert status["code"] == 261, status
    assert "more than one volume" in status["message"]


def test_stalled_transfer_shows_progress_and_stops(agent: Any, server: TransferServer,
                                                   image: str) -> None:
    host, pool = agent
    img, vol = create_volume(host, pool, size=IMAGE_VIRTUAL)
    half = os.path.getsize(image) // 2
    server.configure(source=image, hold_at=half)
    p = host.proxy()
    task = ok(p.downloadImage(http(server.url), pool["sp"], pool["sd"], img,
                              vol))["uuid"]
    try:
        expected = 100 * half // os.path.getsize(image)
        record = wait_for(lambda: (r := job(host, task)).get("progress") == expected
                          and r, 30, "progress at the stall")
        assert record["status"] == "running"
        assert volume_info(host, pool, img, vol)["legality"] == "ILLEGAL"
        ok(p.stopTask(task))
        status = wait_task(p, task, timeout=10)
    finally:
        server.release.set()
    assert status["taskResult"] != "success", status
    assert job(host, task)["status"] == "failed"
    assert volume_info(host, pool, img, vol)["legality"] == "ILLEGAL"


def test_tickets_and_tokens_never_reach_the_log(agent: Any, server: TransferServer,
                                                image: str) -> None:
    host, pool = agent
    img, vol = create_volume(host, pool, size=IMAGE_VIRTUAL)
    server.configure(source=image)
    ticket, token = f"tkt-{new_uuid()}", f"tok-{new_uuid()}"
    p = host.proxy()

    def args(path: str) -> dict[str, Any]:
        return {"method": "http", "url": f"{server.url}{path}?ticket={ticket}",
                "headers": {"Authorization": f"Bearer {token}"}}

    task = ok(p.downloadImage(args(""), pool["sp"], pool["sd"], img, vol))["uuid"]
    assert wait_task(p, task)["taskResult"] == "success"
    assert f"{server.url}?(hidden)" in job(host, task)["description"]
    failed = ok(p.downloadImage(args("-missing"), pool["sp"], pool["sd"], img,
                                vol))["uuid"]
    status = wait_task(p, failed)
    assert status["code"] == 261 and "HTTP 404" in status["message"], status
    assert ticket not in status["message"]
    text = agent_log(host)
    assert "calling Image.download" in text       # the call log at DEBUG
    assert ticket not in text and token not in text
    assert "/image?(hidden)" in text and "/image-missing?(hidden)" in text
    assert read(volume_path(host, pool, img, vol)) == read(image)


def test_image_larger_than_the_capacity_is_refused(agent: Any, server: TransferServer,
                                                    image: str) -> None:
    host, pool = agent
    img, vol = create_volume(host, pool, size=8 * MiB, fmt=RAW)
    path = volume_path(host, pool, img, vol)
    before = read(path)
    server.configure(source=image)          # 12 MiB of qcow2 > 8 MiB RAW
    task, status = download(agent, server.url, img, vol)
    assert status["code"] == VOLUME_EXTEND_ERROR, status
    assert "does not fit" in status["message"]
    assert job(host, task)["error"]["code"] == VOLUME_EXTEND_ERROR
    assert volume_info(host, pool, img, vol)["legality"] == "LEGAL"
    assert read(path) == before
