"""vdsm/storage/domains/block/growth.py: extendStorageDomain, resizePV and
refreshVolume on real VGs on loop devices (loop devices listed as LUNs),
a domain-like VG made here: vgcreate plus the MDT_ tags of a new domain."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import pytest

from tests.storage import lvfiles
from tests.storage.helpers import loop_device
from tests.storage.lvmhelpers import loop_devices, need_lvm, vg_names
from vdsm.common import commands
from vdsm.storage import constants as sc
from vdsm.storage import lvm_cmd, lvm_errors
from vdsm.storage.blockdevs import BlockStorage
from vdsm.storage.devices.errors import InaccessiblePhysDev
from vdsm.storage.domains.block import growth, layout, tags
from vdsm.storage.domains.block.vgaccess import VGAccess
from vdsm.storage.errors import (
    MetaDataValidationError,
    SpmStatusError,
    VolumeDoesNotExist,
)
from vdsm.storage.io.file_operations import LocalFileOps
from vdsm.storage.leases import manager as leases
from vdsm.storage.lvm import LVM, LocalRunner
from vdsm.storage.lvm_report import PV

MIB = 1024 * 1024
EXTENT = 128 * MIB
LUN_MB = 1024


def pv(name: str, uuid: str, pe_count: int) -> PV:
    return PV(name=name, uuid=uuid, size=0, free=0, vg_name="vg", pe_count=pe_count,
              pe_alloc_count=0, dev_size=0, pe_start=0, mda_count=1,
              mda_used_count=1, mda_size=0, mda_free=0)


def test_updated_mapping_appends_new_pvs_and_keeps_old_entries():
    md = {"SDUUID": "sd", "PV0": layout.encode_pv_info("a", "u-a", 10, 0),
          "PV1": layout.encode_pv_info("b", "u-b", 5, 10)}
    pvs = [pv("/dev/mapper/b", "u-b", 7), pv("/dev/mapper/c", "u-c", 3),
           pv("/dev/mapper/a", "u-a", 12)]
    assert growth.updated_mapping(md, pvs) == {
        **md, "PV2": "pv:c,uuid:u-c,pestart:0,pecount:3,mapoffset:15"}
    # a resized PV gets its new pecount; offsets never move
    assert growth.updated_mapping(md, pvs[:1], resized=["b"]) == {
        **md, "PV1": "pv:b,uuid:u-b,pestart:0,pecount:7,mapoffset:10"}
    assert growth.updated_mapping({}, pvs[:1]) == {
        "PV0": "pv:b,uuid:u-b,pestart:0,pecount:7,mapoffset:0"}


def mapping(lvm: LVM, vg: str) -> dict[str, dict[str, str]]:
    md = tags.parse_domain_tags(lvm.vg(vg).tags)   # the checksum holds
    return {k: layout.decode_pv_info(v) for k, v in md.items() if k.startswith("PV")}


def domain_tags(lvm: LVM, vg: str) -> list[str]:
    lvm.invalidate(vg)
    return sorted(t for t in lvm.vg(vg).tags if t.startswith(tags.MDT_PREFIX))


@contextlib.contextmanager
def domain_vg(count: int, lv_dir: str = "/dev", *,
              activation: bool = True) -> Iterator[tuple[VGAccess, list[str]]]:
    """A VG on the first of ``count`` loop devices, tagged as a new block
    domain would be (MDT_ tags with PV0), and all the devices."""
    with loop_devices(count, size_mb=LUN_MB) as devices, vg_names() as (name,):
        lvm = LVM(LocalRunner())
        lvm.pvcreate(devices[:1])
        vg = lvm.vgcreate(name, devices[:1], tags=[tags.UNREADY_DOMAIN_TAG])
        md = layout.initial_metadata(
            sd_uuid=name, name="blk", dom_type=sc.ISCSI_DOMAIN,
            dom_class=sc.DATA_DOMAIN, version=5, vg_uuid=vg.uuid,
            mapping=layout.pv_mapping(lvm.vg_pvs(name), devices[0]))
        lvm.change_vg_tags(name, add=tags.domain_tags(md))
        delete, add = layout.READY_TAG_CHANGE
        lvm.change_vg_tags(name, delete=delete, add=add)
        yield VGAccess(sd_uuid=name, lvm=lvm, lv_dir=lv_dir, ops=LocalFileOps(),
                       leases=leases.create("sanlock", io_timeout=1), version=5,
                       activation=activation), devices


def guid(node: str) -> str:
    return os.path.basename(node)   # a loop device has no identity: its name


@pytest.fixture
def blocks() -> BlockStorage:
    return BlockStorage(LVM(LocalRunner()), include_loop=True)


@need_lvm
def test_extend_adds_pvs_and_their_mapping(blocks):
    with domain_vg(3) as (vg, devices):
        lvm = vg.lvm
        pv0 = mapping(lvm, vg.sd_uuid)["PV0"]
        growth.extend_domain(vg, blocks, [guid(devices[1])])
        assert sorted(lvm.vg(vg.sd_uuid).pv_names) == sorted(devices[:2])
        new = {p.name: p for p in lvm.vg_pvs(vg.sd_uuid)}[devices[1]]
        assert new.mda_count == 2 and new.mda_used_count == 0   # classic metadata
        assert mapping(lvm, vg.sd_uuid) == {"PV0": pv0, "PV1": {
            "guid": guid(devices[1]), "uuid": new.uuid, "pestart": "0",
            "pecount": str(new.pe_count), "mapoffset": pv0["pecount"]}}
        growth.extend_domain(vg, blocks, [guid(devices[2])])
        pv2 = mapping(lvm, vg.sd_uuid)["PV2"]
        assert pv2["guid"] == guid(devices[2])
        assert int(pv2["mapoffset"]) == int(pv0["pecount"]) + new.pe_count
        assert tags.DOMAIN_TAG in lvm.vg(vg.sd_uuid).tags


@need_lvm
def test_pv_of_another_vg_is_refused_without_force(blocks):
    with domain_vg(2) as (vg, devices), vg_names() as (other,):
        lvm = vg.lvm
        lvm.pvcreate(devices[1:])
        other_uuid = lvm.vgcreate(other, devices[1:]).uuid
        before = domain_tags(lvm, vg.sd_uuid)
        with pytest.raises(lvm_errors.PhysDevInitializationError, match=other_uuid):
            growth.extend_domain(vg, blocks, [guid(devices[1])])
        assert domain_tags(lvm, vg.sd_uuid) == before
        assert lvm.vg(vg.sd_uuid).pv_names == (devices[0],)
        assert lvm.find_vg(other, devices[1:]).pv_names == (devices[1],)
        # force takes it, as createVG's force does
        growth.extend_domain(vg, blocks, [guid(devices[1])], force=True)
        assert sorted(lvm.vg(vg.sd_uuid).pv_names) == sorted(devices)
        assert "PV1" in mapping(lvm, vg.sd_uuid)


@need_lvm
def test_own_pv_is_refused_even_with_force(blocks):
    with domain_vg(1) as (vg, devices):
        before = domain_tags(vg.lvm, vg.sd_uuid)
        with pytest.raises(lvm_errors.PhysDevInitializationError, match="already"):
            growth.extend_domain(vg, blocks, [guid(devices[0])], force=True)
        assert domain_tags(vg.lvm, vg.sd_uuid) == before


@need_lvm
def test_vanished_or_unknown_device_is_refused_and_nothing_changes(blocks):
    with domain_vg(2) as (vg, devices):
        before = domain_tags(vg.lvm, vg.sd_uuid)
        with loop_device(LUN_MB) as gone:
            pass                                    # detached: no longer a LUN
        for bad in ([guid(gone)], [guid(devices[1]), "36001405deaddeaddead"]):
            with pytest.raises(InaccessiblePhysDev):
                growth.extend_domain(vg, blocks, bad)
        assert domain_tags(vg.lvm, vg.sd_uuid) == before
        assert vg.lvm.pvs(devices[1:]) == []        # not even pvcreated


@need_lvm
def test_device_of_another_block_size_is_refused(blocks):
    with domain_vg(1) as (vg, devices), \
            loop_device(LUN_MB, sector_size=4096) as big_sectors:
        with pytest.raises(lvm_errors.VolumeGroupBlockSizeError):
            growth.extend_domain(vg, blocks, [guid(big_sectors)])
        assert vg.lvm.pvs([big_sectors]) == []


@need_lvm
def test_domain_with_broken_metadata_is_not_extended(blocks):
    with domain_vg(2) as (vg, devices):
        (old,) = [t for t in vg.lvm.vg(vg.sd_uuid).tags
                  if t.startswith("MDT_DESCRIPTION=")]
        vg.lvm.change_vg_tags(vg.sd_uuid, delete=[old], add=["MDT_DESCRIPTION=forged"])
        with pytest.raises(MetaDataValidationError):
            growth.extend_domain(vg, blocks, [guid(devices[1])])
        assert vg.lvm.pvs(devices[1:]) == []


class LoseSpmAt:
    """A guard that raises Not SPM at its n-th check (the SPM lost midway)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.calls == self.n:
            raise SpmStatusError("Not SPM: lost in the test")


@need_lvm
@pytest.mark.parametrize("fail_at, step", [(2, "before vgextend"),
                                           (3, "before the mapping")])
def test_failure_midway_leaves_no_half_made_pv(blocks, fail_at, step):
    with domain_vg(2) as (vg, devices):
        before = domain_tags(vg.lvm, vg.sd_uuid)
        with pytest.raises(SpmStatusError):
            growth.extend_domain(vg, blocks, [guid(devices[1])],
                                 guard=LoseSpmAt(fail_at))
        assert vg.lvm.pvs(devices[1:]) == [], step   # pvremove'd back
        vg.lvm.invalidate(vg.sd_uuid)
        assert vg.lvm.vg(vg.sd_uuid).pv_names == (devices[0],)
        assert domain_tags(vg.lvm, vg.sd_uuid) == before
        growth.extend_domain(vg, blocks, [guid(devices[1])])   # and can be redone
        assert "PV1" in mapping(vg.lvm, vg.sd_uuid)


def backing_file(device: str) -> str:
    name = os.path.basename(device)
    with open(f"/sys/block/{name}/loop/backing_file") as f:
        return f.read().strip()


@need_lvm
def test_resize_pv_after_the_lun_grew(blocks):
    with domain_vg(2) as (vg, devices):
        growth.extend_domain(vg, blocks, [guid(devices[1])])
        before = mapping(vg.lvm, vg.sd_uuid)
        old = {p.name: p for p in vg.lvm.vg_pvs(vg.sd_uuid)}[devices[0]]
        os.truncate(backing_file(devices[0]), 2 * LUN_MB * MIB)
        commands.run(["losetup", "-c", devices[0]], timeout=30)
        size = growth.resize_pv(vg, blocks, guid(devices[0]))
        new = {p.name: p for p in vg.lvm.vg_pvs(vg.sd_uuid)}[devices[0]]
        assert size == new.size > old.size
        assert new.pe_count == old.pe_count + LUN_MB * MIB // EXTENT
        after = mapping(vg.lvm, vg.sd_uuid)
        assert after == {"PV0": {**before["PV0"], "pecount": str(new.pe_count)},
                         "PV1": before["PV1"]}
        # nothing grew: the same answer, the mapping as it is
        assert growth.resize_pv(vg, blocks, guid(devices[0])) == size
        assert mapping(vg.lvm, vg.sd_uuid) == after


@need_lvm
def test_resize_pv_of_a_device_outside_the_domain(blocks):
    with domain_vg(2) as (vg, devices):
        with pytest.raises(lvm_errors.CouldNotResizePhysicalVolume):
            growth.resize_pv(vg, blocks, guid(devices[1]))
        with pytest.raises(InaccessiblePhysDev):
            growth.resize_pv(vg, blocks, "36001405deaddeaddead")


def lvfiles_or_skip() -> None:
    why = lvfiles.unavailable()
    if why:
        pytest.skip(f"lvfiles cannot run here: {why}")


@need_lvm
def test_refresh_volume_waits_for_the_new_size_and_times_out(tmp_path):
    lvfiles_or_skip()
    img, vol = "img-1", "vol-1"
    lv_dir = str(tmp_path / "dev")
    with domain_vg(1, lv_dir, activation=False) as (vg, devices):
        vg.lvm.lvcreate(vg.sd_uuid, vol, EXTENT,
                        tags=tags.volume_tags(img, tags.BLANK_UUID, 1))
        served = lvfiles.LVFiles(devices, vg.sd_uuid, os.path.join(lv_dir, vg.sd_uuid))
        with served:
            growth.refresh_volume(vg, img, vol, timeout=5)   # as it is
            # the SPM extends the LV; this host's path still shows the old size
            vg.lvm.lvextend(vg.sd_uuid, vol, 2 * EXTENT)
            with pytest.raises(lvm_errors.LogicalVolumeRefreshError,
                               match=str(EXTENT)):
                growth.refresh_volume(vg, img, vol, timeout=0.5)
            # the path catches up (the map reloaded) while refresh waits
            timer = threading.Timer(0.5, served.refresh)
            timer.start()
            try:
                growth.refresh_volume(vg, img, vol, timeout=20)
            finally:
                timer.join()
            assert growth.lv_size(vg.lv_path(vol)) == 2 * EXTENT
            with pytest.raises(VolumeDoesNotExist):
                growth.refresh_volume(vg, "other-image", vol, timeout=1)
            with pytest.raises(VolumeDoesNotExist):
                growth.refresh_volume(vg, img, "no-such-volume", timeout=1)


@need_lvm
def test_refresh_volume_sees_what_another_host_extended(tmp_path):
    """lvfiles following the VG plays this host's device-mapper: the LV's
    path grows a moment after the SPM's lvextend; refresh waits for it."""
    lvfiles_or_skip()
    img, vol = "img-1", "vol-1"
    lv_dir = str(tmp_path / "dev")
    with domain_vg(1, lv_dir, activation=False) as (vg, devices):
        vg.lvm.lvcreate(vg.sd_uuid, vol, EXTENT,
                        tags=tags.volume_tags(img, tags.BLANK_UUID, 1))
        vg.lvm.lv(vg.sd_uuid, vol)          # this host's cached report
        with lvfiles.LVFiles(devices, vg.sd_uuid, os.path.join(lv_dir, vg.sd_uuid),
                             follow=True):
            spm = LVM(LocalRunner())        # another host's LVM object
            spm.set_devices(vg.sd_uuid, devices[:1])
            spm.lvextend(vg.sd_uuid, vol, 3 * EXTENT)
            growth.refresh_volume(vg, img, vol, timeout=20)
            assert growth.lv_size(vg.lv_path(vol)) == 3 * EXTENT
            assert vg.lvm.lv(vg.sd_uuid, vol).size == 3 * EXTENT


@need_lvm
def test_refresh_with_activation_needs_device_mapper():
    """With activation on, refresh runs lvchange --refresh; this kernel
    has no device-mapper, so it fails loudly with the classic error."""
    if lvm_cmd.device_mapper_available():
        pytest.skip("device-mapper present: lvchange --refresh would work")
    with domain_vg(1) as (vg, _):
        vg.lvm.lvcreate(vg.sd_uuid, "vol-1", EXTENT,
                        tags=tags.volume_tags("img-1", tags.BLANK_UUID, 1))
        with pytest.raises(lvm_errors.LogicalVolumeRefreshError):
            growth.refresh_volume(vg, "img-1", "vol-1", timeout=1)
