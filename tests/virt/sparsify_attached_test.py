"""sparsifyImage of a volume a running VM has attached (issue 13): the
guest trims its own file systems through qemu-guest-agent, the image is
never rewritten.

One vdsmd runs storage and virt together (tests/virt/trim_vdsmd.py, the
real agent's _connect_subsystems seam), SPM of a pool on a loop ext4,
against a private libvirtd. A TCG guest gets a 256 MiB RAW sparse volume
of the pool as a disk with ``discard: true`` (ext4 made on the host,
mounted on /mnt/test by the guest's init); it keeps a small file, writes
200 MiB, syncs, deletes it and syncs, the file system still mounted.
sparsifyImage while the VM runs must give back >= 150 MiB (st_blocks),
keep the same file (inode: not rewritten), the VM Up and the small file
intact. With the guest's agent stopped, the task fails with the classic
NonResponsiveGuestAgent (19) and the volume is untouched.
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
from tests.virt.harness import (
    agent_overrides,
    read_console,
    vm_params,
    wait_for,
    wait_status,
)
from tests.virt.privlibvirt import PrivateLibvirt
from tests.virt.thinprov_test import _agent, guest_exec
from vdsm.common import commands

MIB = 1 << 20
RAW, SPARSE = 5, 2
SIZE = 256 * MIB
KEEP = "keep-me-intact-0123456789"
# 200 MiB of non-zero data (an 8 MiB random pattern 25 times: urandom is
# slow under TCG), synced, deleted, synced; the file system stays mounted
WRITE_DELETE = (f"echo {KEEP} > /mnt/test/keep && "
                "dd if=/dev/urandom of=/tmp/pat bs=1M count=8 2>/dev/null && "
                "for i in $(seq 25); do cat /tmp/pat; done > /mnt/test/big && "
                "sync && rm /mnt/test/big /tmp/pat && sync && echo done")


@pytest.fixture(scope="module")
def rig(netns: str, guest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The host (storage + virt), its pool and volume, then its libvirtd
    (started after the pool's mount so that its mount namespace sees it)."""
    if not guest.get("agent"):
        pytest.skip("the test guest was built without qemu-guest-agent")
    ensure_vdsm_user()
    # the vdsm user's vdsmd talks to a root libvirtd; the volume stays the
    # vdsm user's (libvirt's chown would hide it from the storage side)
    lv = PrivateLibvirt(netns=netns, qemu_conf={"dynamic_ownership": 0},
                        libvirtd_conf={"unix_sock_rw_perms": "0777",
                                       "auth_unix_rw": "none"})
    overrides = agent_overrides(lv.uri)
    del overrides[("addresses", "management_port")]
    host = StorageHost(overrides, vdsmd_module="tests.virt.trim_vdsmd").start()
    try:
        p = host.proxy()
        with loop_ext4(512) as device:
            names = create_pool(p, device)
            img, vol = new_uuid(), new_uuid()
            sd, sp = names["sd"], names["sp"]
            task = ok(p.createVolume(sd, sp, img, SIZE, RAW, SPARSE, "DATA", vol,
                                     "attached"))["uuid"]
            assert wait_task(p, task)["taskResult"] == "success"
            path = ok(p.getVolumePath(sd, sp, img, vol))["path"]
            commands.run(["mkfs.ext4", "-q", "-F", "-E", "nodiscard", path],
                         timeout=60)
            try:
                try:
                    lv.start()
                except (RuntimeError, OSError, commands.CommandError) as e:
                    pytest.skip(f"cannot start a private libvirtd: {e}")
                yield dict(names, host=host, img=img, vol=vol, path=path,
                           uri=lv.uri)
            finally:
                lv.stop()
                lv.cleanup()
                ok(p.spmStop(sp))
                ok(p.disconnectStoragePool(sp, 1, ""))
                ok(p.disconnectStorageServer(6, BLANK, [names["con"]]))
    finally:
        host.stop()


def agent_answers(uri: str, vm_id: str) -> bool:
    try:
        return guest_exec(uri, vm_id, "true", timeout=10)["rc"] == 0
    except libvirt.libvirtError:
        return False      # not connected yet


def agent_pings(uri: str, vm_id: str) -> bool:
    conn = libvirt.open(uri)
    try:
        _agent(conn.lookupByUUIDString(vm_id), {"execute": "guest-ping"})
        return True
    except libvirt.libvirtError:
        return False
    finally:
        conn.close()


def created(p: Any, params: dict[str, Any]) -> bool:
    """create, until the virt side has reached the late libvirtd."""
    answer = p.create(params)
    return answer["status"]["code"] == 0


@pytest.fixture(scope="module")
def running(rig: dict[str, Any], guest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The VM with the volume attached with discard, data written and
    deleted inside."""
    p = rig["host"].proxy()
    params = vm_params(guest, drives=[{"path": rig["path"], "format": "raw",
                                       "serial": "vdsm-fs-test",
                                       "discard": True}])
    vm_id = params["vmId"]
    wait_for(lambda: created(p, params), 30, "the VM created", interval=0.5)
    log_dir = rig["host"].config.log_dir
    try:
        wait_status(p, vm_id, "Up")
        wait_for(lambda: "VDSM-TEST-GUEST mounted /mnt/test"
                 in read_console(log_dir, vm_id), 60, "the volume mounted")
        wait_for(lambda: agent_answers(rig["uri"], vm_id), 60,
                 "qemu-guest-agent in the guest", interval=0.5)
        result = guest_exec(rig["uri"], vm_id, WRITE_DELETE, timeout=180)
        assert result["rc"] == 0 and "done" in result["out"], result
        yield dict(rig, vm_id=vm_id, proxy=p)
    finally:
        p.destroy(vm_id)


def sparsify(r: dict[str, Any]) -> dict[str, Any]:
    p = r["proxy"]
    task = ok(p.sparsifyImage(r["sp"], r["sd"], r["img"], r["vol"]))["uuid"]
    return wait_task(p, task, timeout=120)


def test_disk_xml_passes_discard(running):
    conn = libvirt.open(running["uri"])
    try:
        xml = conn.lookupByUUIDString(running["vm_id"]).XMLDesc(0)
    finally:
        conn.close()
    assert "discard='unmap'" in xml, xml


def test_the_running_guest_is_trimmed_not_rewritten(running):
    path = running["path"]
    st = os.stat(path)
    before = st.st_blocks * 512
    assert before >= 200 * MIB, before
    status = sparsify(running)
    assert status["taskResult"] == "success", status
    after_st = os.stat(path)
    after = after_st.st_blocks * 512
    print(f"attached sparsify: {before / MIB:.0f} MiB -> {after / MIB:.0f} MiB")
    assert before - after >= 150 * MIB, (before, after)
    assert after_st.st_ino == st.st_ino        # the same file: not rewritten
    assert after_st.st_size == SIZE
    wait_status(running["proxy"], running["vm_id"], "Up", timeout=5)
    out = guest_exec(running["uri"], running["vm_id"], "cat /mnt/test/keep",
                     timeout=30)
    assert out["rc"] == 0 and out["out"].strip() == KEEP, out


def test_without_guest_agent_classic_error_nothing_rewritten(running):
    """Runs last in the module: it stops the guest's agent."""
    uri, vm_id, path = running["uri"], running["vm_id"], running["path"]
    conn = libvirt.open(uri)
    try:
        dom = conn.lookupByUUIDString(vm_id)
        # the agent answers this exec and dies a second later
        _agent(dom, {"execute": "guest-exec", "arguments": {
            "path": "/bin/sh",
            "arg": ["-c", "(sleep 1; killall qemu-ga) >/dev/null 2>&1 &"]}})
    finally:
        conn.close()
    wait_for(lambda: not agent_pings(uri, vm_id), 30, "the agent gone",
             interval=0.5)
    st = os.stat(path)
    status = sparsify(running)
    # a failed task with nothing to roll back ends "cleanSuccess" (classic)
    assert status["taskResult"] != "success", status
    assert status["code"] == 19, status            # NonResponsiveGuestAgent
    after = os.stat(path)
    assert (after.st_ino, after.st_blocks, after.st_mtime_ns) == \
        (st.st_ino, st.st_blocks, st.st_mtime_ns)
    wait_status(running["proxy"], vm_id, "Up", timeout=5)
