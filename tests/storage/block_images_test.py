"""Image and volume verbs on a block domain, through a real agent.

The engine's story on a pool whose master is a block domain (LVs served
by lvfiles: no device-mapper here): RAW preallocated and COW sparse
volumes, a snapshot chain, the reading verbs, description and legality,
extendVolumeSize, prepareImage with data written through the VM's path,
teardownImage, deleteVolume and deleteImage; copyImage between file and
block domains; and every changing verb refused (654) off the SPM.
"""

from __future__ import annotations

import os

from tests.storage import blockagent
from tests.storage.blockagent import MiB, block_pool, root_lvm
from tests.storage.helpers import merged, new_uuid, ok, wait_task
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

        # LVs: sizes, tags and the chain as the classic agent laid them out
        assert lvm.lv(sd, base).size == 128 * MiB
        assert lvm.lv(sd, cow).size < 4 * GiB          # one chunk, not capacity
        base_tags, snap_tags = lv_tags(lvm, sd, base), lv_tags(lvm, sd, snap)
        assert (base_tags.image, snap_tags.image, snap_tags.parent) == (img, img, base)
        assert not snap_tags.initializing and base_tags.slot != snap_tags.slot

        # reading verbs
        assert sorted(ok(p.getImagesList(sd))["imageslist"]) == sorted([img, cow_img])
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
        assert ok(p.getImagesList(sd))["imageslist"] == []
        lvm.invalidate()
        assert not {base, snap, cow} & {lv.name for lv in lvm.lvs(sd)}
        assert not os.path.exists(links)


def qemuimg_io(path, command):
    commands.run(["qemu-io", "-f", "qcow2", "-c", command, path], timeout=60)
