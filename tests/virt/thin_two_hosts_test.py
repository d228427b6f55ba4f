"""A TCG guest on host B writes into a thin volume of a block domain whose
SPM is host A (issue 11): B's extension requests reach A through the pool
mailbox, the LV grows chunk by chunk, the guest never sees an error; and
with the SPM moving from A to B in the middle of the writes, no request
is lost and none applied twice.

The hosts and the domain are those of tests/storage/block_two_hosts_test.py
(two agents, two sanlocks, one VG on loop devices, each host's LVs served
by its own lvfiles mount). B's virt side runs in this process (the virt
harness agent, with its own private libvirtd started after B's lvfiles
mount so that its mount namespace sees it); its drive resolver is B's
prepareImage and its volume extender B's storage service
(request_volume_extension inside B's agent, through
tests/storage/extension_vdsmd.py): the two halves of one host joined by
the seams the real agent joins them with.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest

from tests.storage.block_two_hosts_test import (  # noqa: F401 (fixture)
    CHUNK,
    COW,
    SPARSE,
    create_volume,
    extended_sizes,
    hosts,
    shared_pool,
)
from tests.storage.extension_vdsmd import request_extension
from tests.storage.helpers import become_spm, merged, new_uuid, ok
from tests.storage.lvmhelpers import need_lvm
from tests.virt.conftest import _private_libvirtd
from tests.virt.harness import running_agent, wait_status
from tests.virt.thinprov_test import CHECK, PATTERN, WRITE, Watch, _start_vm, guest_exec
from vdsm.virt import thinprov as tp

pytestmark = need_lvm
MIB = 1 << 20
VIRTUAL = 1536 * MIB
# Enough for four extensions by a 128 MiB chunk (the SPM moves after the
# third); the 1 GiB guest write is tests/virt/thinprov_test.py's.
WRITTEN_MIB = 512


class HostResolver:
    """Drives as volume ids -> paths, by the host's prepareImage."""

    def __init__(self, host: Any) -> None:
        self.host = host

    def _ids(self, drive: dict[str, Any]) -> tuple[str, str, str, str]:
        return (drive["poolID"], drive["domainID"], drive["imageID"],
                drive["volumeID"])

    def prepare(self, drive: dict[str, Any]) -> str:
        return merged(ok(self.host.proxy().prepareImage(*self._ids(drive))))["path"]

    def teardown(self, drive: dict[str, Any]) -> None:
        ok(self.host.proxy().teardownImage(*self._ids(drive)))


class MailboxExtender:
    """The volume monitor's extender: the host's storage service, so the
    request goes through its pool mailbox to whichever host is SPM."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self.requests: list[tp.ExtendRequest] = []
        self.took: list[float] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def extend(self, request: tp.ExtendRequest, callback: tp.ExtendCallback) -> None:
        with self.lock:
            self.requests.append(request)
        threading.Thread(target=self._run, args=(request, callback),
                         daemon=True).start()

    def _run(self, request: tp.ExtendRequest, callback: tp.ExtendCallback) -> None:
        try:
            answer = request_extension(self.run_dir, request.sd_uuid,
                                       request.sp_uuid, request.img_uuid,
                                       request.vol_uuid, request.size)
        except Exception as e:
            callback(e)
            return
        with self.lock:
            self.took.append(answer["seconds"])
            if answer["error"] is not None:
                self.errors.append(answer["error"])
        callback(None if answer["error"] is None
                 else RuntimeError(answer["error"]))


@pytest.mark.parametrize("spm_moves", [False, True], ids=["spm_a", "spm_moves"])
def test_guest_on_b_writes_into_a_thin_volume_grown_by_the_spm(
        hosts, netns, guest, spm_moves):  # noqa: F811
    (a, _), (b, _) = hosts
    with shared_pool(hosts) as pool:
        sd, sp, pa = pool["sd"], pool["sp"], pool["a"]
        img, vol = new_uuid(), new_uuid()
        create_volume(pa, sd, sp, img, vol, fmt=COW, alloc=SPARSE, size=VIRTUAL,
                      description="thin disk of a VM on B")
        b_files = pool["files"][1]
        assert os.path.getsize(b_files.path(vol)) == CHUNK      # one chunk
        # after B's lvfiles mount; no chown of disks: B's LV files belong
        # to vdsm (as udev gives LVs) and FUSE files cannot change owner
        libvirtd_gen = _private_libvirtd(netns, qemu_conf={"dynamic_ownership": 0})
        libvirtd = next(libvirtd_gen)
        try:
            agent_gen = running_agent(
                libvirtd.uri, irs__volume_utilization_chunk_mb=CHUNK // MIB,
                irs__volume_utilization_percent=50, vars__vm_watermark_interval=1.0)
            agent = next(agent_gen)
            try:
                _write_and_check(agent, guest, a, b, pool, img, vol, spm_moves)
            finally:
                agent_gen.close()
        finally:
            libvirtd_gen.close()


def _write_and_check(agent: Any, guest: dict[str, Any], a: Any, b: Any,
                     pool: dict[str, Any], img: str, vol: str,
                     spm_moves: bool) -> None:
    sd, sp, pa, pb = pool["sd"], pool["sp"], pool["a"], pool["b"]
    b_files = pool["files"][1]
    extender = MailboxExtender(pool["b_run"])
    agent.virt.set_drive_resolver(HostResolver(b))
    agent.virt.volumes.extender = extender
    drive = {"domainID": sd, "poolID": sp, "imageID": img, "volumeID": vol,
             "format": "cow", "diskType": "block", "iface": "virtio",
             "serial": "thin-disk", "cache": "none", "propagateErrors": "off"}
    vm_id = _start_vm(agent, guest, drive)
    try:
        uri = agent.uri
        assert guest_exec(uri, vm_id, PATTERN, 30)["rc"] == 0
        writer: dict[str, Any] = {}
        moved_after = None
        with Watch(agent, vm_id) as watch:
            start = time.monotonic()
            thread = threading.Thread(target=lambda: writer.update(guest_exec(
                uri, vm_id, WRITE.format(n=WRITTEN_MIB // 8, dev="vda"), 300)),
                daemon=True)
            thread.start()
            if spm_moves:
                deadline = time.monotonic() + 120
                while len(extender.took) < 3 and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert len(extender.took) >= 3, extender.requests
                ok(pa.spmStop(sp))                    # mid-stream
                moved_after = len(extender.took)
                become_spm(pb, sp, 90)
            thread.join(300)
            took = time.monotonic() - start
        assert writer.get("rc") == 0, writer
        assert f"{WRITTEN_MIB}+0 records out" in writer["out"], writer
        sums = guest_exec(uri, vm_id, CHECK.format(dev="vda", mib=WRITTEN_MIB,
                                               n=WRITTEN_MIB // 8),
                          300)["out"].split("\n")
        assert sums[0].split()[0] == sums[1].split()[0], sums

        by_a, by_b = extended_sizes(a, sd, vol), extended_sizes(b, sd, vol)
        applied = by_a + by_b
        asked = sorted({r.size for r in extender.requests})
        print(f"\nVM on B: {WRITTEN_MIB} MiB in {took:.1f} s "
              f"({WRITTEN_MIB / took:.0f} MiB/s), "
              f"{len(extender.requests)} requests, {len(applied)} extensions "
              f"(by A {len(by_a)}, by B {len(by_b)}), SPM moved after "
              f"{moved_after}, errors {extender.errors}, pauses {watch.pauses} "
              f"({watch.paused_time:.1f} s paused), round trip "
              f"{min(extender.took):.2f}-{max(extender.took):.2f} s")
        assert applied == asked, (by_a, by_b, asked)   # each size once, in order
        steps = zip([CHUNK, *applied[:-1]], applied, strict=True)
        assert all(n - p == CHUNK for p, n in steps), applied
        assert os.path.getsize(b_files.path(vol)) == applied[-1]   # not more
        assert applied[-1] >= WRITTEN_MIB * MIB
        if spm_moves:
            assert by_a and by_b, (by_a, by_b)
        else:
            assert by_b == []
        assert set(watch.pauses) <= {"ENOSPC"}
        assert agent.virt.volumes.resumes(vm_id) >= len(watch.pauses)
        wait_status(agent.proxy, vm_id, "Up")
    finally:
        agent.proxy.destroy(vm_id)
