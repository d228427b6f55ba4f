"""Image and volume verbs on a block domain, through a real agent.

The engine's story on a pool whose master is a block domain (LVs served
by lvfiles: no device-mapper here): RAW preallocated and COW sparse
volumes, a snapshot chain, the reading verbs, description and legality,
extendVolumeSize, prepareImage with data written through the VM's path,
teardownImage, deleteVolume and deleteImage; copyImage, moveImage,
cloneImageStructure and syncImageData between file and block domains;
every changing verb refused (654) by a host that is not the SPM.
"""

from __future__ import annotations

import os

import pytest

from tests.storage import blockagent
from tests.storage.blockagent import (
    MiB,
    block_host,
    block_pool,
    new_lv_dir,
    root_lvm,
    serve_lvs,
)
from tests.storage.blockdevs_test import guid_of
from tests.storage.helpers import (
    BLANK,
    loop_ext4,
    merged,
    new_uuid,
    ok,
    posix_connection,
    wait_task,
)
from tests.storage.lvmhelpers import need_lvm
from vdsm.common import commands
from vdsm.storage import qemuimg
from vdsm.storage.domains.block import tags

pytestmark = need_lvm
lv_dir, host = blockagent.lv_dir, blockagent.host     # the shared fixtures
RAW, COW, PREALLOCATED, SPARSE = 5, 4, 1, 2
GiB = 1024 * MiB


def run_task(proxy, answer, timeout=90):
    status = wait_task(proxy, ok(answer)["uuid"], timeout)
    assert status["taskResult"] == "success", status
    return status


def lv_tags(lvm, sd, vol):
    lvm.invalidate()
    return tags.parse_volume_tags(lvm.lv(sd, vol).tags)


def test_volume_lifecycle_on_a_block_domain(host, lv_dir):
    p = host.proxy()
    with block_pool(p, lv_dir) as names:
        sd, sp, nodes = names["sd"], names["sp"], names["nodes"]
        lvm = root_lvm(sd, nodes)
        img, base, snap = new_uuid(), new_uuid(), new_uuid()
        run_task(p, p.createVolume(sd, sp, img, 128 * MiB, RAW, PREALLOCATED, "DATA",
                                   base, "base"))
        run_task(p, p.createVolume(sd, sp, img, 128 * MiB, COW, SPARSE, "DATA", snap,
                                   "snapshot", img, base))
        cow_img, cow = new_uuid(), new_uuid()
        run_task(p, p.createVolume(sd, sp, cow_img, str(4 * GiB), COW, SPARSE, "DATA",
                                   cow, "cow"))

        sized_img, sized = new_uuid(), new_uuid()    # the engine's initialSize
        run_task(p, p.createVolume(sd, sp, sized_img, str(4 * GiB), COW, SPARSE,
                                   "DATA", sized, "sized", BLANK, BLANK,
                                   str(200 * MiB)))

        # LVs: sizes, tags and the chain as the classic agent laid them out
        assert lvm.lv(sd, base).size == 128 * MiB
        assert lvm.lv(sd, cow).size == 2560 * MiB     # one chunk, not capacity
        assert lvm.lv(sd, sized).size == 256 * MiB    # 220 MiB in extents
        base_tags, snap_tags = lv_tags(lvm, sd, base), lv_tags(lvm, sd, snap)
        assert (base_tags.image, snap_tags.image, snap_tags.parent) == (img, img, base)
        assert not snap_tags.initializing and base_tags.slot != snap_tags.slot

        # reading verbs
        assert sorted(ok(p.getImagesList(sd))["imageslist"]) == sorted(
            [img, cow_img, sized_img])
        assert sorted(ok(p.getVolumesList(sd, sp, img))["uuidlist"]) == sorted(
            [base, snap])
        info = ok(p.getVolumeInfo(sd, sp, img, base))["info"]
        assert (info["format"], info["type"], info["voltype"], info["legality"],
                info["children"]) == ("RAW", "PREALLOCATED", "INTERNAL", "LEGAL",
                                      [snap])
        info = ok(p.getVolumeInfo(sd, sp, img, snap))["info"]
        assert (info["format"], info["type"], info["voltype"], info["parent"],
                info["capacity"]) == ("COW", "SPARSE", "LEAF", base, str(128 * MiB))
        size = merged(p.getVolumeSize(sd, sp, cow_img, cow))
        assert size["apparentsize"] == size["truesize"] == str(lvm.lv(sd, cow).size)

        ok(p.setVolumeDescription(sd, sp, img, snap, "described"))
        assert ok(p.getVolumeInfo(sd, sp, img, snap))["info"]["description"] == \
            "described"
        ok(p.setVolumeLegality(sd, sp, cow_img, cow, "ILLEGAL"))
        assert ok(p.getVolumeInfo(sd, sp, cow_img, cow))["info"]["legality"] == \
            "ILLEGAL"
        assert p.prepareImage(sp, sd, cow_img, cow)["status"]["code"] == 227
        ok(p.setVolumeLegality(sd, sp, cow_img, cow, "LEGAL"))

        # extendVolumeSize: RAW grows its LV, COW its virtual size
        run_task(p, p.extendVolumeSize(sp, sd, img, snap, 192 * MiB))
        run_task(p, p.extendVolumeSize(sp, sd, cow_img, cow, str(5 * GiB)))
        assert ok(p.getVolumeInfo(sd, sp, cow_img, cow))["info"]["capacity"] == \
            str(5 * GiB)

        # prepareImage: the VM's path through the pool's links, the chain
        prepared = merged(p.prepareImage(sp, sd, img, snap))
        image_dir = os.path.join(host.config.repository, sp, sd, "images", img)
        assert prepared["path"] == os.path.join(image_dir, snap)
        assert [v["volumeID"] for v in prepared["imgVolumesInfo"]] == [base, snap]
        leases = os.path.join(lv_dir, sd, "leases")
        assert [(v["leasePath"], v["leaseOffset"]) for v in prepared["imgVolumesInfo"]
                ] == [(leases, (100 + lv_tags(lvm, sd, v).slot) * MiB)
                      for v in (base, snap)]
        links = os.path.join(host.config.mount_root, "blockSD", sd, "images", img)
        assert sorted(os.listdir(links)) == sorted([base, snap])
        assert os.path.realpath(os.path.join(links, base)) == os.path.join(
            lv_dir, sd, base)
        assert qemuimg.info(prepared["path"])["virtual-size"] == 192 * MiB
        qemuimg_io(prepared["path"], "write -P 0x5a 1M 1M")
        qemuimg_io(prepared["path"], "read -P 0x5a 1M 1M")
        ok(p.teardownImage(sp, sd, img, snap))

        # delete: the snapshot (its parent becomes the leaf), then images
        run_task(p, p.deleteVolume(sd, sp, img, [snap]))
        assert ok(p.getVolumeInfo(sd, sp, img, base))["info"]["voltype"] == "LEAF"
        lvm.invalidate()
        assert snap not in [lv.name for lv in lvm.lvs(sd)]
        run_task(p, p.deleteImage(sd, sp, img))
        run_task(p, p.deleteImage(sd, sp, cow_img))
        run_task(p, p.deleteImage(sd, sp, sized_img))
        assert ok(p.getImagesList(sd))["imageslist"] == []
        lvm.invalidate()
        assert not {base, snap, cow} & {lv.name for lv in lvm.lvs(sd)}
        assert not os.path.exists(links)


def qemuimg_io(path, command, fmt="qcow2"):
    commands.run(["qemu-io", "-f", fmt, "-c", command, path], timeout=60)


def test_copy_and_move_images_between_file_and_block_domains(host, lv_dir):
    p = host.proxy()
    with block_pool(p, lv_dir) as names, loop_ext4(512) as device:
        bsd, sp, nodes = names["sd"], names["sp"], names["nodes"]
        lvm = root_lvm(bsd, nodes)
        con = posix_connection(device)
        ok(p.connectStorageServer(6, BLANK, [con]))
        try:
            fsd = new_uuid()
            ok(p.createStorageDomain(6, fsd, "file data", device, 1))
            ok(p.attachStorageDomain(fsd, sp))
            ok(p.activateStorageDomain(fsd, sp))

            # a file chain with data in both layers
            img, base, leaf = new_uuid(), new_uuid(), new_uuid()
            run_task(p, p.createVolume(fsd, sp, img, 128 * MiB, RAW, SPARSE, "DATA",
                                       base, "base"))
            qemuimg_io(ok(p.getVolumePath(fsd, sp, img, base))["path"],
                       "write -P 0x11 0 4M", fmt="raw")
            run_task(p, p.createVolume(fsd, sp, img, 128 * MiB, COW, SPARSE, "DATA",
                                       leaf, "leaf", img, base))
            file_leaf = ok(p.getVolumePath(fsd, sp, img, leaf))["path"]
            qemuimg_io(file_leaf, "write -P 0x22 2M 4M")

            # file -> block, collapsed into a sparse COW volume
            bimg, bvol = new_uuid(), new_uuid()
            run_task(p, p.copyImage(fsd, sp, "", img, leaf, bimg, bvol, "to block",
                                    bsd, 8, COW, SPARSE))
            info = ok(p.getVolumeInfo(bsd, sp, bimg, bvol))["info"]
            assert (info["format"], info["legality"], info["parent"]) == (
                "COW", "LEGAL", BLANK)
            assert not lv_tags(lvm, bsd, bvol).initializing
            compare(p, (fsd, sp, img, leaf), (bsd, sp, bimg, bvol))

            # block -> block (RAW, preallocated) and block -> file (RAW)
            b2img, b2vol = new_uuid(), new_uuid()
            run_task(p, p.copyImage(bsd, sp, "", bimg, bvol, b2img, b2vol, "b2b",
                                    bsd, 8, RAW, PREALLOCATED))
            lvm.invalidate()
            assert lvm.lv(bsd, b2vol).size == 128 * MiB
            compare(p, (bsd, sp, bimg, bvol), (bsd, sp, b2img, b2vol))
            fimg, fvol = new_uuid(), new_uuid()
            run_task(p, p.copyImage(bsd, sp, "", b2img, b2vol, fimg, fvol, "b2f",
                                    fsd, 8, RAW, SPARSE))
            compare(p, (fsd, sp, img, leaf), (fsd, sp, fimg, fvol))

            # moveImage file -> block keeps the chain (op 1: a copy)
            run_task(p, p.moveImage(sp, fsd, bsd, img, "", 1))
            assert lv_tags(lvm, bsd, leaf).parent == base
            assert ok(p.getVolumeInfo(bsd, sp, img, leaf))["info"]["legality"] == \
                "LEGAL"
            compare(p, (fsd, sp, img, leaf), (bsd, sp, img, leaf))

            # moveImage block -> file (op 2: the block image and its LV go)
            run_task(p, p.moveImage(sp, bsd, fsd, bimg, "", 2))
            assert bimg not in ok(p.getImagesList(bsd))["imageslist"]
            lvm.invalidate()
            assert bvol not in [lv.name for lv in lvm.lvs(bsd)]
            compare(p, (fsd, sp, img, leaf), (fsd, sp, bimg, bvol))

            # cloneImageStructure + syncImageData file -> block: the chain's
            # LVs (COW sized by qemu-img measure), ILLEGAL until synced
            run_task(p, p.deleteImage(bsd, sp, img))
            run_task(p, p.cloneImageStructure(sp, fsd, img, bsd))
            assert lv_tags(lvm, bsd, leaf).parent == base
            assert ok(p.getVolumeInfo(bsd, sp, img, leaf))["info"]["legality"] == \
                "ILLEGAL"
            run_task(p, p.syncImageData(sp, fsd, img, bsd, "ALL"))
            assert ok(p.getVolumeInfo(bsd, sp, img, leaf))["info"]["legality"] == \
                "LEGAL"
            compare(p, (fsd, sp, img, leaf), (bsd, sp, img, leaf))
            for sd, image in ((bsd, img), (fsd, bimg), (bsd, b2img), (fsd, fimg),
                              (fsd, img)):
                run_task(p, p.deleteImage(sd, sp, image))
            ok(p.deactivateStorageDomain(fsd, sp, bsd, 1))
        finally:
            p.disconnectStorageServer(6, BLANK, [con])


def compare(proxy, first, second):
    """qemu-img compare of two volumes (each prepared for the read)."""
    paths = []
    for sd, sp, img, vol in (first, second):
        paths.append(merged(ok(proxy.prepareImage(sp, sd, img, vol)))["path"])
    try:
        commands.run(["qemu-img", "compare", "-U", *paths], timeout=120)
    finally:
        for sd, sp, img, vol in (first, second):
            ok(proxy.teardownImage(sp, sd, img, vol))


def changing_verbs(p, sd, sp, nodes, img, vol):
    """Every verb that changes LVM or volume metadata, as calls."""
    other = new_uuid()
    return {
            "createVolume": lambda: p.createVolume(sd, sp, img, str(GiB), COW, SPARSE,
                                                   "DATA", vol, "x"),
            "deleteVolume": lambda: p.deleteVolume(sd, sp, img, [vol]),
            "deleteImage": lambda: p.deleteImage(sd, sp, img),
            "copyImage": lambda: p.copyImage(sd, sp, "", img, vol, other, new_uuid(),
                                             "x", sd, 8, COW, SPARSE),
            "moveImage": lambda: p.moveImage(sp, sd, sd, img, "", 1),
            "extendVolumeSize": lambda: p.extendVolumeSize(sp, sd, img, vol,
                                                           str(2 * GiB)),
            "setVolumeDescription": lambda: p.setVolumeDescription(sd, sp, img, vol,
                                                                   "x"),
            "setVolumeLegality": lambda: p.setVolumeLegality(sd, sp, img, vol,
                                                             "ILLEGAL"),
            "extendStorageDomain": lambda: p.extendStorageDomain(
                sd, sp, [guid_of(nodes[0])]),
            "resizePV": lambda: p.resizePV(sd, sp, guid_of(nodes[1])),
        }


def refusals(verbs):
    return {verb: call()["status"]["code"] for verb, call in verbs.items()}


def test_changing_verbs_before_spm_start_answer_654_and_change_nothing(host, lv_dir):
    p = host.proxy()
    with block_pool(p, lv_dir, spm=False) as names:
        sd, sp, nodes = names["sd"], names["sp"], names["nodes"]
        lvm = root_lvm(sd, nodes)
        before = sorted(lv.name for lv in lvm.lvs(sd))
        verbs = changing_verbs(p, sd, sp, nodes, new_uuid(), new_uuid())
        assert refusals(verbs) == dict.fromkeys(verbs, 654)
        lvm.invalidate()
        assert sorted(lv.name for lv in lvm.lvs(sd)) == before
        assert ok(p.getImagesList(sd))["imageslist"] == []


@pytest.fixture
def second_host():
    """Another host (own agent, sanlock and lvfiles mount point)."""
    with new_lv_dir() as path:
        h = block_host(path)
        h.lv_dir = path
        try:
            yield h
        finally:
            h.stop()


def test_a_host_that_is_not_the_spm_reads_and_prepares_but_changes_nothing(
        host, lv_dir, second_host):
    p, p2 = host.proxy(), second_host.proxy()
    with block_pool(p, lv_dir) as names:
        sd, sp, nodes = names["sd"], names["sp"], names["nodes"]
        img, vol = new_uuid(), new_uuid()
        run_task(p, p.createVolume(sd, sp, img, 128 * MiB, COW, SPARSE, "DATA", vol,
                                   "by the SPM"))
        with serve_lvs(nodes, sd, second_host.lv_dir):
            ok(p2.connectStoragePool(sp, 2, "", sd, 1))
            try:
                lvm = root_lvm(sd, nodes)
                before = sorted((lv.name, lv.size, lv.tags) for lv in lvm.lvs(sd))
                verbs = changing_verbs(p2, sd, sp, nodes, img, vol)
                assert refusals(verbs) == dict.fromkeys(verbs, 654)
                lvm.invalidate()
                assert sorted((lv.name, lv.size, lv.tags) for lv in lvm.lvs(sd)) \
                    == before
                info = ok(p2.getVolumeInfo(sd, sp, img, vol))["info"]
                assert (info["description"], info["legality"]) == ("by the SPM",
                                                                   "LEGAL")
                # the VM host's path: its own links to its own view of the LV
                prepared = merged(ok(p2.prepareImage(sp, sd, img, vol)))
                assert prepared["path"] == os.path.join(
                    second_host.config.repository, sp, sd, "images", img, vol)
                assert os.path.realpath(prepared["path"]) == os.path.join(
                    second_host.lv_dir, sd, vol)
                qemuimg_io(prepared["path"], "write -P 0x7e 0 1M")
                ok(p2.teardownImage(sp, sd, img, vol))
                spm_path = merged(ok(p.prepareImage(sp, sd, img, vol)))["path"]
                qemuimg_io(spm_path, "read -P 0x7e 0 1M")
                ok(p.teardownImage(sp, sd, img, vol))
            finally:
                p2.disconnectStoragePool(sp, 2, "")
        run_task(p, p.deleteImage(sd, sp, img))
