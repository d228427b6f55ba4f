"""File domains and their volumes on a local directory (no daemon, no mount).

Domain creation formats its lockspace and SPM lease with ``sanlock direct
init`` (the sanlock package, no daemon). Volume jobs run as real tasks of a
TaskManager, with their undo steps registered by name.
"""

from __future__ import annotations

import os

import pytest

from tests.storage.helpers import need_sanlock, new_uuid
from vdsm.common.errors import VdsmError
from vdsm.storage import constants as sc
from vdsm.storage import qemuimg
from vdsm.storage import resources as rm
from vdsm.storage.connections import mounts
from vdsm.storage.domains import image, metadata
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.operations import DomainService
from vdsm.storage.errors import (
    CreateIllegalVolumeSnapshotError,
    MetaDataValidationError,
    StorageDomainAlreadyExists,
    StorageDomainDoesNotExist,
    StorageDomainFSNotMounted,
    UnexpectedVolumeState,
    VolumeAlreadyExists,
    VolumeImageHasChildren,
)
from vdsm.storage.spm.recovery import Recoveries
from vdsm.storage.volumes import VolumeOperations
from vdsm.tasks.manager import TaskManager
from vdsm.tasks.recovery import RecoveryRegistry

pytestmark = need_sanlock
MiB = 1024 * 1024
BLANK = sc.BLANK_UUID


@pytest.fixture(params=["local", "oop"])
def ctx(request, local_ctx, oop_ctx):
    return local_ctx if request.param == "local" else oop_ctx


@pytest.fixture
def env(ctx):
    """A localfs connection (a directory linked under the mount root)."""
    data_dir = os.path.join(os.path.dirname(ctx.mount_root), "export")
    os.makedirs(data_dir)
    os.symlink(data_dir, os.path.join(ctx.mount_root,
                                      mounts.transform_path(data_dir)))
    cache = DomainCache(ctx, lookup_timeout=5)
    registry = RecoveryRegistry()
    Recoveries(cache, lambda: None).register(registry)
    tasks = TaskManager(2, registry=registry)
    yield {"ctx": ctx, "cache": cache, "domains": DomainService(ctx, cache),
           "dir": data_dir, "tasks": tasks,
           "ops": VolumeOperations(cache, rm.ResourceManager(timeout=5), lambda: None)}
    tasks.shutdown(10)


def create_domain(env, dom_class=sc.DATA_DOMAIN):
    sd_uuid = new_uuid()
    env["domains"].create(storage_type=sc.LOCALFS_DOMAIN, sd_uuid=sd_uuid,
                          name="test domain", type_arg=env["dir"],
                          dom_class=dom_class, version=None)
    return sd_uuid


def run(env, job):
    """Run a job as a task; return its status."""
    task_id = env["tasks"].schedule(job)
    assert env["tasks"].wait(task_id, 30)
    return env["tasks"].get_status(task_id)


def create_volume(env, sd_uuid, img, vol, *, fmt=sc.RAW_FORMAT, parent=BLANK,
                  parent_img=BLANK, prealloc=sc.SPARSE_VOL, size=4 * MiB):
    return run(env, lambda c: env["ops"].create(
        c, sd_uuid=sd_uuid, img_uuid=img, size=size, vol_format=fmt,
        preallocate=prealloc, disk_type="DATA", vol_uuid=vol, description="d",
        src_img_uuid=parent_img, src_vol_uuid=parent))


def test_domain_layout_and_classic_metadata(env):
    sd_uuid = create_domain(env)
    top = os.path.join(env["dir"], sd_uuid)
    assert sorted(os.listdir(top)) == ["dom_md", "images"]
    assert sorted(os.listdir(os.path.join(top, "dom_md"))) == [
        "ids", "inbox", "leases", "metadata", "outbox"]
    with open(os.path.join(top, "dom_md", "metadata"), "rb") as f:
        md = metadata.parse_domain(f.read())
    assert md["SDUUID"] == sd_uuid and md["CLASS"] == "Data"
    assert md["TYPE"] == "LOCALFS" and md["ROLE"] == "Regular"
    assert md["REMOTE_PATH"] == env["dir"] and md["POOL_UUID"] == ""
    # the SPM lease is formatted at 1 MiB of leases (sanlock's on-disk magic)
    with open(os.path.join(top, "dom_md", "leases"), "rb") as f:
        f.seek(sc.SDM_LEASE_OFFSET)
        assert f.read(4) != b"\0\0\0\0"
    info = env["domains"].info(sd_uuid)
    assert info["uuid"] == sd_uuid and info["class"] == "Data"
    assert env["domains"].list() == [sd_uuid]
    assert env["domains"].list(dom_class=sc.ISO_DOMAIN) == []


def test_domain_creation_refusals(env):
    sd_uuid = create_domain(env)
    with pytest.raises(StorageDomainAlreadyExists):
        env["domains"].create(storage_type=sc.LOCALFS_DOMAIN, sd_uuid=sd_uuid,
                              name="again", type_arg=env["dir"],
                              dom_class=sc.DATA_DOMAIN, version=None)
    with pytest.raises(StorageDomainFSNotMounted):
        env["domains"].create(storage_type=sc.LOCALFS_DOMAIN, sd_uuid=new_uuid(),
                              name="x", type_arg="/nowhere/connected",
                              dom_class=sc.DATA_DOMAIN, version=None)
    assert not [n for n in os.listdir(env["dir"]) if n.startswith(".")]


def test_corrupted_domain_metadata_is_reported(env):
    sd_uuid = create_domain(env)
    path = os.path.join(env["dir"], sd_uuid, "dom_md", "metadata")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data.replace(b"DESCRIPTION=test domain", b"DESCRIPTION=evil domain"))
    with pytest.raises(MetaDataValidationError):
        env["domains"].info(sd_uuid)
    with pytest.raises(MetaDataValidationError):
        env["domains"].validate(sd_uuid)


def test_iso_domain_lists_files(env):
    sd_uuid = create_domain(env, sc.ISO_DOMAIN)
    iso_dir = os.path.join(env["dir"], sd_uuid, "images", sc.ISO_IMAGE_UUID)
    for name in ("b.iso", "a.iso", "f.vfd"):
        open(os.path.join(iso_dir, name), "w").close()
    dom = env["cache"].produce(sd_uuid)
    assert dom.files("*.iso") == ["a.iso", "b.iso"]
    assert dom.files("*.vfd") == ["f.vfd"]


def test_volumes_chain_and_roles(env):
    sd_uuid = create_domain(env)
    img, base, snap, top = new_uuid(), new_uuid(), new_uuid(), new_uuid()
    assert create_volume(env, sd_uuid, img, base)["taskResult"] == "success"
    assert create_volume(env, sd_uuid, img, snap, fmt=sc.COW_FORMAT,
                         parent=base)["taskResult"] == "success"
    assert create_volume(env, sd_uuid, img, top, fmt=sc.COW_FORMAT,
                         parent=snap)["taskResult"] == "success"
    dom = env["cache"].produce(sd_uuid)
    assert image.chain(dom, img) == [base, snap, top]
    mds = image.volumes_metadata(dom, img)
    assert [mds[v].voltype for v in (base, snap, top)] == ["INTERNAL", "INTERNAL",
                                                            "LEAF"]
    assert all(md.is_legal for md in mds.values())
    info = qemuimg.info(dom.volume(img, top).path, backing_chain=True)
    assert [i["format"] for i in info] == ["qcow2", "qcow2", "raw"]
    assert info[0]["backing-filename"] == snap
    # a snapshot of a non-leaf is refused, so is a duplicate
    status = create_volume(env, sd_uuid, img, new_uuid(), fmt=sc.COW_FORMAT,
                           parent=base)
    assert status["taskResult"] == "cleanSuccess"
    assert "leaf" in status["message"]
    status = create_volume(env, sd_uuid, img, top, fmt=sc.COW_FORMAT, parent=top)
    assert status["code"] != 0
    assert image.chain(dom, img) == [base, snap, top]


def test_delete_leaf_makes_parent_leaf_and_refuses_parents(env):
    sd_uuid = create_domain(env)
    img, base, snap = new_uuid(), new_uuid(), new_uuid()
    create_volume(env, sd_uuid, img, base)
    create_volume(env, sd_uuid, img, snap, fmt=sc.COW_FORMAT, parent=base)
    ops = env["ops"]
    with pytest.raises(VolumeImageHasChildren):
        ops.delete(_Ctx(), sd_uuid=sd_uuid, img_uuid=img, vol_uuids=[base])
    ops.delete(_Ctx(), sd_uuid=sd_uuid, img_uuid=img, vol_uuids=[snap])
    dom = env["cache"].produce(sd_uuid)
    assert dom.volumes(img) == [base]
    assert dom.volume(img, base).metadata().voltype == "LEAF"
    ops.delete(_Ctx(), sd_uuid=sd_uuid, img_uuid=img, vol_uuids=[base])
    assert dom.images() == []


def test_failed_create_is_rolled_back(env):
    """The parent's data vanished: qemu-img fails after the new volume's
    ILLEGAL metadata was written; the rollback removes every trace."""
    sd_uuid = create_domain(env)
    img, base, snap = new_uuid(), new_uuid(), new_uuid()
    create_volume(env, sd_uuid, img, base)
    dom = env["cache"].produce(sd_uuid)
    os.rename(dom.volume(img, base).path, dom.volume(img, base).path + ".away")
    status = create_volume(env, sd_uuid, img, snap, fmt=sc.COW_FORMAT, parent=base)
    assert status["taskResult"] == "cleanSuccess", status
    assert dom.volumes(img) == [base]
    assert not [n for n in os.listdir(dom.image_path(img)) if n.startswith(snap)]
    assert dom.volume(img, base).metadata().voltype == "LEAF"


def test_illegal_parent_and_existing_volume(env):
    sd_uuid = create_domain(env)
    img, base = new_uuid(), new_uuid()
    create_volume(env, sd_uuid, img, base)
    env["ops"].update(sd_uuid=sd_uuid, img_uuid=img, vol_uuid=base,
                      legality=sc.ILLEGAL_VOL)
    with pytest.raises(CreateIllegalVolumeSnapshotError):
        env["ops"].create(_Ctx(), sd_uuid=sd_uuid, img_uuid=img, size=MiB,
                          vol_format=sc.COW_FORMAT, preallocate=sc.SPARSE_VOL,
                          disk_type="DATA", vol_uuid=new_uuid(), description="",
                          src_img_uuid=img, src_vol_uuid=base)
    with pytest.raises(VolumeAlreadyExists):
        env["ops"].create(_Ctx(), sd_uuid=sd_uuid, img_uuid=img, size=MiB,
                          vol_format=sc.RAW_FORMAT, preallocate=sc.SPARSE_VOL,
                          disk_type="DATA", vol_uuid=base, description="",
                          src_img_uuid=BLANK, src_vol_uuid=BLANK)


def test_preallocated_raw_and_extend(env):
    sd_uuid = create_domain(env)
    img, vol = new_uuid(), new_uuid()
    create_volume(env, sd_uuid, img, vol, prealloc=sc.PREALLOCATED_VOL, size=8 * MiB)
    dom = env["cache"].produce(sd_uuid)
    assert dom.volume(img, vol).size()["truesize"] >= 8 * MiB
    env["ops"].extend_size(_Ctx(), sd_uuid=sd_uuid, img_uuid=img, vol_uuid=vol,
                           new_size=16 * MiB)
    assert dom.volume(img, vol).metadata().capacity == 16 * MiB
    assert os.path.getsize(dom.volume(img, vol).path) == 16 * MiB


def test_template_is_shared_by_hard_links(env):
    sd_uuid = create_domain(env)
    timg, tvol, img, vol = new_uuid(), new_uuid(), new_uuid(), new_uuid()
    create_volume(env, sd_uuid, timg, tvol)
    env["ops"].update(sd_uuid=sd_uuid, img_uuid=timg, vol_uuid=tvol, voltype="SHARED")
    status = create_volume(env, sd_uuid, img, vol, fmt=sc.COW_FORMAT, parent=tvol,
                           parent_img=timg)
    assert status["taskResult"] == "success", status
    dom = env["cache"].produce(sd_uuid)
    assert sorted(dom.volumes(img)) == sorted([tvol, vol])
    assert os.stat(dom.volume(img, tvol).path).st_nlink == 2
    assert image.chain(dom, img) == [tvol, vol]
    with pytest.raises(UnexpectedVolumeState):  # not a template
        env["ops"].create(_Ctx(), sd_uuid=sd_uuid, img_uuid=new_uuid(), size=MiB,
                          vol_format=sc.COW_FORMAT, preallocate=sc.SPARSE_VOL,
                          disk_type="DATA", vol_uuid=new_uuid(), description="",
                          src_img_uuid=img, src_vol_uuid=vol)


class _Ctx:
    """A job context outside a task (undo steps ignored)."""

    aborting = False

    def check_abort(self) -> None:
        pass

    def add_recovery(self, name, args=None) -> None:
        pass

    def clear_recoveries(self) -> None:
        pass


def test_domain_whose_storage_went_away_is_358(env):
    """Its connection removed (disconnectStorageServer) while cached: every
    query answers StorageDomainDoesNotExist (stats and images answered 16
    before, found by tests/api/fuzz_test.py)."""
    sd_uuid = create_domain(env)
    domains = env["domains"]
    assert domains.images(sd_uuid) == []
    link = os.path.join(env["ctx"].mount_root,
                        mounts.transform_path(env["dir"]))
    os.unlink(link)
    for query in (domains.stats, domains.images, domains.info):
        with pytest.raises(StorageDomainDoesNotExist):
            query(sd_uuid)


def test_refused_domain_creation_leaves_no_helper(oop_ctx):
    """createStorageDomain on a path never connected kept an I/O helper
    process per path (found by the fuzzer through vdsmd's fds)."""
    domains = DomainService(oop_ctx, DomainCache(oop_ctx, lookup_timeout=5))
    for path in ("/nonexistent/a", "relative", "\U0001f600"):
        with pytest.raises(VdsmError):
            domains.create(storage_type=sc.LOCALFS_DOMAIN, sd_uuid=new_uuid(),
                           name="x", type_arg=path, dom_class=sc.DATA_DOMAIN,
                           version=None)
        assert not oop_ctx.has_file_ops(
            domains.mount_dir(sc.LOCALFS_DOMAIN, path))
