"""Live storage migration and disk resize of a running TCG guest on real
file storage domains (issue 12, parts 4 and 5).

One storage host (vdsmd with the storage subsystem, supervdsmd, a private
sanlock) serves a pool of two POSIX domains on a loop-backed ext4; the
virt side runs in this process (the virt harness agent) with the host's
prepareImage as its drive resolver, as tests/virt/thin_two_hosts_test.py
joins them. The engine's part is played with the agent's own verbs: a
RAW base with a COW leaf is created on domain 1, and moveImage (copy)
puts the same chain on domain 2 before the VM starts, so domain 2's leaf
is the replication's destination (blockCopy REUSE_EXT | SHALLOW).

One guest serves the module; the tests run in file order: pivot to
domain 2 while the guest writes, abort a replication back to domain 1
across an agent restart, grow the disk.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import types
from typing import Any, Iterator

import libvirt
import pytest
from lxml import etree

from tests.agentproc import AgentRoot
from tests.storage.helpers import (
    StorageHost,
    create_pool,
    loop_ext4,
    new_uuid,
    ok,
)
from tests.storage.scenario_test import COW, RAW, SPARSE, run_task
from tests.supervdsm.helpers import ensure_vdsm_user
from tests.virt.conftest import _private_libvirtd
from tests.virt.harness import VirtAgent, agent_overrides, destroy_quietly, wait_for
from tests.virt.lifecycle_test import _qemu_pid
from tests.virt.thin_two_hosts_test import HostResolver
from tests.virt.thinprov_test import _agent, _start_vm, guest_exec
from vdsm.common import commands
from vdsm.common.errors import ResourceUnavailable
from vdsm.host.jobs import JobRegistry
from vdsm.storage import chainsync
from vdsm.storage.errors import InvalidParameterException
from vdsm.virt import disksize, replication, vmparams
from vdsm.virt.domxml import metadata
from vdsm.virt.domxml import replica as replica_xml
from vdsm.virt.errors import BadDiskResizeParameter
from vdsm.virt.vm import Vm

MIB = 1 << 20
SIZE = 64 * MIB
BASE_MARK = b"BASEDATA"



# --- the pure parts ----------------------------------------------------------
def test_capacities_from_the_wire():
    assert chainsync.parse_capacity("4097") == 8192
    assert chainsync.parse_capacity(0) == 0
    assert chainsync.parse_capacity(1 << 30) == 1 << 30
    for bad in ("big", None, -1, "1.5"):
        with pytest.raises(InvalidParameterException):
            chainsync.parse_capacity(bad)


def test_copy_destination_names_source_type_and_format():
    assert etree.tostring(replica_xml.copy_destination("/rhev/d/img/vol", "cow"),
                          encoding="unicode") == (
        '<disk type="file"><source file="/rhev/d/img/vol"/>'
        '<driver type="qcow2"/></disk>')
    assert 'type="block"' in etree.tostring(
        replica_xml.copy_destination("/dev/vg/lv", "raw"), encoding="unicode")


def test_virtual_size_of_qcow2_and_raw(tmp_path):
    raw, cow = str(tmp_path / "raw"), str(tmp_path / "cow")
    with open(raw, "wb") as f:
        f.truncate(3 * MIB)
    assert replication.virtual_size(raw, "raw") == 3 * MIB
    commands.run(["qemu-img", "create", "-f", "qcow2", cow, str(SIZE)], timeout=30)
    assert replication.virtual_size(cow, "cow") == SIZE
    with pytest.raises(ValueError):
        replication.virtual_size(raw, "cow")


def test_same_volume_ignores_the_pool():
    a = {"domainID": "d", "poolID": "p", "imageID": "i", "volumeID": "v"}
    assert replication.same_volume(a, dict(a, poolID=""))
    assert not replication.same_volume(a, dict(a, domainID="e"))


def test_sizes_from_the_wire():
    assert disksize.parse_size("1073741824") == 1 << 30
    assert disksize.parse_size(512) == 512
    for bad in ("big", None, "0", -1, "1.5"):
        with pytest.raises(BadDiskResizeParameter):
            disksize.parse_size(bad)
    assert disksize.round_up(SIZE + 1) == SIZE + 512
    assert disksize.round_up(SIZE) == SIZE


class _SlowMirror:
    """A domain whose mirror has copied half: only for the one answer a
    real 64 MiB mirror never leaves time to see."""

    def UUIDString(self) -> str:   # noqa: N802 (libvirt's name)
        return VM_ID

    def blockJobInfo(self, name: str, flags: int) -> dict[str, int]:  # noqa: N802
        return {"cur": 1, "end": 2, "type": 2, "bandwidth": 0}


VM_ID = "6d0c2d5e-5bcb-4c1e-9a4b-0ad0f2a1c3f1"


def test_pivot_before_the_mirror_is_ready_is_resource_unavailable(monkeypatch):
    vmdef = vmparams.parse({"vmId": VM_ID, "vmName": "t", "memSize": 64,
                            "drives": [{"domainID": "d1", "poolID": "p",
                                        "imageID": "i", "volumeID": "v",
                                        "format": "cow", "iface": "virtio"}]})
    vm = Vm(vmdef, status="Up")
    drive = replication.find_drive(vm, {"domainID": "d1", "poolID": "p",
                                        "imageID": "i", "volumeID": "v"})
    replica = {"domainID": "d2", "poolID": "p", "imageID": "i", "volumeID": "v"}
    drive["diskReplicate"] = dict(replica, path="/x")
    monkeypatch.setattr(replication, "running_domain", lambda ctx, vm: _SlowMirror())
    ctx = types.SimpleNamespace(jobs=JobRegistry())
    with pytest.raises(ResourceUnavailable):
        replication.finish(ctx, vm, drive, replica)  # type: ignore[arg-type]
    assert drive["diskReplicate"]["domainID"] == "d2"      # nothing changed
    (job,) = ctx.jobs.info().values()           # its job: running, half way
    assert (job["status"], job["progress"]) == ("running", 50), job


# --- a real guest, a real pool -------------------------------------------------
def _need_storage() -> None:
    if os.geteuid() != 0 or shutil.which("sanlock") is None \
            or shutil.which("qemu-img") is None:
        pytest.skip("needs root, sanlock and qemu-img")


@contextlib.contextmanager
def two_domain_pool(*, size: int = SIZE, fs_mb: int = 512
                    ) -> Iterator[dict[str, Any]]:
    """Two file domains of one pool (this host SPM); an image of ``size``
    bytes whose RAW base holds BASE_MARK, with a COW leaf, on domain 1,
    copied (chain and all) to domain 2 as the engine does before a live
    storage migration. Everything is stopped and detached on exit."""
    ensure_vdsm_user()
    host = StorageHost().start()
    try:
        with loop_ext4(fs_mb) as device:
            p = host.proxy()
            names = create_pool(p, device)
            sd1, sp = names["sd"], names["sp"]
            sd2 = new_uuid()
            ok(p.createStorageDomain(6, sd2, "second", device, 1))
            ok(p.attachStorageDomain(sd2, sp))
            ok(p.activateStorageDomain(sd2, sp))
            img, base, leaf = new_uuid(), new_uuid(), new_uuid()
            run_task(p, p.createVolume(sd1, sp, img, size, RAW, SPARSE, "DATA",
                                       base, "base"))
            with open(ok(p.getVolumePath(sd1, sp, img, base))["path"], "r+b") as f:
                f.write(BASE_MARK)
            run_task(p, p.createVolume(sd1, sp, img, size, COW, SPARSE, "DATA",
                                       leaf, "leaf", img, base))
            run_task(p, p.moveImage(sp, sd1, sd2, img, "", 1))   # copy
            mnt = os.path.join(host.config.mount_root,
                               "_dev_" + os.path.basename(device))
            yield {"host": host, "sp": sp, "sd1": sd1, "sd2": sd2, "img": img,
                   "base": base, "leaf": leaf, "mnt": mnt}
    finally:
        host.stop()


@pytest.fixture(scope="module")
def pool() -> Iterator[dict[str, Any]]:
    _need_storage()
    with two_domain_pool() as names:
        yield names


class HostSizes:
    """The virt side's volumeSetSize: the storage host's verb, over the wire
    (the sizes it was asked to record kept for the test)."""

    def __init__(self, host: Any) -> None:
        self.host = host
        self.recorded: list[int] = []

    def sync(self, drive: dict[str, Any], chain: list[str]) -> list[str]:
        raise AssertionError("no merge in this module")

    def set_size(self, drive: dict[str, Any], size: int) -> None:
        self.recorded.append(size)
        ok(self.host.proxy().volumeSetSize(drive["domainID"], drive["poolID"],
                                           drive["imageID"], drive["volumeID"],
                                           str(size)))


class Rig:
    """The module's agent (replaced on restart) and its one VM."""

    def __init__(self, uri: str, pool: dict[str, Any]) -> None:
        self.uri = uri
        self.pool = pool
        self.root = AgentRoot(agent_overrides(uri))
        self.agent = self._start_agent()
        self.vm_id = ""

    def _start_agent(self) -> VirtAgent:
        agent = VirtAgent(self.uri, root=self.root)
        agent.virt.set_drive_resolver(HostResolver(self.pool["host"]))
        agent.virt.set_volume_chains(HostSizes(self.pool["host"]))
        return agent

    def restart_agent(self) -> None:
        self.agent.stop()
        self.agent = self._start_agent()

    @property
    def proxy(self) -> Any:
        return self.agent.proxy

    def spec(self, sd: str) -> dict[str, str]:
        return {"domainID": self.pool[sd], "poolID": self.pool["sp"],
                "imageID": self.pool["img"], "volumeID": self.pool["leaf"]}

    def file(self, sd: str, vol: str = "leaf") -> str:
        return os.path.join(self.pool["mnt"], self.pool[sd], "images",
                            self.pool["img"], self.pool[vol])

    def drive(self) -> dict[str, Any]:
        conf = ok(self.proxy.list(True, [self.vm_id]))["vmList"][0]
        return next(d for d in conf["devices"] if d.get("device") == "disk"
                    and d.get("volumeID"))

    def spawn(self, script: str) -> None:
        """Start ``sh -c script`` in the guest and return at once."""
        conn = libvirt.open(self.uri)
        try:
            _agent(conn.lookupByUUIDString(self.vm_id), {
                "execute": "guest-exec",
                "arguments": {"path": "/bin/sh", "arg": ["-c", script]}})
        finally:
            conn.close()

    def sh(self, script: str, timeout: float = 30) -> str:
        result = guest_exec(self.uri, self.vm_id, script, timeout)
        assert result["rc"] == 0, result
        return result["out"]

    def open_domains(self) -> set[str]:
        """Which of the two domains' directories QEMU has files open in."""
        pid = _qemu_pid(None, self.vm_id)
        found = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            for sd in ("sd1", "sd2"):
                if f"/{self.pool[sd]}/" in target:
                    found.add(sd)
        return found

    def wait_mirror_ready(self, timeout: float = 60) -> None:
        conn = libvirt.open(self.uri)
        try:
            dom = conn.lookupByUUIDString(self.vm_id)

            def ready() -> bool:
                info = dom.blockJobInfo("vda", 0)
                return bool(info) and info["end"] > 0 and info["cur"] == info["end"]
            wait_for(ready, timeout, "the mirror of vda to be ready")
        finally:
            conn.close()

    def metadata_drive(self) -> dict[str, Any]:
        conn = libvirt.open(self.uri)
        try:
            text = conn.lookupByUUIDString(self.vm_id).metadata(
                libvirt.VIR_DOMAIN_METADATA_ELEMENT, metadata.NAMESPACE, 0)
        finally:
            conn.close()
        saved = metadata.read(text)
        assert saved is not None
        return next(d for d in saved["conf"]["devices"] if d.get("volumeID"))


@contextlib.contextmanager
def running_rig(pool: dict[str, Any], netns: str, guest: dict[str, Any]
                ) -> Iterator[Rig]:
    """A private libvirtd, the agent and the guest on domain 1's leaf."""
    # after the pool's mount: the private libvirtd sees only older mounts;
    # no chown of the vdsm user's volumes
    libvirtd_gen = _private_libvirtd(netns, qemu_conf={"dynamic_ownership": 0})
    libvirtd = next(libvirtd_gen)
    rig = None
    try:
        rig = Rig(libvirtd.uri, pool)
        drive = {**rig.spec("sd1"), "format": "cow", "diskType": "file",
                 "iface": "virtio", "serial": "lsm-disk", "cache": "none",
                 "propagateErrors": "off"}
        rig.vm_id = _start_vm(rig.agent, guest, drive)
        yield rig
    finally:
        if rig is not None:
            if rig.vm_id:
                rig.proxy.destroy(rig.vm_id)
            rig.agent.stop()
            destroy_quietly(libvirtd.uri, [rig.vm_id] if rig.vm_id else [])
            rig.root.cleanup()
        libvirtd_gen.close()


def test_volume_set_size_and_the_repair_of_an_unfinished_resize(pool):
    """volumeSetSize writes the capacity (4 KiB rounded); a capacity left 0
    (an agent killed while QEMU resized) is repaired from the image when it
    is next prepared; bad sizes, templates and unknown volumes refused."""
    p, sd, sp = pool["host"].proxy(), pool["sd1"], pool["sp"]
    img, vol = new_uuid(), new_uuid()
    run_task(p, p.createVolume(sd, sp, img, 16 * MIB, COW, SPARSE, "DATA", vol,
                               "resized"))

    def capacity() -> int:
        return int(ok(p.getVolumeInfo(sd, sp, img, vol))["info"]["capacity"])
    ok(p.volumeSetSize(sd, sp, img, vol, str(32 * MIB + 1)))
    assert capacity() == 32 * MIB + 4096
    ok(p.volumeSetSize(sd, sp, img, vol, 0))
    assert capacity() == 0
    ok(p.prepareImage(sp, sd, img, vol))
    assert capacity() == 16 * MIB          # the qcow2 image's virtual size
    ok(p.teardownImage(sp, sd, img, vol))
    assert p.volumeSetSize(sd, sp, img, vol, "big")["status"]["code"] == 1000
    assert p.volumeSetSize(sd, sp, img, vol, -5)["status"]["code"] == 1000
    assert p.volumeSetSize(sd, sp, img, new_uuid(), "4096")["status"][
        "code"] == 201
    assert capacity() == 16 * MIB
    run_task(p, p.deleteImage(sd, sp, img))


@pytest.fixture(scope="module")
def rig(pool, netns, guest) -> Iterator[Rig]:
    with running_rig(pool, netns, guest) as r:
        yield r


# The guest writes a counter marker at 2 MiB and random 64 KiB blocks over
# 4-20 MiB until /tmp/stop exists; /tmp/n is its latest count, /tmp/done
# its final one.
WRITER = (
    "rm -f /tmp/stop /tmp/done /tmp/n; i=0; "
    "while [ ! -e /tmp/stop ]; do i=$((i+1)); "
    "printf 'DURING-%08d' $i | "
    "dd of=/dev/vda bs=512 seek=4096 conv=sync oflag=direct 2>/dev/null; "
    "dd if=/dev/urandom of=/dev/vda bs=64k seek=$((64 + i % 256)) count=1 "
    "oflag=direct 2>/dev/null; "
    "echo $i > /tmp/n; done; echo $i > /tmp/done")
READ = ("dd if=/dev/vda bs=512 skip={sector} count=1 iflag=direct 2>/dev/null"
        " | tr -d '\\000'")


def _count(rig: Rig) -> int:
    text = rig.sh("cat /tmp/n 2>/dev/null || echo 0").strip()
    return int(text or 0)


def test_live_storage_migration_pivots_while_the_guest_writes(rig):
    assert rig.sh(READ.format(sector=0)).startswith(BASE_MARK.decode())
    rig.sh("printf 'BEFORE-MIRROR' | dd of=/dev/vda bs=512 seek=2048 conv=sync "
           "oflag=direct 2>/dev/null")
    assert rig.open_domains() == {"sd1"}
    src, dst = rig.spec("sd1"), rig.spec("sd2")

    # finishing what never started
    assert rig.proxy.diskReplicateFinish(rig.vm_id, src, dst)["status"]["code"] == 88

    rig.spawn(WRITER)
    wait_for(lambda: _count(rig) >= 3, 30, "the guest's writer to run")
    answer = rig.proxy.diskReplicateStart(rig.vm_id, src, dst)
    assert answer["status"]["code"] == 0, answer
    started = _count(rig)
    # a second start on a replicating disk: ReplicaError
    assert rig.proxy.diskReplicateStart(rig.vm_id, src, dst)["status"]["code"] == 55
    assert rig.metadata_drive()["diskReplicate"]["domainID"] == rig.pool["sd2"]
    rig.wait_mirror_ready()
    wait_for(lambda: _count(rig) >= started + 5, 30,
             "the guest to write while mirrored")
    rig.sh("touch /tmp/stop")
    final = int(rig.sh("i=0; while [ ! -e /tmp/done ] && [ $i -lt 300 ]; do "
                       "sleep 0.1; i=$((i+1)); done; cat /tmp/done").strip())
    assert final > started

    answer = rig.proxy.diskReplicateFinish(rig.vm_id, src, dst)
    assert answer["status"]["code"] == 0, answer
    assert rig.proxy.getVmStats(rig.vm_id)["statsList"][0]["status"] == "Up"
    # the replication was a host job, done at the pivot
    (job,) = rig.agent.virt.ctx.jobs.info(job_type="virt").values()
    assert (job["status"], job["progress"]) == ("done", 100), job

    # the VM now runs on domain 2 only: definition, metadata, open files
    drive = rig.drive()
    assert drive["domainID"] == rig.pool["sd2"] and "diskReplicate" not in drive
    assert f"/{rig.pool['sd2']}/" in drive["path"]
    saved = rig.metadata_drive()
    assert saved["domainID"] == rig.pool["sd2"] and "diskReplicate" not in saved
    assert rig.open_domains() == {"sd2"}

    # data written before and during the mirror is read back from domain 2
    assert rig.sh(READ.format(sector=0)).startswith(BASE_MARK.decode())
    assert rig.sh(READ.format(sector=2048)).startswith("BEFORE-MIRROR")
    assert rig.sh(READ.format(sector=4096)).startswith(f"DURING-{final:08d}")
    # and the whole chain on domain 2 holds what domain 1's held at the pivot
    commands.run(["qemu-img", "compare", "-U", rig.file("sd1"), rig.file("sd2")],
                 timeout=60)


def test_abort_across_an_agent_restart_keeps_the_source(rig):
    src, back = rig.spec("sd2"), rig.spec("sd1")
    answer = rig.proxy.diskReplicateStart(rig.vm_id, src, back)
    assert answer["status"]["code"] == 0, answer
    rig.wait_mirror_ready()
    assert rig.open_domains() == {"sd1", "sd2"}

    rig.restart_agent()
    # recovered from the domain metadata: reported in the definition
    drive = rig.drive()
    assert drive["domainID"] == rig.pool["sd2"]
    assert drive["diskReplicate"]["domainID"] == rig.pool["sd1"]
    # a destination that is neither the source nor the replica
    other = dict(back, volumeID=new_uuid())
    assert rig.proxy.diskReplicateFinish(rig.vm_id, src, other)["status"][
        "code"] == 55

    answer = rig.proxy.diskReplicateFinish(rig.vm_id, src, src)   # abort
    assert answer["status"]["code"] == 0, answer
    # the job, registered again from the metadata after the restart, aborted
    (job,) = rig.agent.virt.ctx.jobs.info(job_type="virt").values()
    assert job["status"] == "aborted", job
    drive = rig.drive()
    assert drive["domainID"] == rig.pool["sd2"] and "diskReplicate" not in drive
    assert "diskReplicate" not in rig.metadata_drive()
    wait_for(lambda: rig.open_domains() == {"sd2"}, 10,
             "QEMU to close domain 1's files")
    assert rig.proxy.getVmStats(rig.vm_id)["statsList"][0]["status"] == "Up"
    assert rig.sh(READ.format(sector=2048)).startswith("BEFORE-MIRROR")

    # a job that vanished (ended behind the agent's back): ReplicaError and
    # the replication state dropped, the VM still on its source
    assert rig.proxy.diskReplicateStart(rig.vm_id, src, back)["status"][
        "code"] == 0
    conn = libvirt.open(rig.uri)
    try:
        conn.lookupByUUIDString(rig.vm_id).blockJobAbort("vda", 0)
    finally:
        conn.close()
    assert rig.proxy.diskReplicateFinish(rig.vm_id, src, back)["status"][
        "code"] == 55
    failed = [j for j in rig.agent.virt.ctx.jobs.info(job_type="virt").values()
              if j["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["error"]["code"] == 55, failed
    assert "diskReplicate" not in rig.drive()
    assert "diskReplicate" not in rig.metadata_drive()
    assert rig.proxy.diskReplicateFinish(rig.vm_id, src, back)["status"][
        "code"] == 88

    # libvirt pivoted but the agent never recorded it (as when it dies in
    # between): Finish sees QEMU on the replica and completes the pivot
    assert rig.proxy.diskReplicateStart(rig.vm_id, src, back)["status"][
        "code"] == 0
    rig.wait_mirror_ready()
    conn = libvirt.open(rig.uri)
    try:
        conn.lookupByUUIDString(rig.vm_id).blockJobAbort(
            "vda", libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
    finally:
        conn.close()
    assert rig.metadata_drive()["domainID"] == rig.pool["sd2"]   # not recorded
    assert rig.proxy.diskReplicateFinish(rig.vm_id, src, back)["status"][
        "code"] == 0
    drive = rig.drive()
    assert drive["domainID"] == rig.pool["sd1"] and "diskReplicate" not in drive
    assert rig.metadata_drive()["domainID"] == rig.pool["sd1"]
    wait_for(lambda: rig.open_domains() == {"sd1"}, 10,
             "QEMU on domain 1 only")
    # and back to domain 2 through the agent, for the next test
    assert rig.proxy.diskReplicateStart(rig.vm_id, back, src)["status"][
        "code"] == 0
    rig.wait_mirror_ready()
    assert rig.proxy.diskReplicateFinish(rig.vm_id, back, src)["status"][
        "code"] == 0
    assert rig.open_domains() == {"sd2"}


def test_disk_size_extend_is_seen_by_the_guest(rig):
    spec = rig.spec("sd2")
    assert rig.sh("cat /sys/block/vda/size").strip() == str(SIZE // 512)
    answer = rig.proxy.diskSizeExtend(rig.vm_id, spec, str(SIZE * 2 + 100))
    assert answer["status"]["code"] == 0, answer
    new = SIZE * 2 + 512                        # whole sectors
    assert answer["size"] == str(new)
    wait_for(lambda: rig.sh("cat /sys/block/vda/size").strip() == str(new // 512),
             15, "the guest to see the new size")
    info = commands.run(["qemu-img", "info", "-U", "--output=json",
                         rig.file("sd2")], timeout=30).out
    assert f'"virtual-size": {new}' in info
    # the volume's metadata follows (0 while QEMU resized, then the new size)
    sizes = rig.agent.virt.ctx.chains.recorded
    assert sizes[-2:] == [0, new]
    p, sd2 = rig.pool["host"].proxy(), rig.pool["sd2"]
    vol = ok(p.getVolumeInfo(sd2, rig.pool["sp"], rig.pool["img"],
                             rig.pool["leaf"]))["info"]
    assert int(vol["capacity"]) == chainsync.parse_capacity(new)   # 4 KiB blocks
    # the faults: a smaller size, a size that is no number, an unknown disk
    assert rig.proxy.diskSizeExtend(rig.vm_id, spec, str(SIZE))["status"][
        "code"] == 58
    assert rig.proxy.diskSizeExtend(rig.vm_id, spec, "big")["status"]["code"] == 58
    assert rig.proxy.diskSizeExtend(rig.vm_id, dict(spec, volumeID=new_uuid()),
                                    str(SIZE * 4))["status"]["code"] == 13
    assert rig.sh(READ.format(sector=0)).startswith(BASE_MARK.decode())

    # a destination smaller than the disk (domain 1's leaf is still 64 MiB;
    # QEMU would grow it behind its metadata): 79, nothing left behind
    back = rig.spec("sd1")
    assert rig.proxy.diskReplicateStart(rig.vm_id, spec, back)["status"][
        "code"] == 79
    assert "diskReplicate" not in rig.drive()
    assert "diskReplicate" not in rig.metadata_drive()
    assert rig.open_domains() == {"sd2"}
