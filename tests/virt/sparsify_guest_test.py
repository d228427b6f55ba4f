"""sparsifyImage after a real guest wrote and deleted 200 MiB (issue 13).

A storage host (SPM of a pool on a loop ext4, irs.sparsify_host_trim on,
as virt-sparsify is not installed here) makes a 320 MiB RAW sparse volume
holding an ext4 file system; a TCG guest (qemu-guest-agent, the volume as
its disk with serial vdsm-fs-test, mounted on /mnt/test by its init)
writes a 200 MiB file of random data, syncs, deletes it, syncs and
unmounts. The VM is shut down, sparsifyImage runs as an SPM task, and the
volume's allocation (st_blocks) must drop by at least 150 MiB, the file
system staying clean (e2fsck -n).
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import libvirt
import pytest

from tests.storage.helpers import (
    BLANK,
    StorageHost,
    create_pool,
    loop_ext4,
    new_uuid,
    ok,
    wait_task,
)
from tests.supervdsm.helpers import ensure_vdsm_user
from tests.virt.conftest import _private_libvirtd
from tests.virt.harness import vm_params, wait_for, wait_status
from tests.virt.thinprov_test import guest_exec
from vdsm.common import commands

MIB = 1 << 20
RAW, SPARSE = 5, 2
SIZE = 320 * MIB
# 200 MiB of non-zero data (an 8 MiB random pattern 25 times: urandom is
# slow under TCG), synced, deleted, synced; then the file system unmounted
WRITE_DELETE = ("dd if=/dev/urandom of=/tmp/pat bs=1M count=8 2>/dev/null && "
                "for i in $(seq 25); do cat /tmp/pat; done > /mnt/test/big && "
                "sync && ls -l /mnt/test/big && rm /mnt/test/big && sync && "
                "umount /mnt/test && echo done")


@pytest.fixture(scope="module")
def storage() -> Iterator[dict[str, Any]]:
    """The storage host and a volume with an ext4 file system; mounted
    before the module's libvirtd starts (its private mount namespace sees
    only older mounts)."""
    ensure_vdsm_user()
    host = StorageHost({("irs", "sparsify_host_trim"): True}).start()
    try:
        p = host.proxy()
        with loop_ext4(512) as device:
            names = create_pool(p, device)
            img, vol = new_uuid(), new_uuid()
            sd, sp = names["sd"], names["sp"]
            task = ok(p.createVolume(sd, sp, img, SIZE, RAW, SPARSE, "DATA", vol,
                                     "sparsify"))["uuid"]
            assert wait_task(p, task)["taskResult"] == "success"
            path = ok(p.getVolumePath(sd, sp, img, vol))["path"]
            commands.run(["mkfs.ext4", "-q", "-F", "-E", "nodiscard", path],
                         timeout=60)
            try:
                yield dict(names, host=host, img=img, vol=vol, path=path)
            finally:
                ok(p.spmStop(sp))
                ok(p.disconnectStoragePool(sp, 1, ""))
                ok(p.disconnectStorageServer(6, BLANK, [names["con"]]))
    finally:
        host.stop()


@pytest.fixture(scope="module")
def libvirtd(netns, storage):
    # the volume stays the vdsm user's: libvirt's chown would hide it from
    # the storage host
    yield from _private_libvirtd(netns, qemu_conf={"dynamic_ownership": 0})


def agent_answers(uri: str, vm_id: str) -> bool:
    try:
        return guest_exec(uri, vm_id, "true", timeout=10)["rc"] == 0
    except libvirt.libvirtError:
        return False      # not connected yet


def allocated(path: str) -> int:
    return os.stat(path).st_blocks * 512


def test_sparsify_after_the_guest_deleted_200_mib(storage, virt_agent, guest):
    if not guest.get("agent"):
        pytest.skip("the test guest was built without qemu-guest-agent")
    path = storage["path"]
    params = vm_params(guest, drives=[{"path": path, "format": "raw",
                                       "serial": "vdsm-fs-test"}])
    assert virt_agent.proxy.create(params)["status"]["code"] == 0
    vm_id = params["vmId"]
    try:
        wait_status(virt_agent.proxy, vm_id, "Up")
        wait_for(lambda: "VDSM-TEST-GUEST mounted /mnt/test"
                 in virt_agent.console(vm_id), 60, "the volume mounted in the guest")
        wait_for(lambda: agent_answers(virt_agent.uri, vm_id), 60,
                 "qemu-guest-agent in the guest", interval=0.5)
        result = guest_exec(virt_agent.uri, vm_id, WRITE_DELETE, timeout=180)
        assert result["rc"] == 0 and "done" in result["out"], result
    finally:
        virt_agent.proxy.destroy(vm_id)
    before = allocated(path)
    assert before >= 200 * MIB, before

    p = storage["host"].proxy()
    task = ok(p.sparsifyImage(storage["sp"], storage["sd"], storage["img"],
                              storage["vol"]))["uuid"]
    status = wait_task(p, task, timeout=120)
    assert status["taskResult"] == "success", status
    after = allocated(path)
    print(f"guest sparsify: {before / MIB:.0f} MiB -> {after / MIB:.0f} MiB")
    assert before - after >= 150 * MIB, (before, after)
    assert os.path.getsize(path) == SIZE
    commands.run(["e2fsck", "-f", "-n", path], timeout=60)
