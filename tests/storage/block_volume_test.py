"""vdsm/storage/domains/block/volume.py: block volumes on a real VG.

One VG on a sparse loop device holds the special LVs of a format 5
domain; lvfiles (follow mode) serves its LVs as files at
``<tmp>/dev/<VG>/<LV>``, the product's ``lv_dir`` with activation off, so
qemu-img and the metadata slots work on the LVs' real extents.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid

import pytest

from tests.storage import lvfiles
from tests.storage.lvmhelpers import loop_devices, need_lvm, vg_names
from vdsm.common import commands
from vdsm.storage import constants as sc
from vdsm.storage import qemuimg
from vdsm.storage.domains.block import layout, tags, volume_md
from vdsm.storage.domains.block import volume as block_volume
from vdsm.storage.domains.block.activation import Activations
from vdsm.storage.domains.block.vgaccess import VGAccess
from vdsm.storage.domains.block.volume import BlockVolume
from vdsm.storage.domains.volume import VolumeMetadata
from vdsm.storage.errors import (
    IncorrectFormat,
    VolumeCreationError,
    VolumeDoesNotExist,
)
from vdsm.storage.io.file_operations import LocalFileOps
from vdsm.storage.io.out_of_process import IOProcessPool
from vdsm.storage.leases import manager as leases
from vdsm.storage.lvm import LVM, LocalRunner
from vdsm.storage.lvm_errors import CannotActivateLogicalVolume

MIB = 1024 * 1024
GIB = 1024 * MIB
EXTENT = 128 * MIB
COW = sc.VOL_FORMATS[sc.COW_FORMAT]
RAW = sc.VOL_FORMATS[sc.RAW_FORMAT]
SPARSE = sc.VOL_TYPES[sc.SPARSE_VOL]
PREALLOCATED = sc.VOL_TYPES[sc.PREALLOCATED_VOL]
SPECIAL = set(tags.special_lvs(5))

pytestmark = need_lvm


@pytest.fixture(scope="module")
def block_vg():
    """A format 5 domain's VG with its special LVs, LVs served as files."""
    why = lvfiles.unavailable()
    if why:
        pytest.skip(f"lvfiles cannot run here: {why}")
    with loop_devices(1, size_mb=7168) as devices, vg_names(1) as (vg,):
        lvm = LVM(LocalRunner())
        lvm.pvcreate(devices)
        lvm.vgcreate(vg, devices, tags=[tags.DOMAIN_TAG])
        for lv in layout.special_lvs(5):
            lvm.lvcreate(vg, lv.name, lv.size)
        # Not under pytest's basetemp: another pytest session on the
        # machine prunes old basetemps, and with them this module's mount.
        base = tempfile.mkdtemp(prefix="vdsm-bvol-", dir="/var/tmp")
        lv_dir = os.path.join(base, "dev")
        files = lvfiles.LVFiles(devices, vg, os.path.join(lv_dir, vg), follow=True)
        files.start()
        try:
            yield VGAccess(sd_uuid=vg, lvm=lvm, lv_dir=lv_dir, ops=LocalFileOps(),
                           leases=leases.create("sanlock", io_timeout=1), version=5,
                           activation=False, chunk_size=EXTENT)
        finally:
            files.stop()
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def vg(block_vg):
    """The VG, emptied of the volumes a test made (slots cleared too)."""
    yield block_vg
    for lv in block_vg.lvm.lvs(block_vg.sd_uuid):
        if lv.name not in SPECIAL:
            BlockVolume(block_vg.sd_uuid, "img", lv.name, vg=block_vg).remove()


def new_id() -> str:
    return str(uuid.uuid4())


def create(vg: VGAccess, img: str, *, fmt: str = COW, capacity: int = GIB,
           parent: BlockVolume | None = None, preallocate: bool = False,
           vol_uuid: str | None = None) -> BlockVolume:
    """As the SPM's createVolume job: ILLEGAL metadata, data, then LEGAL."""
    vol = BlockVolume(vg.sd_uuid, img, vol_uuid or new_id(), vg=vg)
    md = VolumeMetadata.new(
        domain=vg.sd_uuid, image=img, capacity=capacity, vol_format=fmt,
        vol_type=PREALLOCATED if preallocate else SPARSE, disktype="DATA",
        description="test", parent=parent.vol_uuid if parent else sc.BLANK_UUID)
    vol.write_metadata(md)
    vol.create_data(md, parent=parent, preallocate=preallocate)
    vol.write_metadata(md.updated(legality=sc.LEGAL_VOL))
    return vol


def slot_block(vg: VGAccess, slot: int) -> bytes:
    with open(vg.lv_path(tags.METADATA), "rb") as f:
        return os.pread(f.fileno(), volume_md.BLOCK_SIZE,
                        volume_md.slot_offset(slot, vg.version))


def test_alloc_size_the_classic_way():
    md = VolumeMetadata.new(domain="d", image="i", parent=sc.BLANK_UUID,
                            capacity=10 * GIB, vol_format=COW, vol_type=SPARSE,
                            disktype="DATA", description="")
    chunk = 2560 * MIB
    assert block_volume.alloc_size(md, preallocate=False, chunk_size=chunk) == chunk
    assert block_volume.alloc_size(md, preallocate=False, chunk_size=chunk,
                                   initial_size=GIB) == 1127 * MIB  # 1.1 GiB up
    assert block_volume.alloc_size(md, preallocate=False, chunk_size=chunk,
                                   initial_size=7281049) == 8 * MIB  # measured
    assert block_volume.alloc_size(md, preallocate=True, chunk_size=chunk) == 10 * GIB
    small = md.updated(capacity=GIB)
    assert block_volume.alloc_size(small, preallocate=False, chunk_size=chunk) == GIB
    raw = md.updated(format=RAW)
    assert block_volume.alloc_size(raw, preallocate=True, chunk_size=chunk) == 10 * GIB
    assert block_volume.lease_offset(1) == 101 * MIB
    assert block_volume.lease_offset(3, 8 * MIB) == 103 * 8 * MIB


def test_raw_volume_is_an_lv_of_its_capacity_with_tags_and_metadata(vg):
    img = new_id()
    vol = create(vg, img, fmt=RAW, capacity=256 * MIB, preallocate=True)
    lv = vg.lvm.lv(vg.sd_uuid, vol.vol_uuid)
    assert lv.size == 256 * MIB
    slot = volume_md.first_slot(5)
    assert sorted(lv.tags) == sorted([f"IU_{img}", f"PU_{sc.BLANK_UUID}",
                                      f"MD_{slot}"])
    assert vol.path == os.path.join(vg.lv_dir, vg.sd_uuid, vol.vol_uuid)
    vol.prepare()           # waits for the path, as for udev on a real host
    try:
        info = qemuimg.info(vol.path)
    finally:
        vol.teardown()
    assert info["format"] == "raw" and info["virtual-size"] == 256 * MIB
    md = vol.metadata()
    assert (md.image, md.capacity, md.format, md.type, md.legality) == \
        (img, 256 * MIB, RAW, PREALLOCATED, sc.LEGAL_VOL)
    assert slot_block(vg, slot).startswith(b"CAP=268435456\n")
    assert vol.size() == {"apparentsize": 256 * MIB, "truesize": 256 * MIB}
    assert vol.lease == (vg.lv_path("leases"), (100 + slot) * MIB)
    assert vol.exists()
    with pytest.raises(IncorrectFormat):
        create(vg, img, fmt=RAW, parent=vol)


def test_metadata_round_trips_through_the_slot(vg):
    vol = create(vg, new_id(), fmt=RAW, capacity=EXTENT)
    md = vol.metadata().updated(description="a new description",
                                voltype=sc.VOL_ROLES[sc.INTERNAL_VOL])
    vol.write_metadata(md)
    assert vol.metadata() == md
    assert BlockVolume(vg.sd_uuid, md.image, vol.vol_uuid, vg=vg).metadata() == md


def test_cow_chain_of_three_with_backing_files_relative_to_the_vg(vg):
    img = new_id()
    base = create(vg, img, capacity=GIB)
    mid = create(vg, img, parent=base)
    top = create(vg, img, parent=mid)
    assert vg.lvm.lv(vg.sd_uuid, base.vol_uuid).size == EXTENT    # one chunk
    chain = qemuimg.info(top.path, backing_chain=True)
    assert [c["format"] for c in chain] == ["qcow2"] * 3
    assert [c["virtual-size"] for c in chain] == [GIB] * 3
    assert [c.get("backing-filename") for c in chain] == \
        [mid.vol_uuid, base.vol_uuid, None]
    assert [c.get("backing-filename-format") for c in chain[:2]] == ["qcow2"] * 2
    for vol in (base, mid, top):
        assert qemuimg.check(vol.path, fmt="qcow2").get("corruptions", 0) == 0
        assert tags.UNINIT_TAG not in vg.lvm.lv(vg.sd_uuid, vol.vol_uuid).tags
    assert tags.parse_volume_tags(
        vg.lvm.lv(vg.sd_uuid, top.vol_uuid).tags).parent == mid.vol_uuid
    # Creation took the chain active and let it go.
    assert all(top.activations.count(vg.sd_uuid, v.vol_uuid) == 0
               for v in (base, mid, top))


def test_cow_snapshot_of_a_raw_volume(vg):
    img = new_id()
    base = create(vg, img, fmt=RAW, capacity=EXTENT, preallocate=True)
    top = create(vg, img, capacity=EXTENT, parent=base)
    chain = qemuimg.info(top.path, backing_chain=True)
    assert [c["format"] for c in chain] == ["qcow2", "raw"]
    assert chain[0]["backing-filename"] == base.vol_uuid
    assert chain[0]["backing-filename-format"] == "raw"


def test_removed_volume_frees_its_slot_for_the_next(vg):
    img = new_id()
    a, b, c = (create(vg, img, fmt=RAW, capacity=EXTENT) for _ in range(3))
    assert [v.slot() for v in (a, b, c)] == [1, 2, 3]
    b.remove()
    assert not b.exists()
    assert slot_block(vg, 2) == bytes(volume_md.BLOCK_SIZE)
    with pytest.raises(VolumeDoesNotExist):
        b.metadata()
    b.remove()                                  # idempotent
    d = create(vg, img, fmt=RAW, capacity=EXTENT)
    assert d.slot() == 2
    assert a.metadata().image == c.metadata().image == img


def test_concurrent_creations_never_share_a_slot(vg):
    img = new_id()
    made: list[BlockVolume] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            made.append(create(vg, img, fmt=RAW, capacity=EXTENT))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(made) == 6
    assert sorted(v.slot() for v in made) == [1, 2, 3, 4, 5, 6]
    assert all(v.metadata().image == img for v in made)


def test_failure_mid_creation_is_tagged_then_undone(vg, monkeypatch):
    img = new_id()
    vol_uuid = new_id()
    seen = {}

    def failing_create(path: str, **kwargs: object) -> None:
        lv = vg.lvm.lv(vg.sd_uuid, vol_uuid)
        seen["tags"] = lv.tags
        with pytest.raises(VolumeDoesNotExist):
            BlockVolume(vg.sd_uuid, img, vol_uuid, vg=vg).metadata()
        raise qemuimg.QemuImgError("injected failure")

    monkeypatch.setattr(block_volume.qemuimg, "create", failing_create)
    with pytest.raises(VolumeCreationError):
        create(vg, img, vol_uuid=vol_uuid)
    assert tags.UNINIT_TAG in seen["tags"] and "MD_1" in seen["tags"]
    assert not BlockVolume(vg.sd_uuid, img, vol_uuid, vg=vg).exists()
    assert slot_block(vg, 1) == bytes(volume_md.BLOCK_SIZE)
    monkeypatch.undo()
    assert create(vg, img).slot() == 1


def test_extend_lv_rounds_to_extents_never_shrinks_and_repeats(vg):
    vol = create(vg, new_id(), capacity=4 * GIB)
    assert vol.size()["truesize"] == EXTENT
    assert vol.extend_lv(EXTENT + 1) == 2 * EXTENT
    assert vg.lvm.lv(vg.sd_uuid, vol.vol_uuid).size == 2 * EXTENT
    assert vol.extend_lv(EXTENT + 1) == 2 * EXTENT   # a request delivered twice
    assert vol.extend_lv(EXTENT) == 2 * EXTENT       # never shrinks
    assert vg.lvm.lv(vg.sd_uuid, vol.vol_uuid).size == 2 * EXTENT
    assert vol.refresh() == 2 * EXTENT               # the path shows it
    assert qemuimg.check(vol.path, fmt="qcow2").get("corruptions", 0) == 0


def test_extend_capacity_of_raw_and_cow(vg):
    raw = create(vg, new_id(), fmt=RAW, capacity=EXTENT)
    raw.extend(2 * EXTENT, raw.metadata())
    assert raw.size()["apparentsize"] == 2 * EXTENT
    cow = create(vg, new_id(), capacity=GIB)
    cow.extend(2 * GIB, cow.metadata())
    assert qemuimg.info(cow.path)["virtual-size"] == 2 * GIB
    assert cow.activations.count(vg.sd_uuid, cow.vol_uuid) == 0


def test_prepare_and_teardown_count_users_of_the_chain(vg):
    img = new_id()
    base = create(vg, img)
    top = create(vg, img, parent=base)
    acts = top.activations
    top.prepare()
    top.prepare()       # a second user of the same image
    base.prepare()      # a user of the base only
    assert acts.count(vg.sd_uuid, base.vol_uuid) == 3
    assert acts.count(vg.sd_uuid, top.vol_uuid) == 2
    top.teardown()
    top.teardown()
    assert acts.count(vg.sd_uuid, top.vol_uuid) == 0
    assert acts.count(vg.sd_uuid, base.vol_uuid) == 1
    base.teardown()
    assert acts.count(vg.sd_uuid, base.vol_uuid) == 0


def test_lease_formatted_at_the_slot_offset(vg):
    """Read back by ``sanlock direct`` (no daemon: in a whole-suite run the
    library may still talk to a daemon an earlier test started, which
    does not see this module's LV mount)."""
    vol = create(vg, new_id(), fmt=RAW, capacity=EXTENT)
    vol.create_lease()
    path, offset = vol.lease
    assert offset == (100 + vol.slot()) * MIB
    out = commands.run(["sanlock", "direct", "dump", f"{path}:{offset}"],
                       timeout=30).out
    assert vol.vol_uuid in out and vg.sd_uuid in out


def test_activation_waits_bounded_for_a_path_that_never_comes(vg, tmp_path):
    vol = create(vg, new_id(), fmt=RAW, capacity=EXTENT)
    elsewhere = VGAccess(sd_uuid=vg.sd_uuid, lvm=vg.lvm, lv_dir=str(tmp_path),
                         ops=vg.ops, leases=vg.leases, version=5, activation=False)
    acts = Activations(timeout=0.3)
    with pytest.raises(Exception) as e:
        acts.acquire(elsewhere, [vol.vol_uuid])
    assert "did not appear" in str(e.value)
    assert acts.count(vg.sd_uuid, vol.vol_uuid) == 0


def test_real_lvchange_failing_here_leaves_nothing_held(vg):
    """With activation on, prepare runs lvchange -ay: on this kernel (no
    device-mapper) it fails, and the chain is not counted as held."""
    base = create(vg, new_id(), fmt=RAW, capacity=EXTENT)
    real = VGAccess(sd_uuid=vg.sd_uuid, lvm=vg.lvm, lv_dir=vg.lv_dir, ops=vg.ops,
                    leases=vg.leases, version=5, activation=True)
    vol = BlockVolume(vg.sd_uuid, base.img_uuid, base.vol_uuid, vg=real)
    try:
        vol.prepare()
    except CannotActivateLogicalVolume:
        assert vol.activations.count(vg.sd_uuid, vol.vol_uuid) == 0
    else:
        vol.teardown()
        pytest.skip("lvchange -ay worked: this host has device-mapper")


def test_a_crashed_creation_is_recognised_and_removed(vg):
    """What a creation killed before its end leaves (LV tagged INITIALIZING,
    its slot maybe written) is no volume, and remove() takes it all."""
    vol_uuid, img = new_id(), new_id()
    vg.lvm.lvcreate(vg.sd_uuid, vol_uuid, EXTENT, tags=tags.volume_tags(
        img, sc.BLANK_UUID, 1, initializing=True))
    vol = BlockVolume(vg.sd_uuid, img, vol_uuid, vg=vg)
    md = VolumeMetadata.new(domain=vg.sd_uuid, image=img, parent=sc.BLANK_UUID,
                            capacity=EXTENT, vol_format=RAW, vol_type=PREALLOCATED,
                            disktype="DATA", description="crashed")
    vol._write_slot(1, volume_md.encode(md.to_md()))
    assert vol.exists()
    with pytest.raises(VolumeDoesNotExist):
        vol.metadata()
    vol.remove()
    assert not vol.exists() and slot_block(vg, 1) == bytes(volume_md.BLOCK_SIZE)


def test_format_4_slots_share_a_page_and_keep_each_other(vg):
    v4 = VGAccess(sd_uuid=vg.sd_uuid, lvm=vg.lvm, lv_dir=vg.lv_dir, ops=vg.ops,
                  leases=vg.leases, version=4, activation=False,
                  chunk_size=vg.chunk_size)
    img = new_id()
    a, b = (create(v4, img, fmt=RAW, capacity=EXTENT) for _ in range(2))
    try:
        assert (a.slot(), b.slot()) == (4, 5)      # 512-byte slots, one page
        a.write_metadata(a.metadata().updated(description="only a changed"))
        assert b.metadata().description == "test"
        assert a.metadata().description == "only a changed"
        with open(vg.lv_path(tags.METADATA), "rb") as f:
            assert os.pread(f.fileno(), 8, 4 * 512).startswith(b"CAP=")
    finally:
        a.remove()
        b.remove()


def test_metadata_through_the_out_of_process_helper(vg):
    """As in the daemon: slot I/O in a helper process (O_DIRECT there)."""
    pool = IOProcessPool(timeout=5)
    try:
        oop = VGAccess(sd_uuid=vg.sd_uuid, lvm=vg.lvm, lv_dir=vg.lv_dir,
                       ops=pool.file_ops(vg.sd_uuid), leases=vg.leases, version=5,
                       activation=False, chunk_size=vg.chunk_size)
        vol = create(oop, new_id(), fmt=RAW, capacity=EXTENT)
        md = vol.metadata().updated(description="through the helper")
        vol.write_metadata(md)
        assert BlockVolume(vg.sd_uuid, md.image, vol.vol_uuid, vg=vg).metadata() == md
    finally:
        pool.close_all()
