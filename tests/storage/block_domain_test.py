"""vdsm/storage/domains/block: block domains on a real VG over loop devices.

LVM runs in this process (root); the LVs are served as files by lvfiles
(no device-mapper here) at ``<root>/dev/<VG>``, which is ``[irs] lv_dir``
with ``lv_activation`` off; supervdsm's ops (mkfs_master) run in this
process with their own argument checks; sanlock formats the lockspace
and the SPM lease directly (``sanlock direct init``, no daemon).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.storage import lvfiles
from tests.storage.helpers import need_sanlock, new_uuid
from tests.storage.lvmhelpers import forget_archives, loop_devices, need_lvm
from vdsm.common import commands
from vdsm.common.errors import InvalidParameter
from vdsm.storage import constants as sc
from vdsm.storage.blockdevs import BlockStorage
from vdsm.storage.context import StorageContext
from vdsm.storage.domains.block import create, tags
from vdsm.storage.domains.block.domain import BlockStorageDomain
from vdsm.storage.domains.block.errors import (
    BlockStorageDomainMasterMountError,
    StorageDomainNotEmpty,
    VolumeGroupHasDomainTag,
    VolumesZeroingError,
)
from vdsm.storage.domains.block.volume import BlockVolume
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.operations import DomainService
from vdsm.storage.errors import (
    ImageDoesNotExistInSD,
    StorageDomainCreationError,
    StorageDomainDescriptionTooLongError,
    StorageDomainDoesNotExist,
    VolumeDoesNotExist,
)
from vdsm.storage.io.file_operations import LocalFileOps
from vdsm.storage.lvm import LVM, LocalRunner
from vdsm.storage.lvm_errors import VolumeGroupDoesNotExist, VolumeGroupSizeError
from vdsm.supervdsm import ops
from vdsm.supervdsm.ops import OpContext, Peer

pytestmark = [need_lvm, need_sanlock]
MiB = 1024 * 1024
LUN_MB = 6 * 1024      # two make createVG's 10 GiB minimum (sparse files)


class LocalPrivileged:
    """supervdsm's allowlist run in this process (root), arguments checked
    as supervdsmd checks them; ``fail`` names ops made to fail."""

    def __init__(self, ctx: StorageContext) -> None:
        self._ops = ops.load()
        self._ctx = OpContext(ctx.config, Peer(os.getpid(), 0, 0))
        self.fail: set[str] = set()
        self.calls: list[str] = []

    def call(self, op: str, /, **args: Any) -> Any:
        self.calls.append(op)
        if op in self.fail:
            raise StorageDomainCreationError(f"injected failure of {op}")
        operation = self._ops[op]
        ops.validate(operation, args)
        return operation.func(self._ctx, **args)


@pytest.fixture
def block_ctx(local_ctx: StorageContext) -> Iterator[StorageContext]:
    """The storage context of a host whose LVs are files under <root>/dev."""
    why = lvfiles.unavailable()
    if why:
        pytest.skip(f"lvfiles cannot run here: {why}")
    config = local_ctx.config
    lv_dir = os.path.join(os.path.dirname(config.mount_root), "dev")
    config.set("irs", "lv_dir", lv_dir)
    config.set("irs", "lv_activation", False)
    config.set("irs", "list_loop_devices", True)
    ctx = StorageContext(config=config, supervdsm=None,  # type: ignore[arg-type]
                         io=None, leases=local_ctx.leases, _lvm=LVM(LocalRunner()))
    ctx.supervdsm = LocalPrivileged(ctx)
    yield ctx


class Host:
    """A VG from createVG on two loop LUNs; ``serve_lvs()`` has lvfiles
    follow it, as udev makes /dev/VG/LV appear and go on a real host."""

    def __init__(self, ctx: StorageContext, devices: list[str], sd_uuid: str) -> None:
        self.ctx = ctx
        self.devices = devices
        self.sd_uuid = sd_uuid
        storage = BlockStorage(ctx.lvm, include_loop=True)
        guids = [os.path.basename(d) for d in devices]
        self.vg_uuid = storage.create_vg(sd_uuid, guids)
        self.files: lvfiles.LVFiles | None = None

    def serve_lvs(self) -> Host:
        self.files = lvfiles.LVFiles(self.devices, self.sd_uuid,
                                     os.path.join(self.ctx.lv_dir, self.sd_uuid),
                                     follow=True).start()
        return self

    def stop(self) -> None:
        if self.files is not None:
            self.files.stop()


@pytest.fixture
def host(block_ctx: StorageContext) -> Iterator[Host]:
    """A fresh VG whose LVs appear as files under lv_dir."""
    sd_uuid = new_uuid()
    with loop_devices(2, size_mb=LUN_MB) as devices:
        h = Host(block_ctx, devices, sd_uuid)
        try:
            yield h.serve_lvs()
        finally:
            h.stop()
            forget_archives(sd_uuid)


def create_domain(host: Host, **kw: Any) -> BlockStorageDomain:
    args = {"sd_uuid": host.sd_uuid, "name": "block data", "dom_type": sc.ISCSI_DOMAIN,
            "dom_class": sc.DATA_DOMAIN, "version": 5, "vg_uuid": host.vg_uuid}
    args.update(kw)
    return create.create_domain(host.ctx, **args)


def vg_state(host: Host) -> tuple[list[str], list[str]]:
    """(LV names, VG tags), read by LVM now."""
    lvm = host.ctx.lvm
    lvm.invalidate(host.sd_uuid)
    lvs = sorted(lv.name for lv in lvm.lvs(host.sd_uuid))
    return lvs, sorted(lvm.vg(host.sd_uuid).tags)


def pe_start(host: Host, device: str) -> int:
    return next(pv.pe_start for pv in host.ctx.lvm.vg_pvs(host.sd_uuid)
                if pv.name == device)


def test_create_lays_out_the_special_lvs_metadata_leases_and_master(host):
    # junk where the metadata LV will lie: creation zeroes its first 17 MiB
    start = pe_start(host, host.devices[0])
    with open(host.devices[0], "r+b") as f:
        f.seek(start)
        f.write(b"\xab" * 18 * MiB)
    dom = create_domain(host)
    lvs, vg_tags = vg_state(host)
    assert lvs == sorted(tags.SPECIAL_LVS_V4)
    assert tags.DOMAIN_TAG in vg_tags and tags.UNREADY_DOMAIN_TAG not in vg_tags
    md = dom.read_metadata()
    assert (md["SDUUID"], md["TYPE"], md["CLASS"], md["VERSION"], md["VGUUID"]) == (
        host.sd_uuid, "ISCSI", "Data", "5", host.vg_uuid)
    pv0 = md["PV0"].split(",")[0]
    assert pv0 == "pv:" + os.path.basename(host.devices[0])

    with open(dom.md_path, "rb") as f:
        area = f.read(18 * MiB)
    assert area[:17 * MiB] == bytes(17 * MiB) and area[17 * MiB:] == b"\xab" * MiB
    # the lockspace and the SPM lease are formatted on their LVs
    # (sanlock leader records name the lockspace and the resource)
    with open(dom.ids_path, "rb") as f:
        assert host.sd_uuid.encode() in f.read(4096)
    with open(dom.leases_path, "rb") as f:
        f.seek(sc.SDM_LEASE_OFFSET)
        leader = f.read(4096)
    assert host.sd_uuid.encode() in leader and sc.SDM_LEASE_NAME.encode() in leader
    # the master LV holds an ext4 file system
    fs = commands.run(["blkid", "-p", "-o", "value", "-s", "TYPE",
                       dom.vg.lv_path(tags.MASTER)], timeout=30).out.strip()
    assert fs == "ext4"

    info = dom.info()
    assert [info[k] for k in ("uuid", "type", "vguuid", "state", "role")] == [
        host.sd_uuid, "ISCSI", host.vg_uuid, "OK", "Regular"]
    assert info["metadataDevice"] == info["vgMetadataDevice"] == \
        os.path.basename(host.devices[0])
    assert (info["block_size"], info["alignment"]) == (512, MiB)
    stats = dom.stats()
    assert int(stats["disktotal"]) > 11 * 1024 * MiB
    assert int(stats["diskfree"]) < int(stats["disktotal"]) - 4 * 1024 * MiB
    assert stats["mdavalid"] and stats["mdathreshold"] and stats["mdasize"] > 0
    assert 0 <= dom.check() < 5


def test_metadata_round_trip_and_a_second_host_sees_it_after_invalidate(host):
    spm = create_domain(host)
    other_lvm = LVM(LocalRunner())       # another host: its own report cache
    other_lvm.set_devices(host.sd_uuid, host.devices)
    other_ctx = StorageContext(config=host.ctx.config, supervdsm=host.ctx.supervdsm,
                               io=None, leases=host.ctx.leases, _lvm=other_lvm)
    reader = BlockStorageDomain.from_context(other_ctx, host.sd_uuid)
    assert reader.read_metadata()[sc.MD_DESCRIPTION] == "block data"

    new = spm.update_metadata({sc.MD_DESCRIPTION: "renamed", sc.MD_ROLE: None})
    assert sc.MD_ROLE not in new
    assert spm.read_metadata() == new
    _, vg_tags = vg_state(host)
    assert tags.parse_domain_tags(vg_tags) == new
    assert reader.read_metadata()[sc.MD_DESCRIPTION] == "block data"   # its cache
    reader.invalidate()
    assert reader.read_metadata() == new
    # the monitor's check re-reads the VG once refresh_interval has passed
    spm.update_metadata({sc.MD_DESCRIPTION: "third"})
    reader.check()
    assert reader.read_metadata()[sc.MD_DESCRIPTION] == "renamed"
    reader.refresh_interval = 0
    reader.check()
    assert reader.read_metadata()[sc.MD_DESCRIPTION] == "third"


def test_refused_vgs_answer_the_classic_errors_and_stay_as_they_were(host):
    with pytest.raises(VolumeGroupDoesNotExist):
        create_domain(host, vg_uuid="nOtAVG-uuid-0000-0000-0000-0000-000000")
    with pytest.raises(StorageDomainCreationError):   # not named after the domain
        create_domain(host, sd_uuid=new_uuid())
    host.ctx.lvm.lvcreate(host.sd_uuid, "stray", 128 * MiB)
    with pytest.raises(StorageDomainNotEmpty):
        create_domain(host)
    assert vg_state(host) == (["stray"], [tags.UNREADY_DOMAIN_TAG])
    host.ctx.lvm.lvremove(host.sd_uuid, "stray")
    create_domain(host)
    before = vg_state(host)
    with pytest.raises(VolumeGroupHasDomainTag):
        create_domain(host)
    assert vg_state(host) == before


def test_a_failure_after_the_lvs_exist_removes_them_and_the_tags(host):
    host.ctx.supervdsm.fail.add("mkfs_master")
    with pytest.raises(StorageDomainCreationError, match="injected"):
        create_domain(host)
    assert vg_state(host) == ([], [tags.UNREADY_DOMAIN_TAG])
    host.ctx.supervdsm.fail.clear()
    create_domain(host)                   # the same VG works afterwards
    assert tags.DOMAIN_TAG in vg_state(host)[1]


def test_a_failed_zeroing_is_volumes_zeroing_error_and_undone(host, monkeypatch):
    def broken(self: Any, path: str, offset: int, data: bytes) -> None:
        raise OSError(errno.EIO, "injected I/O error", path)
    monkeypatch.setattr(LocalFileOps, "write_block", broken)
    with pytest.raises(VolumesZeroingError, match="injected"):
        create_domain(host)
    assert vg_state(host) == ([], [tags.UNREADY_DOMAIN_TAG])


def test_bad_metadata_or_a_small_vg_is_refused_before_any_lv(host, block_ctx):
    with pytest.raises(StorageDomainDescriptionTooLongError):
        create_domain(host, name="x" * (sc.DESCRIPTION_SIZE + 1))
    with pytest.raises(InvalidParameter):
        create_domain(host, version=2)
    assert vg_state(host) == ([], [tags.UNREADY_DOMAIN_TAG])
    sd_uuid = new_uuid()
    with loop_devices(1, size_mb=3072) as (small,):
        try:        # a VG createVG would refuse (under 10 GiB), made by hand
            block_ctx.lvm.pvcreate([small])
            vg = block_ctx.lvm.vgcreate(sd_uuid, [small],
                                        tags=[tags.UNREADY_DOMAIN_TAG])
            with pytest.raises(VolumeGroupSizeError):
                create.create_domain(block_ctx, sd_uuid=sd_uuid, name="small",
                                     dom_type=sc.FCP_DOMAIN, dom_class=sc.DATA_DOMAIN,
                                     version=5, vg_uuid=vg.uuid)
            assert block_ctx.lvm.lvs(sd_uuid) == []
        finally:
            forget_archives(sd_uuid)


def test_lvs_that_never_appear_fail_in_bounded_time_and_undo(block_ctx):
    sd_uuid = new_uuid()
    with loop_devices(2, size_mb=LUN_MB) as devices:
        h = Host(block_ctx, devices, sd_uuid)     # no lvfiles: paths never appear
        try:
            with pytest.raises(StorageDomainCreationError, match="did not appear"):
                create_domain(h, lv_wait=0.5)
            assert vg_state(h) == ([], [tags.UNREADY_DOMAIN_TAG])
        finally:
            forget_archives(sd_uuid)


def test_a_vanished_device_is_refused_before_anything_changes(block_ctx):
    sd_uuid = new_uuid()
    with loop_devices(2, size_mb=LUN_MB) as devices:
        try:
            h = Host(block_ctx, devices, sd_uuid)
            commands.run(["losetup", "-d", devices[1]], timeout=30)
            with pytest.raises(VolumeGroupDoesNotExist):
                create_domain(h)
        finally:
            forget_archives(sd_uuid)


def test_cache_finds_lists_and_format_removes_the_domain(host):
    create_domain(host)
    cache = DomainCache(host.ctx, lookup_timeout=5, block_domains=True)
    dom = cache.produce(host.sd_uuid)
    assert isinstance(dom, BlockStorageDomain)
    assert dom.vg.lv_path("ids") == os.path.join(host.ctx.lv_dir, host.sd_uuid, "ids")
    assert host.sd_uuid in cache.scan_all()
    service = DomainService(host.ctx, cache)
    assert host.sd_uuid in service.list(storage_type=sc.ISCSI_DOMAIN)
    assert host.sd_uuid not in service.list(storage_type=sc.NFS_DOMAIN)
    service.validate(host.sd_uuid)
    service.format(host.sd_uuid, auto_detach=False)
    host.ctx.lvm.invalidate()
    assert host.sd_uuid not in cache.scan_all()
    with pytest.raises(StorageDomainDoesNotExist):
        cache.produce(host.sd_uuid)


def test_images_and_volumes_come_from_lv_tags(host):
    dom = create_domain(host)
    img, other = new_uuid(), new_uuid()
    base, top, lone = new_uuid(), new_uuid(), new_uuid()
    lvm = host.ctx.lvm
    for lv, image, parent, slot in ((base, img, sc.BLANK_UUID, 5), (top, img, base, 6),
                                    (lone, other, sc.BLANK_UUID, 7)):
        lvm.lvcreate(host.sd_uuid, lv, 128 * MiB,
                     tags=tags.volume_tags(image, parent, slot))
    assert dom.images() == sorted([img, other])
    assert dom.volumes(img) == sorted([base, top])
    assert dom.volumes() == sorted([base, top, lone])
    assert dom.image_path(img) == os.path.join(
        host.ctx.mount_root, "blockSD", host.sd_uuid, "images", img)
    assert dom.create_image(img) is False and os.path.isdir(dom.image_path(img))
    new_img = new_uuid()
    assert dom.create_image(new_img) is True
    dom.remove_image_if_empty(new_img)
    assert not os.path.exists(dom.image_path(new_img))

    vol = dom.volume(img, top)
    assert isinstance(vol, BlockVolume) and vol.vg is dom.vg
    assert vol.path == os.path.join(host.ctx.lv_dir, host.sd_uuid, top)
    with pytest.raises(VolumeDoesNotExist):
        dom.volume(other, top)           # not in that image
    with pytest.raises(VolumeDoesNotExist):
        dom.extend_volume_lv(new_uuid(), MiB)
    # the SPM's side of a mailbox extension: absolute sizes, applied once
    assert dom.extend_volume_lv(lone, 300 * MiB) == 384 * MiB     # whole extents
    assert dom.extend_volume_lv(lone, 200 * MiB) == 384 * MiB
    dom.refresh_volume(other, lone)

    dom.delete_image(img)
    assert dom.images() == [other] and dom.volumes() == [lone]
    assert not os.path.exists(dom.image_path(img))
    with pytest.raises(ImageDoesNotExistInSD):
        dom.delete_image(img)


def test_master_lv_mounted_for_the_master_role_and_unmounted_on_release(host):
    dom = create_domain(host)
    assert not dom.master_mounted()
    dom.create_master_dir()
    assert dom.master_mounted()
    assert dom.master_dir == os.path.join(host.ctx.mount_root, "blockSD",
                                          host.sd_uuid, "master")
    task_file = os.path.join(dom.master_dir, sc.TASKS_DIR, "t1")
    with open(task_file, "w") as f:
        f.write("task")
    dom.create_master_dir()                 # again: already mounted, no change
    dom.release_master_dir()
    assert not dom.master_mounted() and not os.path.exists(task_file)
    dom.create_master_dir()                 # the same file system comes back
    with open(task_file) as f:
        assert f.read() == "task"
    dom.format()                            # unmounts before removing the VG
    assert not dom.master_mounted()
    assert not os.path.exists(os.path.dirname(dom.master_dir))


def test_a_master_that_does_not_mount_is_the_classic_mount_error(host):
    dom = create_domain(host)
    with open(dom.vg.lv_path(tags.MASTER), "r+b") as f:
        f.seek(1024)                      # the ext4 superblock
        f.write(bytes(4096))
    with pytest.raises(BlockStorageDomainMasterMountError):
        dom.create_master_dir()
    assert not dom.master_mounted()
