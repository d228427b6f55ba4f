"""Live snapshot (VM.snapshot) of a real TCG guest on real qcow2 volumes.

The storage half is a real vdsmd (with supervdsmd and a private sanlock)
owning a pool on a loop-backed ext4 POSIX domain: the SPM creates every
volume with createVolume and VM drives are prepared with prepareImage.
The virt half is the in-process virt agent of tests/virt/harness.py on a
private libvirtd started after the domain was mounted (so that its mount
namespace sees it). One two-disk guest serves the whole module; the tests
run in file order: the failed snapshot first (nothing may change), then
the snapshot of both disks, then a restart of the agent, then memory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import threading
from collections import Counter
from typing import Any, Iterator

import libvirt
import libvirt_qemu
import pytest

from tests.storage.helpers import (
    StorageHost,
    create_pool,
    loop_ext4,
    merged,
    new_uuid,
    ok,
    wait_task,
)
from tests.supervdsm.helpers import ensure_vdsm_user
from tests.virt.conftest import _private_libvirtd
from tests.virt.harness import (
    VirtAgent,
    destroy_quietly,
    stats,
    uptime,
    vm_params,
    wait_booted,
    wait_for,
    wait_status,
)
from tests.virt.thinprov_test import guest_exec
from vdsm.common import commands
from vdsm.common.errors import InvalidParameter, VdsmError
from vdsm.storage import qemuimg
from vdsm.virt import snapshot
from vdsm.virt.domxml import parse

MiB = 1 << 20
COW, RAW, SPARSE = 4, 5, 2
SNAPSHOT_FAILED, INVALID_PARAMETER = 48, 91
JOB = "7a1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"   # the engine's jobUUID
DISKS = ("vda", "vdb")
MARK1, MARK2 = "SNAP-MARKER-ONE", "SNAP-MARKER-TWO"
OFF1, OFF2 = 1 * MiB, 2 * MiB


class PoolResolver:
    """The drive resolver of the virt agent: the storage vdsmd's
    prepareImage/teardownImage. Counts what is held per volume, so a
    test can tell that nothing is left prepared."""

    def __init__(self, host: StorageHost) -> None:
        self.host = host
        self.held: Counter[str] = Counter()

    def _call(self, verb: str, drive: dict[str, Any]) -> dict[str, Any]:
        answer = getattr(self.host.proxy(), verb)(
            drive["poolID"], drive["domainID"], drive["imageID"], drive["volumeID"])
        if answer["status"]["code"] != 0:
            raise VdsmError(answer["status"]["message"])
        return merged(answer)

    def prepare(self, drive: dict[str, Any]) -> str:
        path = self._call("prepareImage", drive)["path"]
        self.held[drive["volumeID"]] += 1
        return path

    def teardown(self, drive: dict[str, Any]) -> None:
        self._call("teardownImage", drive)
        self.held[drive["volumeID"]] -= 1

    def prepared(self) -> set[str]:
        return {vol for vol, n in self.held.items() if n > 0}


class Rig:
    """The pool, the guest's two images and the agent running the VM."""

    def __init__(self, host: StorageHost, names: dict[str, str], uri: str) -> None:
        self.host, self.sd, self.sp, self.uri = host, names["sd"], names["sp"], uri
        self.images = {name: new_uuid() for name in DISKS}
        self.resolver = PoolResolver(host)
        self.agent: VirtAgent | None = None
        self.vm_id = ""
        self.spare: dict[str, str] = {}  # new leaves created but not taken

    def create_volume(self, img: str, *, parent: str | None = None,
                      fmt: int = COW, size: int = 64 * MiB) -> str:
        vol, proxy = new_uuid(), self.host.proxy()
        extra = [img, parent] if parent else []
        task = ok(proxy.createVolume(self.sd, self.sp, img, size, fmt, SPARSE,
                                     "DATA", vol, "snapshot test", *extra))["uuid"]
        status = wait_task(proxy, task, 60)
        assert status["taskResult"] == "success", status
        return vol

    def delete_volume(self, img: str, vol: str) -> None:
        proxy = self.host.proxy()
        task = ok(proxy.deleteVolume(self.sd, self.sp, img, [vol]))["uuid"]
        status = wait_task(proxy, task, 60)
        assert status["taskResult"] == "success", status

    def path(self, img: str, vol: str) -> str:
        return ok(self.host.proxy().getVolumePath(self.sd, self.sp, img, vol))["path"]

    def drive(self, disk: str) -> dict[str, Any]:
        """The VM's record of one disk, as its definition (getVmList) says."""
        conf = ok(self.agent.proxy.list(True, [self.vm_id]))["vmList"][0]
        return next(d for d in conf["devices"]
                    if d["type"] == "disk" and d.get("name") == disk)

    def entry(self, disk: str, new_vol: str) -> dict[str, Any]:
        drive = self.drive(disk)
        return {"domainID": self.sd, "imageID": drive["imageID"],
                "baseVolumeID": drive["volumeID"], "volumeID": new_vol}

    def live_sources(self) -> dict[str, str]:
        conn = libvirt.open(self.uri)
        try:
            xml = conn.lookupByUUIDString(self.vm_id).XMLDesc(0)
        finally:
            conn.close()
        return {d["name"]: d["path"] for d in parse.disks(xml)}

    def exec(self, script: str) -> str:
        result = guest_exec(self.uri, self.vm_id, script, 30)
        assert result["rc"] == 0, result
        return result["out"]

    def start_agent(self) -> VirtAgent:
        root = self.agent.root if self.agent is not None else None
        self.agent = VirtAgent(self.uri, root=root)
        self.agent.virt.set_drive_resolver(self.resolver)
        return self.agent


def test_flags_are_disk_only_unless_memory_is_saved():
    both = (libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT
            | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
            | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC)
    assert snapshot.flags(memory=True) == both
    assert snapshot.flags(memory=False) == \
        both | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
    assert not snapshot.flags(memory=False) & \
        libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE


@pytest.mark.parametrize("timeout, freeze_timeout", [
    (0, 8), (30, 0), (-1, None), ("30", 8), (True, 8)])
def test_timeouts_must_be_positive_minutes(timeout, freeze_timeout):
    with pytest.raises(InvalidParameter):
        snapshot.check_timeouts(timeout, freeze_timeout)
    snapshot.check_timeouts(30, 8)
    snapshot.check_timeouts(None, None)


class SlowSnapshotDomain:
    """libvirt's domain as a snapshot that never ends until aborted."""

    def __init__(self) -> None:
        self.aborted = threading.Event()

    def snapshot(self) -> None:
        assert self.aborted.wait(10), "never aborted"
        raise libvirt.libvirtError("operation aborted: job 'snapshot' canceled")

    def abortJob(self) -> None:         # noqa: N802 (libvirt's name)
        self.aborted.set()


def test_a_snapshot_past_its_timeout_is_aborted():
    dom = SlowSnapshotDomain()
    watchdog = snapshot.Watchdog("vm", dom, 0.05)
    with pytest.raises(libvirt.libvirtError), watchdog:
        dom.snapshot()
    assert watchdog.fired
    quick = SlowSnapshotDomain()
    watchdog = snapshot.Watchdog("vm", quick, 0.05)
    with watchdog:
        pass                            # done in time: never aborted
    watchdog._timer.join(1)
    assert not watchdog.fired and not quick.aborted.is_set()


@pytest.fixture(scope="module")
def rig(netns: str, guest: dict[str, Any]) -> Iterator[Rig]:
    if not guest.get("agent"):
        pytest.skip("the test guest was built without qemu-guest-agent")
    if os.geteuid() != 0 or shutil.which("sanlock") is None:
        pytest.skip("a storage pool needs root and the sanlock package")
    ensure_vdsm_user()
    host = StorageHost().start()
    stopped: list[bool] = []

    def stop_host() -> None:
        if not stopped:
            stopped.append(True)
            host.stop()

    with contextlib.ExitStack() as stack:
        stack.callback(stop_host)
        device = stack.enter_context(loop_ext4(512))
        stack.callback(stop_host)       # unmounts before the loop detaches
        names = create_pool(host.proxy(), device)
        yield from _with_libvirtd(host, names, netns, guest)


def _with_libvirtd(host: StorageHost, names: dict[str, str], netns: str,
                   guest: dict[str, Any]) -> Iterator[Rig]:
    # the volumes belong to vdsm; libvirt must not hand them to root
    libvirtd_gen = _private_libvirtd(netns, qemu_conf={"dynamic_ownership": 0})
    libvirtd = next(libvirtd_gen)
    rig = Rig(host, names, libvirtd.uri)
    try:
        rig.start_agent()
        drives = [{"domainID": rig.sd, "poolID": rig.sp, "imageID": img,
                   "volumeID": rig.create_volume(img), "format": "cow",
                   "iface": "virtio", "cache": "none", "propagateErrors": "off",
                   "serial": f"snap-{name}"}
                  for name, img in rig.images.items()]
        params = vm_params(guest, drives=drives)
        rig.vm_id = params["vmId"]
        assert rig.agent.proxy.create(params)["status"]["code"] == 0
        wait_status(rig.agent.proxy, rig.vm_id, "Up")
        wait_booted(rig.agent, rig.vm_id)
        wait_for(lambda: stats(rig.agent.proxy, rig.vm_id)["guestAgentConnected"],
                 30, "qemu-ga connected")
        yield rig
    finally:
        if rig.agent is not None:
            ids = [vm.id for vm in rig.agent.virt.ctx.registry.all()] + [rig.vm_id]
            rig.agent.stop()
            destroy_quietly(rig.uri, ids)
            rig.agent.root.cleanup()
        libvirtd_gen.close()


def chain_of(path: str) -> list[str]:
    """The file names of a volume's backing chain, leaf first."""
    return [os.path.basename(c["filename"])
            for c in qemuimg.info(path, backing_chain=True)]


def read_layer(path: str, offset: int, length: int = 512) -> bytes:
    """Bytes of one qcow2 layer alone (its backing file not read), with
    shared locking so that the running QEMU is not disturbed."""
    spec = json.dumps({"driver": "qcow2", "backing": None,
                       "file": {"driver": "file", "filename": path}})
    res = commands.run(["qemu-io", "-U", "-r", "-c",
                        f"read -v {offset} {length}", f"json:{spec}"], timeout=30)
    return b"".join(bytes.fromhex(m.group(1).replace(" ", ""))
                    for m in _DUMP.finditer(res.out))


_DUMP = re.compile(r"^[0-9a-f]{8}:\s+((?:[0-9a-f]{2} ){1,16})", re.MULTILINE)


def write_marker(rig: Rig, disk: str, marker: str, offset: int) -> None:
    rig.exec(f"printf '{marker}' > /tmp/m && dd if=/tmp/m of=/dev/{disk} bs=512 "
             f"seek={offset // 512} conv=sync,notrunc,fsync oflag=direct 2>&1")


def read_marker(rig: Rig, disk: str, offset: int) -> str:
    return rig.exec(f"dd if=/dev/{disk} bs=512 skip={offset // 512} count=1 "
                    "iflag=direct 2>/dev/null | tr -d '\\000'")


def test_a_bad_new_volume_on_the_second_disk_changes_neither_disk(rig):
    """vdb's new volume does not exist (not preparable), then exists but is
    no qcow2 image (libvirt refuses it): SnapshotFailed both times, the
    domain XML, the drive records and both chains as before, and no new
    volume left prepared."""
    img_a, img_b = rig.images["vda"], rig.images["vdb"]
    leaf_a = rig.create_volume(img_a, parent=rig.drive("vda")["volumeID"])
    broken_b = rig.create_volume(img_b, parent=rig.drive("vdb")["volumeID"])
    with open(rig.path(img_b, broken_b), "r+b") as f:
        f.write(b"not a qcow2 image".ljust(4096, b"\0"))
    before = {d: rig.drive(d) for d in DISKS}
    sources = rig.live_sources()
    chains = {d: chain_of(sources[d]) for d in DISKS}
    for new_b, why in ((new_uuid(), "cannot prepare volume"),
                       (broken_b, "qcow2")):
        job_id = new_uuid()
        answer = rig.agent.proxy.snapshot(
            rig.vm_id, [rig.entry("vda", leaf_a), rig.entry("vdb", new_b)],
            "", False, job_id)
        assert answer["status"]["code"] == SNAPSHOT_FAILED, answer
        job = rig.agent.virt.ctx.jobs.info(job_ids=[job_id])[job_id]
        assert (job["job_type"], job["status"], job["error"]["code"]) == (
            "virt", "failed", SNAPSHOT_FAILED), job
        assert why in answer["status"]["message"], answer
        assert rig.live_sources() == sources
        assert {d: rig.drive(d) for d in DISKS} == before
        assert {d: chain_of(sources[d]) for d in DISKS} == chains
        assert rig.resolver.prepared() == {before["vda"]["volumeID"],
                                           before["vdb"]["volumeID"]}
    assert stats(rig.agent.proxy, rig.vm_id)["status"] == "Up"
    rig.delete_volume(img_b, broken_b)
    rig.spare["vda"] = leaf_a       # the next test takes it: still usable


def test_bad_requests_are_refused_before_anything_is_prepared(rig):
    good = [rig.entry("vda", new_uuid())]
    for args, wanted in (
            (([],), INVALID_PARAMETER),
            (([{"domainID": rig.sd, "imageID": rig.images["vda"]}],),
             INVALID_PARAMETER),
            ((good * 2,), INVALID_PARAMETER),
            ((good, None, False, None, 0), INVALID_PARAMETER),
            ((good, None, False, None, 30, 0), INVALID_PARAMETER),
            ((good, "not-a-volume-handle"), INVALID_PARAMETER),
            (([dict(good[0], imageID=new_uuid())],), SNAPSHOT_FAILED),
            (([dict(good[0], baseVolumeID=new_uuid())],), SNAPSHOT_FAILED)):
        answer = rig.agent.proxy.snapshot(rig.vm_id, *args)
        assert answer["status"]["code"] == wanted, (args, answer)
    assert rig.resolver.prepared() == {rig.drive(d)["volumeID"] for d in DISKS}


def test_snapshot_of_both_disks_moves_writes_to_the_new_leaves(rig, caplog):
    """Marker 1 written, snapshot of both disks (guest frozen and thawed
    around it), marker 2 written: QEMU, the drive records and stats use
    the new leaves; marker 1 is in each base, marker 2 only in the leaf,
    and the guest reads both."""
    bases = {d: rig.drive(d)["volumeID"] for d in DISKS}
    base_paths = {d: rig.drive(d)["path"] for d in DISKS}
    leaves = {d: rig.spare.pop(d, None)
              or rig.create_volume(rig.images[d], parent=bases[d]) for d in DISKS}
    for disk in DISKS:
        write_marker(rig, disk, MARK1, OFF1)
    with caplog.at_level(logging.INFO, logger="vdsm.virt.guestops"):
        answer = rig.agent.proxy.snapshot(
            rig.vm_id, [rig.entry(d, leaves[d]) for d in DISKS], "", False, JOB)
    assert answer["status"]["code"] == 0, answer
    # the engine may follow the snapshot by its jobUUID: done
    assert rig.agent.virt.ctx.jobs.info(job_ids=[JOB])[JOB]["status"] == "done"
    said = [r.getMessage() for r in caplog.records if r.name == "vdsm.virt.guestops"]
    assert any("frozen" in m for m in said) and any("thawed" in m for m in said), said
    for disk in DISKS:
        write_marker(rig, disk, MARK2, OFF2)

    sources = rig.live_sources()
    for disk in DISKS:
        leaf_path = rig.path(rig.images[disk], leaves[disk])
        assert os.path.realpath(sources[disk]) == os.path.realpath(leaf_path)
        assert chain_of(sources[disk]) == [leaves[disk], bases[disk]]
        drive = rig.drive(disk)
        assert drive["volumeID"] == leaves[disk] and drive["format"] == "cow"
        assert [v["volumeID"] for v in drive["volumeChain"]] == \
            [bases[disk], leaves[disk]]
        assert read_layer(base_paths[disk], OFF1).startswith(MARK1.encode())
        assert not read_layer(base_paths[disk], OFF2).startswith(MARK2.encode())
        assert read_layer(leaf_path, OFF2).startswith(MARK2.encode())
        assert not read_layer(leaf_path, OFF1).startswith(MARK1.encode())
        assert read_marker(rig, disk, OFF1) == MARK1
        assert read_marker(rig, disk, OFF2) == MARK2
    assert rig.resolver.prepared() == set(leaves.values())
    wait_for(lambda: all(stats(rig.agent.proxy, rig.vm_id).get("disks", {})
                         .get(d, {}).get("volumeID") == leaves[d] for d in DISKS),
             10, "the disk stats to name the new leaves")
    assert stats(rig.agent.proxy, rig.vm_id)["status"] == "Up"
    # a retried snapshot of volumes already taken changes nothing
    answer = rig.agent.proxy.snapshot(
        rig.vm_id, [dict(rig.entry(d, leaves[d]), baseVolumeID=bases[d])
                    for d in DISKS])
    assert answer["status"]["code"] == 0, answer
    assert rig.live_sources() == sources


def test_the_new_chain_survives_an_agent_restart(rig):
    """Recovery reads the drive records back from the domain metadata."""
    before = {d: rig.drive(d) for d in DISKS}
    rig.agent.stop()
    rig.start_agent()
    wait_for(lambda: rig.agent.virt.ctx.registry.find(rig.vm_id), 10,
             "the VM recovered")
    assert {d: rig.drive(d) for d in DISKS} == before
    assert all(len(before[d]["volumeChain"]) == 2 for d in DISKS)


def test_memory_snapshot_then_a_vm_restored_from_it_runs(rig):
    """Memory saved to a volume with the disks' snapshot; the VM runs on.
    Then, as the engine previews a memory snapshot: the VM destroyed, the
    snapshot's leaves deleted, a new leaf made on each volume the memory
    state belongs to, and the VM created from the memory volume on them
    (restoreState): QEMU opens the new leaves (not the saved paths), the
    same boot carries on and marker 2 is there."""
    mem_img = new_uuid()
    mem_vol = rig.create_volume(mem_img, fmt=RAW, size=256 * MiB)
    handle = f"{rig.sd},{rig.sp},{mem_img},{mem_vol}"
    bases = {d: rig.drive(d)["volumeID"] for d in DISKS}
    leaves = {d: rig.create_volume(rig.images[d], parent=bases[d]) for d in DISKS}
    answer = rig.agent.proxy.snapshot(
        rig.vm_id, [rig.entry(d, leaves[d]) for d in DISKS], handle)
    assert answer["status"]["code"] == 0, answer
    wait_status(rig.agent.proxy, rig.vm_id, "Up", timeout=10)
    assert os.path.getsize(rig.path(mem_img, mem_vol)) > 0
    assert all(rig.drive(d)["volumeID"] == leaves[d] for d in DISKS)
    assert mem_vol not in rig.resolver.prepared()
    params = ok(rig.agent.proxy.list(True, [rig.vm_id]))["vmList"][0]
    before = uptime(rig.agent, rig.vm_id)

    assert rig.agent.proxy.destroy(rig.vm_id)["status"]["code"] == 0
    previews = {}
    for disk in DISKS:
        rig.delete_volume(rig.images[disk], leaves[disk])
        previews[disk] = rig.create_volume(rig.images[disk], parent=bases[disk])
    restore = {k: params[k] for k in ("vmId", "vmName", "memSize", "smp", "kernel",
                                      "initrd", "kernelArgs")}
    restore["drives"] = [
        {k: v for k, v in d.items() if k not in ("volumeChain", "path")}
        | {"volumeID": previews[d["name"]]}
        for d in params["devices"] if d["type"] == "disk"]
    restore["restoreState"] = handle
    answer = rig.agent.proxy.create(restore)
    assert answer["status"]["code"] == 0, answer
    wait_status(rig.agent.proxy, rig.vm_id, "Up", timeout=30)
    wait_for(lambda: uptime(rig.agent, rig.vm_id) > before, 20,
             "the uptime counter to move on")
    assert rig.agent.console(rig.vm_id).count("VDSM-TEST-GUEST BOOTED") == 1
    sources = rig.live_sources()
    for disk in DISKS:
        assert chain_of(sources[disk])[:2] == [previews[disk], bases[disk]]
    for disk in DISKS:        # marker 2 lives in the middle layer
        assert read_marker(rig, disk, OFF2) == MARK2


def test_a_guest_whose_agent_is_gone_is_snapshotted_unfrozen(rig, caplog):
    """qemu-ga stopped in the guest: the snapshot is taken all the same,
    unfrozen, and the log says so. (Last: the guest keeps no agent.)"""
    conn = libvirt.open(rig.uri)
    try:                # started, never waited for: the agent goes with it
        libvirt_qemu.qemuAgentCommand(
            conn.lookupByUUIDString(rig.vm_id),
            json.dumps({"execute": "guest-exec", "arguments": {
                "path": "/bin/sh", "arg": ["-c", "killall qemu-ga"]}}), 10, 0)
    finally:
        conn.close()
    wait_for(lambda: not stats(rig.agent.proxy, rig.vm_id)["guestAgentConnected"],
             15, "qemu-ga gone")
    leaves = {d: rig.create_volume(rig.images[d], parent=rig.drive(d)["volumeID"])
              for d in DISKS}
    with caplog.at_level(logging.WARNING, logger="vdsm.virt.snapshot"):
        answer = rig.agent.proxy.snapshot(
            rig.vm_id, [rig.entry(d, leaves[d]) for d in DISKS], "", False, JOB)
    assert answer["status"]["code"] == 0, answer
    # the engine may follow the snapshot by its jobUUID: done
    assert rig.agent.virt.ctx.jobs.info(job_ids=[JOB])[JOB]["status"] == "done"
    assert any("without freezing" in r.getMessage() for r in caplog.records)
    assert all(rig.drive(d)["volumeID"] == leaves[d] for d in DISKS)
    sources = rig.live_sources()
    assert all(chain_of(sources[d])[0] == leaves[d] for d in DISKS)
