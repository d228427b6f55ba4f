"""Live merge end to end (issue 12): a real TCG guest on a real qcow2 chain
of a file domain (a StorageHost's pool on a loop ext4, volumes made by
createVolume), the agent as its own process (tests/virt/merge_vdsmd.py)
whose drives and chain syncs go to the storage host's verbs.

One guest serves the module, its chain growing by live snapshots and
shrinking by merges: an internal merge of a 3-layer chain, a merge of the
active layer with pivot, then a merge during which the agent is killed
with SIGKILL and started again. Each time the guest's markers are read
back with O_DIRECT through qemu-guest-agent, the chain in libvirt and in
the volume metadata is compared, and Host.getJobs / vmJobs are checked.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from typing import Any, Iterator

import libvirt
import pytest

from tests.agentproc import AgentRoot
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
from tests.virt.harness import (
    BOOT_MARK,
    agent_overrides,
    destroy_quietly,
    read_console,
    stats,
    vm_params,
    wait_for,
    wait_status,
)
from tests.virt.mergerig import ENV, StorageSide
from tests.virt.thinprov_test import guest_exec
from vdsm import config as vdsm_config
from vdsm.common import pki
from vdsm.virt.domxml.chain import disk_chain
from vdsm.virt.livemerge import Merge, on_block_job, volume_chain
from vdsm_cli.jsonrpc_client import StompClient

MIB = 1 << 20
COW, SPARSE = 4, 2
SIZE = 128 * MIB


# --- pure: the chain in the live XML, the records ----------------------------
LIVE_XML = """<domain type='qemu'><devices>
  <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>
  <disk type='file' device='disk'>
    <source file='/rhev/data-center/sp/sd/images/img/top' index='3'/>
    <backingStore type='file' index='2'>
      <format type='qcow2'/>
      <source file='/rhev/data-center/sp/sd/images/img/mid'/>
      <backingStore type='file' index='1'>
        <format type='raw'/>
        <source file='/rhev/data-center/sp/sd/images/img/base'/>
        <backingStore/>
      </backingStore>
    </backingStore>
    <target dev='vda' bus='virtio'/>
  </disk>
</devices></domain>"""


def test_disk_chain_from_the_live_xml_leaf_first():
    assert disk_chain(LIVE_XML, "vda") == [
        "/rhev/data-center/sp/sd/images/img/top",
        "/rhev/data-center/sp/sd/images/img/mid",
        "/rhev/data-center/sp/sd/images/img/base"]
    assert volume_chain(LIVE_XML, "vda") == ["top", "mid", "base"]
    assert disk_chain(LIVE_XML, "hdc") == []      # no source: an empty tray
    assert disk_chain(LIVE_XML, "vdz") == []


def test_merge_record_round_trip_and_vm_job_keys():
    record = Merge("job", {"domainID": "sd", "poolID": "sp", "imageID": "img",
                           "volumeID": "top"}, "vda", "mid", "top", True,
                   ["base", "mid"], bandwidth=5, cur=3, end=7)
    assert record.vm_job() == {"id": "job", "jobType": "block",
                               "blockJobType": "commit", "imgUUID": "img",
                               "bandwidth": 5, "cur": "3", "end": "7"}
    saved = json.loads(json.dumps(record.saved()))
    assert "wake" not in saved and "cur" not in saved
    again = Merge(**saved)
    assert (again.job_id, again.active, again.after) == ("job", True, ["base", "mid"])


def test_a_block_job_event_wakes_the_follower_of_that_disk():
    class FakeVm:            # only what on_block_job reads
        id = "vm"
        log = logging.getLogger(__name__)
        block_jobs = {"job": Merge("job", {}, "vda", "b", "t", False, [])}
    on_block_job(FakeVm(), "vdb", 3, 0)   # type: ignore[arg-type]
    assert not FakeVm.block_jobs["job"].wake.is_set()
    on_block_job(FakeVm(), "vda", 3, 0)   # type: ignore[arg-type]
    assert FakeVm.block_jobs["job"].wake.is_set()


# --- the rig ---------------------------------------------------------------
@pytest.fixture(scope="module")
def storage() -> Iterator[dict[str, Any]]:
    """A storage host, SPM of a pool on a 512 MiB loop ext4; mounted before
    the module's libvirtd starts (its private mount namespace sees only
    older mounts)."""
    ensure_vdsm_user()
    host = StorageHost().start()
    try:
        p = host.proxy()
        with loop_ext4(512) as device:
            names = create_pool(p, device)
            try:
                yield dict(names, host=host)
            finally:
                ok(p.spmStop(names["sp"]))
                ok(p.disconnectStoragePool(names["sp"], 1, ""))
                ok(p.disconnectStorageServer(6, BLANK, [names["con"]]))
    finally:
        host.stop()


@pytest.fixture(scope="module")
def libvirtd(netns, storage):
    # the volumes stay the vdsm user's (as with qemu in group kvm on a
    # host): libvirt's chown to root would hide them from the storage host
    yield from _private_libvirtd(netns, qemu_conf={"dynamic_ownership": 0})


class _Root(AgentRoot):
    """The virt process's files; its environment names the storage host."""

    storage_env = ""

    def env(self) -> dict[str, str]:
        return {**super().env(), ENV: self.storage_env}


class VirtProcess:
    """The virt agent as a process (killable), on a fixed port."""

    def __init__(self, uri: str, storage: dict[str, Any]) -> None:
        overrides = agent_overrides(uri)
        self.root = _Root(overrides)
        overrides[("addresses", "management_port")] = self.root.port
        vdsm_config.write(self.root.conf_file, {
            **vdsm_config.rooted(self.root.root), **overrides,
            ("addresses", "management_ip"): "127.0.0.1"})
        self.root.config = vdsm_config.load(self.root.conf_file)
        host_root = storage["host"].root
        side = StorageSide(host_root.port, host_root.pki.root)
        self.root.storage_env = side.env_value()
        self.proxy = self.root.proxy()

    def start(self) -> None:
        proc = self.root.start("vdsmd", "tests.virt.merge_vdsmd")
        self.root.wait_for_api(proc, 30)
        self.proxy = self.root.proxy()    # the old one's connection died

    def kill(self) -> None:
        assert self.root.stop("vdsmd", signal.SIGKILL) == -signal.SIGKILL

    def jobs(self, **params: Any) -> dict[str, Any]:
        """Host.getJobs over JSON-RPC (it has no classic XML-RPC name)."""
        p = self.root.pki
        ctx = pki.client_context(p.ca_cert, p.client_cert("engine"),
                                 p.client_key("engine"))
        with StompClient("127.0.0.1", self.root.port, ssl_context=ctx,
                         timeout=30) as client:
            return client.call("Host.getJobs", params)


@pytest.fixture(scope="module")
def agent(libvirtd, storage, guest) -> Iterator[VirtProcess]:
    if not guest.get("agent"):
        pytest.skip("the test guest was built without qemu-guest-agent")
    proc = VirtProcess(libvirtd.uri, storage)
    proc.start()
    try:
        yield proc
    finally:
        proc.root.stop("vdsmd", signal.SIGKILL)
        proc.root.cleanup()


def create_volume(storage: dict[str, Any], img: str, parent: str | None,
                  size: int = SIZE) -> str:
    vol = new_uuid()
    p = storage["host"].proxy()
    task = ok(p.createVolume(storage["sd"], storage["sp"], img, str(size), COW, SPARSE,
                             "DATA", vol, "merge test", img if parent else BLANK,
                             parent or BLANK))["uuid"]
    status = wait_task(p, task, 60)
    assert status["taskResult"] == "success", status
    return vol


@pytest.fixture(scope="module")
def vm(agent, storage, guest, libvirtd) -> Iterator[dict[str, Any]]:
    """A guest on the chain base <- s1 (made before it starts)."""
    img = new_uuid()
    base = create_volume(storage, img, None)
    s1 = create_volume(storage, img, base)
    drive = {"domainID": storage["sd"], "poolID": storage["sp"], "imageID": img,
             "volumeID": s1, "format": "cow", "iface": "virtio",
             "serial": "merge-disk", "propagateErrors": "off"}
    params = vm_params(guest, drives=[drive])
    vm_id = params["vmId"]
    answer = agent.proxy.create(params)
    assert answer["status"]["code"] == 0, answer
    try:
        wait_status(agent.proxy, vm_id, "Up")
        wait_for(lambda: BOOT_MARK in read_console(agent.root.config.log_dir,
                                                   vm_id), 60, "the guest boot")
        wait_for(lambda: stats(agent.proxy, vm_id)["guestAgentConnected"], 30,
                 "qemu-ga connected")
        yield {"id": vm_id, "img": img, "drive": drive, "uri": libvirtd.uri,
               "layers": [base, s1], "markers": {}, "agent": agent}
    finally:
        agent.proxy.destroy(vm_id)
        destroy_quietly(libvirtd.uri, [vm_id])


# --- steps -----------------------------------------------------------------
def write_marker(vm: dict[str, Any], name: str, sector: int) -> None:
    """``name`` at ``sector`` of the guest's vda, synced to the disk."""
    result = guest_exec(vm["uri"], vm["id"], f"echo {name} > /tmp/m && dd "
                        f"if=/tmp/m of=/dev/vda bs=512 seek={sector} "
                        "conv=sync,fsync 2>&1", 30)
    assert result["rc"] == 0, result
    vm["markers"][name] = sector


def check_markers(vm: dict[str, Any]) -> None:
    """Every marker written so far, read back past the guest's cache."""
    for name, sector in vm["markers"].items():
        result = guest_exec(vm["uri"], vm["id"], f"dd if=/dev/vda bs=512 "
                            f"skip={sector} count=1 iflag=direct 2>/dev/null "
                            "| head -c 64", 30)
        assert result["rc"] == 0 and result["out"].split("\0")[0].strip() == name, \
            (name, result)


def live_snapshot(vm: dict[str, Any], storage: dict[str, Any],
                  size: int = SIZE) -> str:
    """A new leaf made by createVolume becomes the active layer (VM.snapshot)."""
    new = create_volume(storage, vm["img"], vm["layers"][-1], size)
    answer = vm["agent"].proxy.snapshot(vm["id"], [{
        "domainID": storage["sd"], "poolID": storage["sp"], "imageID": vm["img"],
        "volumeID": new, "baseVolumeID": vm["layers"][-1]}])
    assert answer["status"]["code"] == 0, answer
    vm["layers"].append(new)
    assert libvirt_chain(vm) == vm["layers"]
    return new


def libvirt_chain(vm: dict[str, Any]) -> list[str]:
    """The disk's chain in the live XML, base first."""
    conn = libvirt.open(vm["uri"])
    try:
        xml = conn.lookupByUUIDString(vm["id"]).XMLDesc(0)
    finally:
        conn.close()
    return list(reversed(volume_chain(xml, "vda")))


def block_job(vm: dict[str, Any]) -> dict[str, Any]:
    """libvirt's block job on vda ({} when none)."""
    conn = libvirt.open(vm["uri"])
    try:
        return conn.lookupByUUIDString(vm["id"]).blockJobInfo("vda", 0)
    finally:
        conn.close()


def volume_info(storage: dict[str, Any], vm: dict[str, Any],
                vol: str) -> dict[str, Any]:
    return ok(storage["host"].proxy().getVolumeInfo(
        storage["sd"], storage["sp"], vm["img"], vol))["info"]


def check_metadata(storage: dict[str, Any], vm: dict[str, Any],
                   merged: str) -> None:
    """The metadata agrees with the VM's chain; the merged volume is
    ILLEGAL, left for the SPM."""
    chain = vm["layers"]
    for parent, child in zip([BLANK] + chain[:-1], chain, strict=True):
        info = volume_info(storage, vm, child)
        assert info["parent"] == parent and info["legality"] == "LEGAL", info
        assert info["voltype"] == ("LEAF" if child == chain[-1] else "INTERNAL")
    assert volume_info(storage, vm, merged)["legality"] == "ILLEGAL"
    answer = ok(storage["host"].proxy().reconcileVolumeChain(
        storage["sp"], storage["sd"], vm["img"], chain[-1]))
    assert answer["volumes"] == chain


def merge(agent: VirtProcess, vm: dict[str, Any], base: str, top: str,
          bandwidth: int = 0) -> str:
    job_id = new_uuid()
    answer = agent.proxy.merge(vm["id"], vm["drive"], base, top, bandwidth, job_id)
    assert answer["status"]["code"] == 0, answer
    return job_id


def wait_job(agent: VirtProcess, job_id: str, timeout: float = 60) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        job = agent.jobs(job_ids=[job_id]).get(job_id)
        return job if job and job["status"] in ("done", "failed") else None
    return wait_for(ended, timeout, f"merge job {job_id}", interval=0.2)


# --- the tests ---------------------------------------------------------------
def test_internal_merge_of_a_three_layer_chain(agent, storage, vm):
    base, s1 = vm["layers"]
    write_marker(vm, "MARK-1", 2048)
    live_snapshot(vm, storage)
    write_marker(vm, "MARK-2", 4096)
    job_id = merge(agent, vm, base, s1)
    job = wait_job(agent, job_id)
    assert job == {"id": job_id, "job_type": "virt", "status": "done",
                   "progress": 100, "description": job["description"]}, job
    vm["layers"].remove(s1)
    assert libvirt_chain(vm) == vm["layers"]
    check_markers(vm)
    check_metadata(storage, vm, s1)
    assert stats(agent.proxy, vm["id"])["vmJobs"] == {}


def test_merge_of_the_active_layer_with_pivot(agent, storage, vm):
    write_marker(vm, "MARK-3", 6144)
    top = live_snapshot(vm, storage)
    write_marker(vm, "MARK-4", 8192)
    base = vm["layers"][-2]
    job_id = merge(agent, vm, base, top)
    assert wait_job(agent, job_id)["status"] == "done"
    vm["layers"].remove(top)
    assert libvirt_chain(vm) == vm["layers"]
    check_markers(vm)
    write_marker(vm, "MARK-5", 10240)      # the pivoted disk takes writes
    check_markers(vm)
    check_metadata(storage, vm, top)
    info = agent.proxy.list(True, [vm["id"]])["vmList"][0]
    disk = [d for d in info["devices"] if d.get("imageID") == vm["img"]][0]
    assert disk["volumeID"] == base


def test_a_merge_refused_leaves_no_job(agent, vm):
    job_id = new_uuid()
    answer = agent.proxy.merge(vm["id"], vm["drive"], vm["layers"][-1],
                               vm["layers"][0], 0, job_id)
    assert answer["status"]["code"] == 52, answer     # base above top
    assert agent.jobs(job_ids=[job_id]) == {}
    unknown = dict(vm["drive"], imageID=new_uuid())
    answer = agent.proxy.merge(vm["id"], unknown, vm["layers"][0],
                               vm["layers"][-1], 0, job_id)
    assert answer["status"]["code"] == 13, answer     # ImageFileNotFound
    assert libvirt_chain(vm) == vm["layers"]


def test_a_block_job_aborted_under_the_merge_fails_the_job(agent, storage, vm):
    top = live_snapshot(vm, storage)
    result = guest_exec(vm["uri"], vm["id"], "dd if=/dev/urandom of=/dev/vda "
                        "bs=1M seek=16 count=4 conv=fsync 2>&1", 60)
    assert result["rc"] == 0, result
    job_id = merge(agent, vm, vm["layers"][-2], top, bandwidth=1)
    conn = libvirt.open(vm["uri"])
    try:
        conn.lookupByUUIDString(vm["id"]).blockJobAbort("vda", 0)   # no pivot
    finally:
        conn.close()
    job = wait_job(agent, job_id)
    assert job["status"] == "failed" and job["error"]["code"] == 52, job
    assert "still in the chain" in job["error"]["message"]
    assert libvirt_chain(vm) == vm["layers"]           # nothing changed
    assert volume_info(storage, vm, top)["legality"] == "LEGAL"
    assert stats(agent.proxy, vm["id"])["vmJobs"] == {}
    check_markers(vm)


def test_sigkill_during_an_active_merge_then_restart(agent, storage, vm):
    top = live_snapshot(vm, storage)
    # 16 MiB in the active layer, committed at 1 MiB/s: the kill comes early
    result = guest_exec(vm["uri"], vm["id"], "dd if=/dev/urandom of=/dev/vda "
                        "bs=1M seek=32 count=16 conv=fsync 2>&1", 60)
    assert result["rc"] == 0, result
    write_marker(vm, "MARK-6", 12288)
    base = vm["layers"][-2]
    job_id = merge(agent, vm, base, top, bandwidth=1)
    running = agent.jobs(job_ids=[job_id])[job_id]
    assert running["status"] == "running", running
    vm_jobs = stats(agent.proxy, vm["id"])["vmJobs"]
    assert vm_jobs[job_id]["blockJobType"] == "commit", vm_jobs
    assert vm_jobs[job_id]["imgUUID"] == vm["img"]
    agent.kill()
    assert block_job(vm), "the merge ended before the kill: nothing proven"
    agent.start()
    recovered = agent.jobs(job_ids=[job_id])[job_id]
    assert recovered["status"] == "running", recovered
    progress = wait_for(lambda: 0 < agent.jobs(job_ids=[job_id])[job_id].get(
        "progress", 0) < 100 and agent.jobs(job_ids=[job_id])[job_id]["progress"],
        30, "the recovered job's progress", interval=0.2)
    print(f"\nrecovered merge at {progress}%")
    job = wait_job(agent, job_id, timeout=90)
    assert job["status"] == "done", job
    with open(os.path.join(agent.root.root, "vdsmd.out")) as f:   # both runs
        assert f"recovered merge job {job_id}" in f.read()
    assert wait_status(agent.proxy, vm["id"], "Up")["status"] == "Up"
    vm["layers"].remove(top)
    assert libvirt_chain(vm) == vm["layers"]
    check_markers(vm)
    check_metadata(storage, vm, top)


def test_internal_merge_ending_while_the_agent_is_dead(agent, storage, vm):
    """The block commit of an internal layer ends by itself: the restarted
    agent finds it ended (no libvirt job, the layer out of the chain) and
    finishes the metadata."""
    mid = live_snapshot(vm, storage)
    result = guest_exec(vm["uri"], vm["id"], "dd if=/dev/urandom of=/dev/vda "
                        "bs=1M seek=48 count=4 conv=fsync 2>&1", 60)
    assert result["rc"] == 0, result
    write_marker(vm, "MARK-7", 14336)
    live_snapshot(vm, storage)
    base = vm["layers"][-3]
    job_id = merge(agent, vm, base, mid, bandwidth=1)
    agent.kill()
    assert block_job(vm), "the merge ended before the kill: nothing proven"
    wait_for(lambda: not block_job(vm), 60, "the block commit to end",
             interval=0.2)
    agent.start()
    job = wait_job(agent, job_id, timeout=30)
    assert job["status"] == "done", job
    vm["layers"].remove(mid)
    assert libvirt_chain(vm) == vm["layers"]
    check_markers(vm)
    check_metadata(storage, vm, mid)
    assert stats(agent.proxy, vm["id"])["vmJobs"] == {}
