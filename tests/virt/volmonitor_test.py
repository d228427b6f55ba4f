"""The volume monitor's state machine against a fake libvirt domain.

The fake stands beside the real test (tests/virt/thinprov_test.py: a TCG
guest writing into a growing LV); here each transition is driven one at a
time: threshold at the watermark, the event, one extension in flight,
success (next threshold), failure (retried at the next check), stale
events, the largest size, resume after ENOSPC, stats.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

import libvirt
import pytest

from vdsm.virt import status as st
from vdsm.virt import thinprov as tp
from vdsm.virt import vmparams, vmstats
from vdsm.virt.context import VirtContext
from vdsm.virt.domxml.domain import HostOptions
from vdsm.virt.registry import VmRegistry
from vdsm.virt.vm import Vm
from vdsm.virt.volmonitor import VolumeMonitor

MIB = 1 << 20
CHUNK = 128 * MIB
POLICY = tp.Policy(chunk=CHUNK, percent=50)        # limit 64 MiB
CAPACITY = 1536 * MIB


class FakeDomain:
    """What the monitor asks of a domain (and lifecycle.cont)."""

    def __init__(self) -> None:
        self.allocation = 0
        self.capacity: int | None = CAPACITY
        self.thresholds: list[tuple[str, int]] = []
        self.threshold_error: str | None = None
        self.resumed = 0
        self.disk_errors: dict[str, int] = {}
        self.others: list[tuple[str, int, int]] = []   # more drives' records

    def diskErrors(self) -> dict[str, int]:
        return dict(self.disk_errors)

    def setBlockThreshold(self, dev: str, threshold: int) -> None:
        if self.threshold_error:
            raise libvirt.libvirtError(self.threshold_error)
        self.thresholds.append((dev, threshold))

    def XMLDesc(self, flags: int) -> str:
        return "<domain/>"

    def resume(self) -> None:
        self.resumed += 1


class FakeLibvirt:
    def __init__(self, dom: FakeDomain) -> None:
        self.dom = dom
        self.stats_gate = threading.Event()     # cleared: the stats call hangs
        self.stats_gate.set()
        self.stats_calls = 0

    def lookupByUUIDString(self, vm_id: str) -> FakeDomain:
        return self.dom

    def domainListGetStats(self, doms: list, stats: int, flags: int) -> list:
        self.stats_calls += 1
        assert self.stats_gate.wait(10)
        record = {"block.count": 1, "block.0.name": "vdb",
                  "block.0.allocation": self.dom.allocation}
        if self.dom.capacity is not None:
            record["block.0.capacity"] = self.dom.capacity
        for i, (name, allocation, capacity) in enumerate(self.dom.others, 1):
            record.update({"block.count": i + 1, f"block.{i}.name": name,
                           f"block.{i}.allocation": allocation,
                           f"block.{i}.capacity": capacity})
        return [(self.dom, record)]


class FakeConnection:
    connected = True

    def __init__(self, dom: FakeDomain) -> None:
        self._libvirt = FakeLibvirt(dom)

    def get(self) -> FakeLibvirt:
        return self._libvirt


class NoHooks:
    def run(self, point: str, xml: str | None, **kwargs: Any) -> str | None:
        return xml


class Extender:
    """Records requests; the test ends each one by ``finish``."""

    def __init__(self) -> None:
        self.requests: list[tuple[tp.ExtendRequest, tp.ExtendCallback]] = []
        self.refuse: Exception | None = None

    def extend(self, request: tp.ExtendRequest, callback: tp.ExtendCallback) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.requests.append((request, callback))

    def finish(self, lv: str, error: BaseException | None = None) -> None:
        request, callback = self.requests[-1]
        if error is None:
            os.truncate(lv, request.size)      # the LV grew and was refreshed
        callback(error)


@pytest.fixture
def rig(tmp_path):
    lv = str(tmp_path / "lv")
    with open(lv, "wb") as f:
        f.truncate(256 * MIB)
    dom = FakeDomain()
    params = {"vmId": str(uuid.uuid4()), "vmName": "thin", "memSize": 64,
              "drives": [{"domainID": "sd", "poolID": "sp", "imageID": "img",
                          "volumeID": "vol", "format": "cow", "diskType": "block",
                          "iface": "virtio", "index": 1, "deviceId": "d1"},
                         {"path": lv, "format": "raw", "iface": "virtio"}]}
    vm = Vm(vmparams.parse(params), status=st.UP)
    vm.devices[0]["path"] = lv            # as drives.prepare resolves it
    vm.live = {"disks": [{"name": "vdb", "alias": "ua-d1"}]}
    ctx = VirtContext(conn=FakeConnection(dom), hooks=NoHooks(),
                      options=HostOptions(domain_type="qemu"),
                      registry=VmRegistry())
    ctx.registry.add(vm)
    extender = Extender()
    monitor = VolumeMonitor(ctx, policy=POLICY, interval=2.0, extender=extender)
    return monitor, vm, dom, extender, lv


def drive(monitor: VolumeMonitor, vm: Vm) -> tp.ThinDrive:
    return monitor.drives(vm.id)["vdb"]


def test_only_the_cow_block_volume_is_monitored_with_a_threshold_at_the_watermark(rig):
    monitor, vm, dom, extender, lv = rig
    monitor.check_all()
    assert list(monitor.drives(vm.id)) == ["vdb"]       # not the raw path drive
    assert dom.thresholds == [("vdb", 192 * MIB)]      # 256 - 64 MiB
    assert drive(monitor, vm).state == tp.SET
    monitor.check_all()
    assert len(dom.thresholds) == 1                    # unchanged: not set again
    assert extender.requests == []


def test_the_event_asks_one_extension_by_a_chunk(rig):
    monitor, vm, dom, extender, lv = rig
    monitor.check_all()
    dom.allocation = 200 * MIB
    monitor.on_threshold(vm, "vdb[1]", 192 * MIB, 8 * MIB)
    assert [r for r, _ in extender.requests] == [
        tp.ExtendRequest("sd", "sp", "img", "vol", 384 * MIB)]
    assert drive(monitor, vm).state == tp.EXTENDING
    # a second event, the periodic check, an ENOSPC: still one in flight
    monitor.on_threshold(vm, "vdb", 192 * MIB, 9 * MIB)
    monitor.check_all()
    monitor.on_io_error(vm, "ua-d1", "enospc")
    assert len(extender.requests) == 1


def test_after_the_extension_the_next_threshold_is_set(rig):
    monitor, vm, dom, extender, lv = rig
    monitor.check_all()
    dom.allocation = 200 * MIB
    monitor.on_threshold(vm, "vdb", 192 * MIB, 8 * MIB)
    extender.finish(lv)
    d = drive(monitor, vm)
    assert (d.state, d.physical, d.threshold, d.extensions) == \
        (tp.SET, 384 * MIB, 320 * MIB, 1)
    assert dom.thresholds[-1] == ("vdb", 320 * MIB)


def test_an_allocation_beyond_the_next_watermark_extends_again_at_once(rig):
    monitor, vm, dom, extender, lv = rig
    monitor.check_all()
    dom.allocation = 330 * MIB                 # the guest outran the first chunk
    monitor.on_threshold(vm, "vdb", 192 * MIB, 138 * MIB)
    extender.finish(lv)
    assert [r.size for r, _ in extender.requests] == [384 * MIB, 512 * MIB]


def test_a_failed_extension_is_retried_at_the_next_check(rig, caplog):
    monitor, vm, dom, extender, lv = rig
    monitor.check_all()
    dom.allocation = 200 * MIB
    monitor.on_threshold(vm, "vdb", 192 * MIB, 8 * MIB)
    extender.finish(lv, RuntimeError("SPM unreachable"))
    assert "failed: SPM unreachable; retrying" in caplog.text
    d = drive(monitor, vm)
    assert (d.state, d.failures, d.physical) == (tp.EXCEEDED, 1, 256 * MIB)
    monitor.check_all()
    assert [r.size for r, _ in extender.requests] == [384 * MIB, 384 * MIB]


def test_an_extender_refusing_at_once_counts_as_a_failure(rig, caplog):
    monitor, vm, dom, extender, lv = rig
    extender.refuse = ConnectionError("storage down")
    dom.allocation = 200 * MIB
    monitor.check_all()                       # the safety net sees it
    assert drive(monitor, vm).state == tp.EXCEEDED
    assert "storage down" in caplog.text
    extender.refuse = None
    monitor.check_all()
    assert len(extender.requests) == 1


def test_a_stale_event_is_ignored(rig):
    monitor, vm, dom, extender, lv = rig
    monitor.check_all()
    monitor.on_threshold(vm, "vdb", 100 * MIB, 1)    # not our threshold
    monitor.on_threshold(vm, "vda", 192 * MIB, 1)    # not a thin drive
    assert extender.requests == []
    assert drive(monitor, vm).state == tp.SET


def test_without_a_threshold_the_periodic_check_extends(rig, caplog):
    monitor, vm, dom, extender, lv = rig
    dom.threshold_error = "unsupported"
    monitor.check_all()
    assert drive(monitor, vm).state == tp.UNSET
    assert "cannot set the block threshold" in caplog.text
    dom.allocation = 193 * MIB
    monitor.check_all()
    assert [r.size for r, _ in extender.requests] == [384 * MIB]


def test_a_volume_at_its_largest_size_is_not_extended(rig, caplog):
    monitor, vm, dom, extender, lv = rig
    os.truncate(lv, tp.max_size(CAPACITY))
    dom.allocation = tp.max_size(CAPACITY) - MIB
    monitor.check_all()
    monitor.check_all()
    assert extender.requests == []
    assert caplog.text.count("at its largest size") == 1   # said once


def test_an_unknown_virtual_size_waits_for_the_next_stats(rig, caplog):
    monitor, vm, dom, extender, lv = rig
    dom.capacity = None
    dom.allocation = 200 * MIB
    monitor.check_all()
    monitor.check_all()
    assert extender.requests == []
    assert caplog.text.count("has not told its virtual size") == 1
    dom.capacity = CAPACITY
    monitor.check_all()
    assert [r.size for r, _ in extender.requests] == [384 * MIB]


def test_without_an_extender_the_drive_is_watched(rig, caplog):
    monitor, vm, dom, extender, lv = rig
    monitor.extender = None
    dom.allocation = 200 * MIB
    monitor.check_all()
    assert drive(monitor, vm).state == tp.EXCEEDED
    assert "no volume extender" in caplog.text


def test_a_vm_paused_on_enospc_is_resumed_once_extended(rig):
    monitor, vm, dom, extender, lv = rig
    monitor.check_all()
    dom.allocation = 256 * MIB - 64 * 1024
    vm.on_io_error("ua-d1", 1, "enospc")
    monitor.on_io_error(vm, "ua-d1", "enospc")
    vm.on_lifecycle(st.EV_SUSPENDED, st.SUSPENDED_IOERROR)
    assert (vm.status, vm.pause_code) == (st.PAUSED, st.PAUSE_ENOSPC)
    monitor.check_all()
    assert dom.resumed == 0                    # not while extending
    extender.finish(lv)
    assert dom.resumed == 1 and vm.status == st.UP
    assert monitor.resumes(vm.id) == 1


def test_a_vm_found_paused_on_a_thin_drives_enospc_is_extended_and_resumed(rig):
    """An agent restarted while the VM was paused: no event, only what
    recovery read (pauseCode from the disk errors) and libvirt's disk errors."""
    monitor, vm, dom, extender, lv = rig
    dom.allocation = 256 * MIB - 64 * 1024
    dom.disk_errors = {"vdb": st.DISK_ERROR_NO_SPACE}
    vm.on_lifecycle(st.EV_SUSPENDED, st.SUSPENDED_IOERROR)
    vm.pause_code = st.pause_code_from_disk_errors(dom.diskErrors())
    monitor.check_all()
    assert [r.size for r, _ in extender.requests] == [384 * MIB]
    assert dom.resumed == 0
    extender.finish(lv)
    assert dom.resumed == 1 and vm.status == st.UP


def test_a_vm_found_paused_on_another_drives_enospc_is_left_alone(rig):
    monitor, vm, dom, extender, lv = rig
    dom.disk_errors = {"vdc": st.DISK_ERROR_NO_SPACE}
    vm.on_lifecycle(st.EV_SUSPENDED, st.SUSPENDED_IOERROR)
    vm.pause_code = st.PAUSE_ENOSPC
    monitor.check_all()
    monitor.check_all()
    assert extender.requests == [] and dom.resumed == 0


def test_a_thin_drive_at_its_largest_size_does_not_hold_the_resume(rig, tmp_path):
    """Two qcow2 block drives, one preallocated to its whole virtual size:
    an ENOSPC on the thin one is extended and the VM resumed (it stayed
    paused: the full drive was marked for an extension it can never get)."""
    monitor, vm, dom, extender, lv = rig
    full = str(tmp_path / "full")
    with open(full, "wb") as f:
        f.truncate(tp.max_size(CAPACITY))
    vm.devices.insert(1, {"type": "disk", "device": "disk", "iface": "virtio",
                          "path": full, "format": "cow", "diskType": "block",
                          "domainID": "sd", "poolID": "sp", "imageID": "img2",
                          "volumeID": "vol2", "name": "vdc"})
    vm.live["disks"].append({"name": "vdc", "alias": "ua-d2"})
    dom.others = [("vdc", tp.max_size(CAPACITY) - 1024, CAPACITY)]
    monitor.check_all()
    dom.allocation = 256 * MIB - 64 * 1024
    vm.on_io_error("ua-d1", 1, "enospc")
    monitor.on_io_error(vm, "ua-d1", "enospc")
    vm.on_lifecycle(st.EV_SUSPENDED, st.SUSPENDED_IOERROR)
    monitor.check_all()
    assert [r.vol_uuid for r, _ in extender.requests] == ["vol"]
    extender.finish(lv)
    assert dom.resumed == 1 and vm.status == st.UP


def test_pause_code_from_disk_errors():
    assert st.pause_code_from_disk_errors({"vda": 0, "vdb": 2}) == st.PAUSE_ENOSPC
    assert st.pause_code_from_disk_errors({"vda": 1}) == st.PAUSE_EIO
    assert st.pause_code_from_disk_errors({}) == st.PAUSE_EOTHER


def test_an_enospc_pause_of_another_drive_is_left_alone(rig):
    monitor, vm, dom, extender, lv = rig
    monitor.check_all()
    vm.on_io_error("ua-other", 1, "enospc")
    vm.live["disks"].append({"name": "vdc", "alias": "ua-other"})
    monitor.on_io_error(vm, "ua-other", "enospc")
    vm.on_lifecycle(st.EV_SUSPENDED, st.SUSPENDED_IOERROR)
    monitor.check_all()
    assert extender.requests == [] and dom.resumed == 0
    assert vm.status == st.PAUSED


def test_stats_show_the_lv_size_in_the_classic_keys(rig):
    monitor, vm, dom, extender, lv = rig
    monitor.check_all()
    vm.sample = {"disks": {"vdb": {"truesize": "1", "apparentsize": "2",
                                   "readRate": "0.0"}}}
    disk = vmstats.vm_stats(vm)["disks"]["vdb"]
    assert disk == {"truesize": str(256 * MIB), "apparentsize": str(256 * MIB),
                    "readRate": "0.0",  # and the active layer's ids
                    "domainID": "sd", "imageID": "img", "volumeID": "vol"}


def test_events_only_queue_the_vm_for_the_monitor_thread(rig):
    monitor, vm, dom, extender, lv = rig
    monitor.check_all()
    dom.allocation = 200 * MIB
    libvirt_ = monitor.ctx.conn.get()
    libvirt_.stats_gate.clear()                  # QEMU slow to answer
    monitor.start()
    try:
        start = time.monotonic()
        monitor.on_threshold(vm, "vdb", 192 * MIB, 8 * MIB)
        monitor.on_threshold(vm, "vdb", 192 * MIB, 9 * MIB)
        assert time.monotonic() - start < 0.5    # the event worker goes on
        libvirt_.stats_gate.set()
        deadline = time.monotonic() + 5
        while not extender.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [r.size for r, _ in extender.requests] == [384 * MIB]
    finally:
        monitor.stop()


def test_an_unresponsive_vm_is_left_out_of_the_periodic_pass(rig):
    monitor, vm, dom, extender, lv = rig
    vm.unresponsive_since = time.monotonic()
    monitor.check_all()
    assert monitor.ctx.conn.get().stats_calls == 0 and dom.thresholds == []


def test_a_vm_gone_is_forgotten(rig):
    monitor, vm, dom, extender, lv = rig
    monitor.check_all()
    vm.set_status(st.DOWN)
    monitor.check_all()
    assert monitor.drives(vm.id) == {}


def test_parse_block_record_keeps_the_top_layer_per_target():
    record = {"block.count": 3, "block.0.name": "vda", "block.0.allocation": 5,
              "block.0.capacity": 10, "block.0.physical": 7,
              "block.0.threshold": 6,
              "block.1.name": "vda", "block.1.allocation": 1,   # backing layer
              "block.2.name": "hdc"}
    assert tp.parse_block_record(record) == {
        "vda": {"allocation": 5, "capacity": 10, "physical": 7, "threshold": 6},
        "hdc": {}}


def test_a_new_active_volume_is_watched_afresh_and_the_old_state_dropped(rig, tmp_path):
    # a snapshot or a pivot changes the drive's volume while the VM runs
    monitor, vm, dom, extender, lv = rig
    dom.allocation = 200 * MIB
    monitor.check_vm(vm)
    assert drive(monitor, vm).extending_to        # an extension in flight
    leaf = str(tmp_path / "leaf")
    with open(leaf, "wb") as f:
        f.truncate(128 * MIB)
    vm.devices[0].update(volumeID="leaf", path=leaf)
    dom.allocation = 0
    monitor.check_vm(vm)
    fresh = drive(monitor, vm)
    assert (fresh.vol_uuid, fresh.path, fresh.extending_to) == ("leaf", leaf, 0)
    assert dom.thresholds[-1] == ("vdb", POLICY.threshold(128 * MIB))


def test_an_unchanged_drive_keeps_its_state_when_another_disk_comes(rig, tmp_path):
    monitor, vm, dom, extender, lv = rig
    monitor.check_vm(vm)
    other = str(tmp_path / "other")
    with open(other, "wb") as f:
        f.truncate(128 * MIB)
    vm.devices.append({**vm.devices[0], "name": "vdc", "volumeID": "v2",
                       "path": other, "deviceId": "d2"})
    monitor.check_vm(vm)
    # vdb's threshold stands: set once; only the new drive gets one
    assert [dev for dev, _ in dom.thresholds] == ["vdb", "vdc"]
    assert set(monitor.drives(vm.id)) == {"vdb", "vdc"}
    vm.devices.pop()                               # unplugged
    monitor.check_vm(vm)
    assert set(monitor.drives(vm.id)) == {"vdb"}


# --- a thin replica (live storage migration to a block domain) ------------
def _mirror_into(vm: Vm, tmp_path: Any, size: int) -> str:
    replica = str(tmp_path / "replica")
    with open(replica, "wb") as f:
        f.truncate(size)
    vm.devices[0][tp.REPLICA_KEY] = {
        "domainID": "sd2", "poolID": "sp", "imageID": "img", "volumeID": "vol",
        "path": replica, "format": "cow", "diskType": "block"}
    return replica


def test_a_thin_replica_is_extended_first_then_the_drive(rig, tmp_path):
    monitor, vm, dom, extender, lv = rig
    monitor.check_vm(vm)
    replica = _mirror_into(vm, tmp_path, 128 * MIB)   # smaller than the drive
    monitor.check_vm(vm)
    d = drive(monitor, vm)
    assert (d.replica.vol_uuid, d.room) == ("vol", 128 * MIB)
    assert dom.thresholds[-1] == ("vdb", 64 * MIB)    # the replica's watermark
    dom.allocation = 100 * MIB
    monitor.on_threshold(vm, "vdb", 64 * MIB, 36 * MIB)
    # one chunk past the smaller LV, the replica's first: the drive's own LV
    # (256 MiB) already has room for it
    assert [r for r, _ in extender.requests] == [
        tp.ExtendRequest("sd2", "sp", "img", "vol", 256 * MIB)]
    extender.finish(replica)
    assert drive(monitor, vm).state == tp.SET
    dom.allocation = 250 * MIB                          # both LVs need a chunk
    monitor.on_threshold(vm, "vdb", 192 * MIB, 58 * MIB)
    assert [r.sd_uuid for r, _ in extender.requests] == ["sd2", "sd2"]
    extender.finish(replica)
    assert [(r.sd_uuid, r.size) for r, _ in extender.requests][2:] == [
        ("sd", 384 * MIB)]                              # then the drive's
    extender.finish(lv)
    d = drive(monitor, vm)
    assert (d.state, d.physical, d.replica_physical, d.extensions) == \
        (tp.SET, 384 * MIB, 384 * MIB, 2)


def test_a_failed_replica_extension_leaves_the_drive_unextended(rig, tmp_path,
                                                               caplog):
    monitor, vm, dom, extender, lv = rig
    replica = _mirror_into(vm, tmp_path, 256 * MIB)
    monitor.check_vm(vm)
    dom.allocation = 200 * MIB
    monitor.on_threshold(vm, "vdb", 192 * MIB, 8 * MIB)
    extender.finish(replica, RuntimeError("replica's domain unreachable"))
    assert len(extender.requests) == 1                  # the drive not asked
    d = drive(monitor, vm)
    assert (d.state, d.failures) == (tp.EXCEEDED, 1)
    assert "replica's domain unreachable" in caplog.text


def test_a_file_drive_mirroring_into_a_thin_replica_is_watched(rig, tmp_path):
    monitor, vm, dom, extender, lv = rig
    vm.devices[0]["diskType"] = "file"                  # a file volume now
    replica = _mirror_into(vm, tmp_path, 128 * MIB)
    monitor.check_vm(vm)
    d = drive(monitor, vm)
    assert (d.chunked, d.room) == (False, 128 * MIB)
    assert monitor.stats(vm.id) == {}                   # its file stats stand
    assert monitor.extend_now(vm, "vdb") is True        # needExtend
    assert [r.sd_uuid for r, _ in extender.requests] == ["sd2"]
    extender.finish(replica)
    assert len(extender.requests) == 1                  # the file is not grown
    vm.devices[0].pop(tp.REPLICA_KEY)                   # the mirror ended
    monitor.check_vm(vm)
    assert monitor.drives(vm.id) == {}
    assert monitor.extend_now(vm, "vdb") is False
