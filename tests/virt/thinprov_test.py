"""Thin provisioning end to end: a real TCG guest writes into a qcow2 on an
LV of a real VG (loop device; the LV served as a file by lvfiles in follow
mode, as there is no device-mapper here) and the agent's volume monitor
grows the LV through a test extender that runs lvextend. The watermark
arithmetic and the thin drive rules are tested first, pure.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import threading
import time
import uuid
from typing import Any, Iterator

import libvirt
import libvirt_qemu
import pytest

from tests.storage import lvfiles
from tests.storage.lvmhelpers import loop_devices, need_lvm, vg_names
from tests.virt.conftest import _private_libvirtd
from tests.virt.harness import (
    VirtAgent,
    running_agent,
    stats,
    vm_params,
    wait_booted,
    wait_for,
    wait_status,
)
from vdsm.common import commands
from vdsm.storage.lvm import LVM, LocalRunner
from vdsm.virt import thinprov as tp

MIB = 1 << 20
GIB = 1 << 30


# --- the arithmetic (pure) -----------------------------------------------
def test_watermark_is_physical_minus_percent_of_chunk():
    policy = tp.Policy(chunk=2560 * MIB, percent=50)
    assert policy.limit == 1280 * MIB
    assert policy.threshold(3 * GIB) == 3 * GIB - 1280 * MIB
    assert policy.needs_extension(3 * GIB - 1280 * MIB + 1, 3 * GIB)
    assert not policy.needs_extension(3 * GIB - 1280 * MIB, 3 * GIB)


def test_threshold_never_zero():
    # 0 would clear libvirt's threshold
    assert tp.Policy(chunk=128 * MIB, percent=50).threshold(10 * MIB) == 1


def test_next_size_grows_by_a_chunk_up_to_the_largest_useful_size():
    policy = tp.Policy(chunk=128 * MIB, percent=50)
    capacity = 1536 * MIB
    assert tp.max_size(capacity) == 1690 * MIB   # +10% for qcow2 metadata
    assert policy.next_size(256 * MIB, capacity) == 384 * MIB
    assert policy.next_size(1600 * MIB, capacity) == 1690 * MIB
    assert policy.next_size(1690 * MIB, capacity) == 1690 * MIB  # no growth


def test_policy_from_config():
    class Config:
        def get(self, section: str, name: str) -> Any:
            return {"volume_utilization_chunk_mb": 1024,
                    "volume_utilization_percent": 25}[name]
    assert tp.Policy.from_config(Config()) == tp.Policy(chunk=GIB, percent=25)


VOL = {"type": "disk", "domainID": "sd", "poolID": "sp", "imageID": "img",
       "volumeID": "vol", "format": "cow"}


def test_thin_drives_are_writable_cow_volumes_on_block():
    assert tp.is_thin(dict(VOL, diskType="block"))
    assert not tp.is_thin(dict(VOL, diskType="file"), "/tmp")
    assert not tp.is_thin(dict(VOL, diskType="block", format="raw"))
    assert not tp.is_thin(dict(VOL, diskType="block", readonly=True))
    assert not tp.is_thin({"type": "disk", "format": "cow", "diskType": "block",
                           "path": "/dev/sdb"})   # a direct LUN


def test_thin_drive_from_a_block_device_path():
    # no diskType on the wire: the prepared path decides
    devices = [os.path.join("/dev", n) for n in sorted(os.listdir("/dev"))
               if n.startswith("loop") and n[4:].isdigit()]
    if not devices:
        pytest.skip("no loop device node to stand in for a block device")
    assert tp.is_thin(VOL, devices[0])


def test_read_size_of_a_file(tmp_path):
    path = tmp_path / "lv"
    path.write_bytes(b"")
    os.truncate(path, 3 * MIB)
    assert tp.read_size(str(path)) == 3 * MIB
    with pytest.raises(OSError):
        tp.read_size(str(tmp_path / "missing"))


# --- end to end: a real guest, a real VG ----------------------------------
CHUNK_MB = 128
START_MB = 256
VIRTUAL = 1536 * MIB


class LvExtender:
    """The test's extender: lvextend on the real VG (in a thread, as the
    storage service answers through the SPM mailbox), then waits until
    the LV's file shows the new size (the storage service refreshes the
    LV before calling back). ``failures`` first requests fail;
    ``delay`` seconds pass before each extension."""

    def __init__(self, lvm: LVM, vg: str, path: str, *, failures: int = 0,
                 delay: float = 0.0, lv_dir: str | None = None) -> None:
        self.lvm = lvm
        self.vg = vg
        self.path = path
        self.lv_dir = lv_dir     # any LV of the VG, not only ``path``'s
        self.failures = failures
        self.delay = delay
        self.gate = threading.Event()
        self.gate.set()
        self.requests: list[tp.ExtendRequest] = []
        self.took: list[float] = []      # seconds from request to callback
        self.lock = threading.Lock()

    def extend(self, request: tp.ExtendRequest, callback: tp.ExtendCallback) -> None:
        with self.lock:
            self.requests.append(request)
        threading.Thread(target=self._run, args=(request, callback, time.monotonic()),
                         daemon=True).start()

    def _run(self, request: tp.ExtendRequest, callback: tp.ExtendCallback,
             asked: float) -> None:
        try:
            time.sleep(self.delay)
            if not self.gate.wait(60):
                raise TimeoutError("test gate never opened")
            with self.lock:
                fail = self.failures > 0
                self.failures -= fail
            if fail:
                raise RuntimeError("test extender: SPM unreachable")
            self.lvm.lvextend(self.vg, request.vol_uuid, request.size)
            path = os.path.join(self.lv_dir, request.vol_uuid) if self.lv_dir \
                else self.path
            wait_for(lambda: tp.read_size(path) >= request.size, 10,
                     "the LV file to grow")
            with self.lock:
                self.took.append(time.monotonic() - asked)
        except Exception as e:
            callback(e)
            return
        callback(None)


@pytest.fixture(scope="module")
def thin_vg() -> Iterator[dict[str, Any]]:
    """A VG named like a domain (sd UUID) on an 8 GiB sparse loop device,
    its LVs served by lvfiles (follow mode) under <tmp>/dev/<VG>; mounted
    before the module's libvirtd starts (it has a private mount namespace
    and sees only mounts older than itself)."""
    if lvfiles.unavailable():
        pytest.skip(f"lvfiles: {lvfiles.unavailable()}")
    if os.geteuid() != 0 or not os.path.exists("/usr/bin/qemu-img"):
        pytest.skip("needs root, lvm2 and qemu-img")
    lvm = LVM(LocalRunner())
    base = tempfile.mkdtemp(prefix="vdsm-thin-", dir="/tmp")
    os.chmod(base, 0o755)
    with loop_devices(1, size_mb=8192) as devices, vg_names(1) as (vg,):
        lvm.pvcreate(devices)
        lvm.vgcreate(vg, devices)
        files = lvfiles.LVFiles(devices, vg, os.path.join(base, "dev", vg),
                                follow=True)
        files.start()
        try:
            yield {"lvm": lvm, "vg": vg, "files": files, "lv_dir":
                   os.path.join(base, "dev")}
        finally:
            files.stop()
            lvm.vgremove(vg)
            commands.run(["rm", "-rf", base], timeout=30)


@pytest.fixture(scope="module")
def libvirtd(netns, thin_vg):
    yield from _private_libvirtd(netns)


@pytest.fixture(scope="module")
def thin_agent(libvirtd, guest) -> Iterator[VirtAgent]:
    yield from running_agent(libvirtd.uri, irs__volume_utilization_chunk_mb=CHUNK_MB,
                             irs__volume_utilization_percent=50,
                             vars__vm_watermark_interval=1.0)


class LvResolver:
    """Drives given as volume ids -> <lv_dir>/<sd>/<vol> (the block
    domain's layout), as storage's resolver answers on a real host."""

    def __init__(self, lv_dir: str) -> None:
        self.lv_dir = lv_dir

    def prepare(self, drive: dict[str, Any]) -> str:
        return os.path.join(self.lv_dir, drive["domainID"], drive["volumeID"])

    def teardown(self, drive: dict[str, Any]) -> None:
        pass


def _thin_disk(thin_vg: dict[str, Any], *, size_mb: int = START_MB,
               backing: str | None = None) -> dict[str, Any]:
    """A fresh LV of ``size_mb`` holding a qcow2 of VIRTUAL bytes (on the
    ``backing`` LV's qcow2, if given); the drive."""
    vol = str(uuid.uuid4())
    thin_vg["lvm"].lvcreate(thin_vg["vg"], vol, size_mb * MIB)
    path = os.path.join(thin_vg["lv_dir"], thin_vg["vg"], vol)
    wait_for(lambda: os.path.exists(path), 10, "the new LV's file")
    # lvfiles cannot truncate (an LV has its size): qemu-img writes the
    # qcow2 header to a file, copied over the LV's start
    header = os.path.join(os.path.dirname(thin_vg["lv_dir"]), f"{vol}.qcow2")
    argv = ["qemu-img", "create", "-f", "qcow2"]
    if backing:
        argv += ["-u", "-b", backing, "-F", "qcow2"]
    commands.run(argv + [header, str(VIRTUAL)], timeout=60)
    with open(header, "rb") as src, open(path, "r+b") as dst:
        dst.write(src.read())
    os.unlink(header)
    return {"domainID": thin_vg["vg"], "poolID": str(uuid.uuid4()),
            "imageID": str(uuid.uuid4()), "volumeID": vol, "format": "cow",
            "diskType": "block", "iface": "virtio", "serial": "thin-disk",
            "cache": "none", "propagateErrors": "off"}


def guest_exec(uri: str, vm_id: str, script: str, timeout: float) -> dict[str, Any]:
    """Run ``sh -c script`` in the guest through qemu-ga; its exit code
    and output. While the guest is paused the agent cannot answer: the
    status is asked again until ``timeout``."""
    conn = libvirt.open(uri)
    try:
        dom = conn.lookupByUUIDString(vm_id)
        started = _agent(dom, {"execute": "guest-exec", "arguments": {
            "path": "/bin/sh", "arg": ["-c", script], "capture-output": True}})
        pid = started["pid"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                status = _agent(dom, {"execute": "guest-exec-status",
                                      "arguments": {"pid": pid}})
            except libvirt.libvirtError:
                status = {}        # paused, or the agent busy: ask again
            if status.get("exited"):
                return {"rc": status.get("exitcode"),
                        "out": _decode(status.get("out-data")),
                        "err": _decode(status.get("err-data"))}
            time.sleep(0.5)
        raise AssertionError(f"guest command did not end in {timeout} s: {script}")
    finally:
        conn.close()


def _agent(dom: libvirt.virDomain, command: dict[str, Any]) -> Any:
    return json.loads(libvirt_qemu.qemuAgentCommand(
        dom, json.dumps(command), 10, 0))["return"]


def _decode(data: str | None) -> str:
    return base64.b64decode(data).decode(errors="replace") if data else ""


# 1 GiB of a repeated 8 MiB random pattern, written with O_DIRECT; then
# the checksums of what the disk holds and of the same stream.
PATTERN = "dd if=/dev/urandom of=/tmp/pat bs=1M count=8 2>/dev/null"
STREAM = "i=0; while [ $i -lt {n} ]; do cat /tmp/pat; i=$((i+1)); done"
WRITE = STREAM + " | dd of=/dev/{dev} bs=1M iflag=fullblock oflag=direct 2>&1"
CHECK = ("dd if=/dev/{dev} bs=1M count={mib} 2>/dev/null | md5sum; "
         + STREAM + " | md5sum")


class Watch:
    """Samples the VM's status in a thread: the pauses and their codes."""

    def __init__(self, agent: VirtAgent, vm_id: str) -> None:
        self.agent, self.vm_id = agent, vm_id
        self.pauses: list[str] = []
        self.paused_time = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        was_paused = False
        last = time.monotonic()
        while not self._stop.wait(0.02):
            vm = self.agent.virt.ctx.registry.find(self.vm_id)
            now = time.monotonic()
            paused = vm is not None and vm.status == "Paused"
            if paused:
                self.paused_time += now - last
                if not was_paused:
                    self.pauses.append(vm.pause_code)
            was_paused, last = paused, now


def _start_vm(agent: VirtAgent, guest: dict[str, Any], drive: dict[str, Any]) -> str:
    if not guest.get("agent"):
        pytest.skip("the test guest was built without qemu-guest-agent")
    params = vm_params(guest, drives=[drive])
    answer = agent.proxy.create(params)
    assert answer["status"]["code"] == 0, answer
    vm_id = params["vmId"]
    wait_status(agent.proxy, vm_id, "Up")
    wait_booted(agent, vm_id)
    wait_for(lambda: stats(agent.proxy, vm_id)["guestAgentConnected"], 30,
             "qemu-ga connected")
    return vm_id


def _lv_size(thin_vg: dict[str, Any], vol: str) -> int:
    thin_vg["lvm"].invalidate(thin_vg["vg"])
    return thin_vg["lvm"].lv(thin_vg["vg"], vol).size


@need_lvm
def test_guest_writes_1g_while_the_lv_grows_in_chunks(thin_agent, thin_vg, guest):
    drive = _thin_disk(thin_vg)
    vol = drive["volumeID"]
    path = os.path.join(thin_vg["lv_dir"], thin_vg["vg"], vol)
    extender = LvExtender(thin_vg["lvm"], thin_vg["vg"], path)
    thin_agent.virt.set_drive_resolver(LvResolver(thin_vg["lv_dir"]))
    thin_agent.virt.volumes.extender = extender
    vm_id = _start_vm(thin_agent, guest, drive)
    try:
        # the threshold is set at the watermark of the 256 MiB LV
        wait_for(lambda: thin_agent.virt.volumes.drives(vm_id).get("vda")
                 and thin_agent.virt.volumes.drives(vm_id)["vda"].state == tp.SET,
                 10, "the block threshold of vda")
        assert thin_agent.virt.volumes.drives(vm_id)["vda"].threshold == \
            (START_MB - CHUNK_MB // 2) * MIB
        uri = thin_agent.uri
        assert guest_exec(uri, vm_id, PATTERN, 30)["rc"] == 0
        with Watch(thin_agent, vm_id) as watch:
            start = time.monotonic()
            result = guest_exec(uri, vm_id, WRITE.format(n=128, dev="vda"), 300)
            took = time.monotonic() - start
        assert result["rc"] == 0 and "1024+0 records out" in result["out"], result
        sums = guest_exec(uri, vm_id, CHECK.format(dev="vda", mib=1024, n=128),
                          300)["out"].split("\n")
        assert sums[0].split()[0] == sums[1].split()[0], sums
        sizes = [r.size for r in extender.requests]
        print(f"\nthin: 1 GiB in {took:.1f} s ({1024 / took:.0f} MiB/s), "
              f"chunk {CHUNK_MB} MiB, {len(sizes)} extensions, pauses "
              f"{watch.pauses} ({watch.paused_time:.1f} s paused), extension "
              f"{min(extender.took):.2f}-{max(extender.took):.2f} s")
        assert len(sizes) >= (1024 - START_MB) // CHUNK_MB
        steps = zip(sizes[:-1], sizes[1:], strict=True)
        assert all(b - a == CHUNK_MB * MIB for a, b in steps
                   if b < tp.max_size(VIRTUAL))
        assert set(watch.pauses) <= {"ENOSPC"}
        resumes = thin_agent.virt.volumes.resumes(vm_id)
        print(f"thin: resumed after ENOSPC {resumes} times")
        assert resumes >= len(watch.pauses)
        final = wait_status(thin_agent.proxy, vm_id, "Up")
        assert _lv_size(thin_vg, vol) >= GIB
        assert final["disks"]["vda"]["apparentsize"] == str(tp.read_size(path))
    finally:
        thin_agent.proxy.destroy(vm_id)


@need_lvm
def test_a_failed_slow_extension_pauses_the_guest_until_a_retry_succeeds(
        thin_agent, thin_vg, guest):
    drive = _thin_disk(thin_vg)
    vol = drive["volumeID"]
    path = os.path.join(thin_vg["lv_dir"], thin_vg["vg"], vol)
    extender = LvExtender(thin_vg["lvm"], thin_vg["vg"], path, failures=1)
    extender.gate.clear()        # the SPM does not answer yet
    thin_agent.virt.set_drive_resolver(LvResolver(thin_vg["lv_dir"]))
    thin_agent.virt.volumes.extender = extender
    vm_id = _start_vm(thin_agent, guest, drive)
    try:
        uri = thin_agent.uri
        assert guest_exec(uri, vm_id, PATTERN, 30)["rc"] == 0
        writer: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: writer.update(guest_exec(
            uri, vm_id, WRITE.format(n=48, dev="vda"), 300)), daemon=True)
        thread.start()
        paused = wait_status(thin_agent.proxy, vm_id, "Paused", timeout=120)
        assert paused["pauseCode"] == "ENOSPC"
        assert len(extender.requests) == 1          # one in flight per drive
        extender.gate.set()      # the first answer is a failure, then a retry
        wait_status(thin_agent.proxy, vm_id, "Up", timeout=60)
        # the monitor counts after libvirt's resume returns, the RESUMED
        # event may turn the VM Up first
        wait_for(lambda: thin_agent.virt.volumes.resumes(vm_id) >= 1, 10,
                 "the monitor's resume")
        thread.join(300)
        assert writer.get("rc") == 0 and "384+0 records out" in writer["out"], writer
        assert len(extender.requests) >= 2
        assert extender.requests[1].size == extender.requests[0].size
        sums = guest_exec(uri, vm_id, CHECK.format(dev="vda", mib=384, n=48),
                          300)["out"].split("\n")
        assert sums[0].split()[0] == sums[1].split()[0], sums
        assert _lv_size(thin_vg, vol) >= 384 * MIB
    finally:
        thin_agent.proxy.destroy(vm_id)


@need_lvm
def test_a_merge_into_a_thin_base_extends_the_base_first(thin_agent, thin_vg, guest):
    """A guest writes 192 MiB into the top layer of a two-LV qcow2 chain
    whose base LV has one extent (128 MiB); the active merge first grows the base (its
    LV, the top's and a chunk for the guest's writes meanwhile: without it
    QEMU's commit runs out of LV), then commits and pivots; the data is
    the guest's and the drive runs on the base."""
    lv_dir = os.path.join(thin_vg["lv_dir"], thin_vg["vg"])
    base = _thin_disk(thin_vg, size_mb=64)
    base_vol = base["volumeID"]
    drive = _thin_disk(thin_vg, backing=os.path.join(lv_dir, base_vol))
    drive["imageID"] = base["imageID"]
    top_vol = drive["volumeID"]
    extender = LvExtender(thin_vg["lvm"], thin_vg["vg"], "", lv_dir=lv_dir)
    thin_agent.virt.set_drive_resolver(LvResolver(thin_vg["lv_dir"]))
    thin_agent.virt.volumes.extender = extender
    thin_agent.virt.ctx.extender = extender
    vm_id = _start_vm(thin_agent, guest, drive)
    try:
        uri = thin_agent.uri
        assert guest_exec(uri, vm_id, PATTERN, 30)["rc"] == 0
        result = guest_exec(uri, vm_id, WRITE.format(n=24, dev="vda"), 120)
        assert "192+0 records out" in result["out"], result
        spec = {k: drive[k] for k in ("domainID", "poolID", "imageID", "volumeID")}
        job_id = str(uuid.uuid4())
        top_size = tp.read_size(os.path.join(lv_dir, top_vol))
        base_size = tp.read_size(os.path.join(lv_dir, base_vol))   # one extent
        asked = len(extender.requests)          # the top's own, by the monitor
        answer = thin_agent.proxy.merge(vm_id, spec, base_vol, top_vol, 0, job_id)
        assert answer["status"]["code"] == 0, answer
        assert extender.requests[asked] == tp.ExtendRequest(
            thin_vg["vg"], drive["poolID"], drive["imageID"], base_vol,
            base_size + top_size + CHUNK_MB * MIB)
        jobs = thin_agent.virt.ctx.jobs
        wait_for(lambda: jobs.info(job_ids=[job_id])[job_id]["status"] != "running",
                 120, "the merge to end")
        assert jobs.info(job_ids=[job_id])[job_id]["status"] == "done"
        conf = thin_agent.proxy.list(True, [vm_id])["vmList"][0]
        disk = next(d for d in conf["devices"] if d.get("name") == "vda")
        assert disk["volumeID"] == base_vol
        assert _lv_size(thin_vg, base_vol) >= base_size + top_size
        sums = guest_exec(uri, vm_id, CHECK.format(dev="vda", mib=192, n=24),
                          120)["out"].split("\n")
        assert sums[0].split()[0] == sums[1].split()[0], sums
    finally:
        thin_agent.proxy.destroy(vm_id)
