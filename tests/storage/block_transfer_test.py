"""downloadImage / uploadImage on a block domain (vdsm/storage/transfer/
target.py) through a real agent as SPM of a pool whose master is a block
domain (LVs served as files by lvfiles: no device-mapper here), and a local
HTTP server started by the test:

- a qcow2 of 140 MiB downloaded into a COW volume whose LV has one extent
  (128 MiB): the LV is grown to two extents before the first byte, the
  volume reads the same as the image (qemu-img compare), starts with the
  image's bytes, is LEGAL, and its host job is done at 100 %; uploaded
  back, the server receives the whole LV (as the classic agent sent it),
  which qemu-img compares equal to the image;
- the same image into a volume of 64 MiB capacity (a qcow2 LV may hold at
  most 1.1 x capacity) is refused with 206 before a byte is written: the
  volume stays LEGAL, its LV keeps its size and bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.storage import blockagent
from tests.storage.blockagent import MiB, block_pool, root_lvm
from tests.storage.helpers import BLANK, new_uuid, ok, wait_task
from tests.storage.lvmhelpers import need_lvm
from tests.storage.transfer_server import TransferServer
from tests.storage.transferagent import COW, SPARSE, job
from vdsm.common import commands
from vdsm.storage import qemuimg

pytestmark = need_lvm
lv_dir, host = blockagent.lv_dir, blockagent.host     # the shared fixtures
VOLUME_EXTEND_ERROR = 206
EXTENT = 128 * MiB


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A qcow2 of 192 MiB virtual holding 140 MiB of patterns: more than
    one extent of the LV."""
    path = str(tmp_path_factory.mktemp("img") / "source.qcow2")
    qemuimg.create(path, size=192 * MiB, fmt=qemuimg.QCOW2)
    commands.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 100M",
                  "-c", "write -P 0xa5 150M 40M", path], timeout=60)
    return path


@pytest.fixture(scope="module")
def server(image: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[TransferServer]:
    srv = TransferServer(image, str(tmp_path_factory.mktemp("put") / "uploaded"))
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture(scope="module")
def pool(host: Any, lv_dir: str) -> Iterator[dict[str, Any]]:
    with block_pool(host.proxy(), lv_dir) as names:
        yield names


def http(url: str) -> dict[str, Any]:
    return {"method": "http", "url": url, "headers": {"Authorization": "t0k"}}


def new_volume(p: Any, pool: dict[str, Any], capacity: int) -> tuple[str, str]:
    """A COW volume whose LV starts at one extent (a small initial size)."""
    img, vol = new_uuid(), new_uuid()
    task = ok(p.createVolume(pool["sd"], pool["sp"], img, capacity, COW, SPARSE,
                             "DATA", vol, "transfer", BLANK, BLANK,
                             str(16 * MiB)))["uuid"]
    assert wait_task(p, task, 90)["taskResult"] == "success"
    return img, vol


def lv_size(pool: dict[str, Any], vol: str) -> int:
    lvm = root_lvm(pool["sd"], pool["nodes"])
    return lvm.lv(pool["sd"], vol).size


def read(path: str, size: int | None = None) -> bytes:
    with open(path, "rb") as f:
        return f.read() if size is None else f.read(size)


def test_download_grows_the_lv_then_upload_sends_it(host: Any, pool: dict[str, Any],
                                                    server: TransferServer,
                                                    image: str) -> None:
    p = host.proxy()
    img, vol = new_volume(p, pool, 192 * MiB)
    assert lv_size(pool, vol) == EXTENT
    task = ok(p.downloadImage(http(server.url), pool["sp"], pool["sd"], img,
                              vol))["uuid"]
    status = wait_task(p, task, 90)
    assert status["taskResult"] == "success", status
    assert lv_size(pool, vol) == 2 * EXTENT
    info = ok(p.getVolumeInfo(pool["sd"], pool["sp"], img, vol))["info"]
    assert info["legality"] == "LEGAL"
    record = job(host, task)
    assert (record["status"], record["progress"]) == ("done", 100)

    path = ok(p.getVolumePath(pool["sd"], pool["sp"], img, vol))["path"]
    data = read(image)
    assert read(path, len(data)) == data
    assert qemuimg.compare(path, image)

    up = ok(p.uploadImage(http(server.url), pool["sp"], pool["sd"], img,
                          vol))["uuid"]
    assert wait_task(p, up, 90)["taskResult"] == "success"
    uploaded = read(server.put_path)
    assert len(uploaded) == 2 * EXTENT          # the whole LV, as classic
    assert uploaded[:len(data)] == data
    assert qemuimg.compare(server.put_path, image)


def test_image_larger_than_the_volume_allows_is_refused(
        host: Any, pool: dict[str, Any], server: TransferServer, image: str) -> None:
    p = host.proxy()
    img, vol = new_volume(p, pool, 64 * MiB)
    before_size = lv_size(pool, vol)
    path = ok(p.getVolumePath(pool["sd"], pool["sp"], img, vol))["path"]
    before = read(path, 4 * MiB)
    task = ok(p.downloadImage(http(server.url), pool["sp"], pool["sd"], img,
                              vol))["uuid"]
    status = wait_task(p, task, 90)
    assert status["code"] == VOLUME_EXTEND_ERROR, status
    assert "does not fit" in status["message"]
    assert job(host, task)["error"]["code"] == VOLUME_EXTEND_ERROR
    info = ok(p.getVolumeInfo(pool["sd"], pool["sp"], img, vol))["info"]
    assert info["legality"] == "LEGAL"
    assert lv_size(pool, vol) == before_size
    assert read(path, 4 * MiB) == before
