"""OVF store, getFileStats, getImageDomainsList and sparsifyImage through
the API of a real agent (vdsmd + supervdsmd + private sanlock) on a pool
on a loop-backed ext4 (one host for the module).

OVF: two VMs written, listed, read back byte-identical, one removed;
refused with 654 off the SPM but readable there; still there after an
agent restart and after a master migration (master/vms carried over).
getFileStats on an ISO domain with pattern and case sensitivity; 330 on a
data domain. getImageDomainsList on two domains. sparsifyImage of a RAW
volume whose file system had a 200 MiB file written and deleted: its
allocation drops (virt-sparsify is not installed here: the host fstrim
path, irs.sparsify_host_trim). An OVFS volume keeps its JSON description.
Last, the OVF verbs on a pool whose master is a block domain (the OVFs
on the master LV's file system).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Any, Iterator

import pytest

from tests.storage import blockagent
from tests.storage.crash_points_test import restart
from tests.storage.helpers import (
    BLANK,
    become_spm,
    code,
    create_pool,
    loop_ext4,
    need_root,
    need_sanlock,
    new_uuid,
    ok,
    wait_task,
)
from tests.supervdsm.helpers import ensure_vdsm_user

pytestmark = [need_root, need_sanlock]
MiB = 1 << 20
RAW, SPARSE = 5, 2
OVF1 = ('<?xml version="1.0" encoding="UTF-8"?>\n<ovf:Envelope xmlns:ovf='
        '"http://schemas.dmtf.org/ovf/envelope/1/">\u00e9 &amp; <Name>vm1</Name>'
        '</ovf:Envelope>\n')
OVF2 = "<ovf:Envelope><Name>vm2</Name></ovf:Envelope>"
ISO_IMAGE = "11111111-1111-1111-1111-111111111111"


@pytest.fixture(scope="module")
def lv_dir() -> Iterator[str]:
    with blockagent.new_lv_dir() as path:
        yield path


@pytest.fixture(scope="module")
def rig(lv_dir) -> Iterator[dict[str, Any]]:
    """One host for the module: it sees loop devices as LUNs and LVs as
    files (tests/storage/blockagent.py), so that the last test can make a
    block pool after the file one."""
    ensure_vdsm_user()
    host = blockagent.block_host(lv_dir, {("irs", "sparsify_host_trim"): True})
    try:
        with loop_ext4(512) as device:
            names = create_pool(host.proxy(), device)
            mnt = os.path.join(host.config.mount_root,
                               "_dev_" + os.path.basename(device))
            yield {"host": host, "device": device, "mnt": mnt, **names}
    finally:
        host.stop()


def run_task(p, answer) -> dict[str, Any]:
    status = wait_task(p, ok(answer)["uuid"], timeout=120)
    assert status["taskResult"] == "success", status
    return status


def test_ovf_written_listed_read_removed_and_kept(rig):
    host, sd, sp, mnt = rig["host"], rig["sd"], rig["sp"], rig["mnt"]
    p = host.proxy()
    vm1, vm2 = new_uuid(), new_uuid()
    ok(p.updateVM(sp, [{"vm": vm1, "ovf": OVF1, "imglist": new_uuid()},
                       {"vm": vm2, "ovf": OVF2, "imglist": ""}]))
    assert sorted(ok(p.getVmsList(sp))["vmlist"]) == sorted([vm1, vm2])
    assert ok(p.getVmsInfo(sp, BLANK))["vmlist"] == {vm1: OVF1, vm2: OVF2}
    assert ok(p.getVmsInfo(sp, BLANK, [vm2]))["vmlist"] == {vm2: OVF2}
    with open(os.path.join(mnt, sd, "master", "vms", vm1, vm1 + ".ovf"), "rb") as f:
        assert f.read() == OVF1.encode()
    ok(p.removeVM(sp, vm2))
    assert ok(p.getVmsList(sp))["vmlist"] == [vm1]
    assert code(p.updateVM(sp, [{"ovf": OVF2}])) == 1000   # no 'vm'

    # off the SPM: writes refused (654), reads answered
    ok(p.spmStop(sp))
    try:
        assert code(p.updateVM(sp, [{"vm": vm2, "ovf": OVF2}])) == 654
        assert code(p.removeVM(sp, vm1)) == 654
        assert ok(p.getVmsInfo(sp, BLANK))["vmlist"] == {vm1: OVF1}
    finally:
        become_spm(p, sp)

    # an agent restart: the files are on the storage
    host.root.stop("vdsmd")
    p = restart(host, rig)
    assert ok(p.getVmsList(sp))["vmlist"] == [vm1]
    assert ok(p.getVmsInfo(sp, BLANK))["vmlist"] == {vm1: OVF1}

    # a master migration carries master/vms to the new master
    sd2 = new_uuid()
    ok(p.createStorageDomain(6, sd2, "second", rig["device"], 1))
    ok(p.attachStorageDomain(sd2, sp))
    ok(p.activateStorageDomain(sd2, sp))
    ok(p.deactivateStorageDomain(sd, sp, sd2, 2))
    rig["sd2"] = sd2
    assert ok(p.getVmsInfo(sp, BLANK))["vmlist"] == {vm1: OVF1}
    assert os.path.exists(os.path.join(mnt, sd2, "master", "vms", vm1, vm1 + ".ovf"))
    ok(p.updateVM(sp, [{"vm": vm2, "ovf": OVF2}]))          # on the new master
    assert os.path.exists(os.path.join(mnt, sd2, "master", "vms", vm2, vm2 + ".ovf"))
    # a named domain that is not an active member is refused
    assert code(p.updateVM(sp, [{"vm": vm2, "ovf": OVF2}], sd)) == 369


def test_file_stats_of_an_iso_domain(rig):
    p = rig["host"].proxy()
    iso = new_uuid()
    ok(p.createStorageDomain(6, iso, "isos", rig["device"], 2))
    iso_dir = os.path.join(rig["mnt"], iso, "images", ISO_IMAGE)
    for name, size in (("Boot.ISO", 3000), ("tools.iso", 100), ("f.vfd", 1)):
        with open(os.path.join(iso_dir, name), "wb") as f:
            f.write(b"x" * size)
    stats = ok(p.getFileStats(iso, "*.iso", False))["fileStats"]
    assert sorted(stats) == ["Boot.ISO", "tools.iso"]
    assert stats["Boot.ISO"]["size"] == "3000"
    assert stats["Boot.ISO"]["status"] == 0
    ctime = int(os.stat(os.path.join(iso_dir, "Boot.ISO")).st_ctime)
    assert int(stats["Boot.ISO"]["ctime"]) == ctime
    assert sorted(ok(p.getFileStats(iso, "*.iso", True))["fileStats"]) == ["tools.iso"]
    os.chmod(os.path.join(iso_dir, "tools.iso"), 0o600)    # root's: vdsm cannot read
    assert ok(p.getFileStats(iso, "tools.*"))["fileStats"]["tools.iso"]["status"] == 469
    assert len(ok(p.getFileStats(iso))["fileStats"]) == 3
    assert code(p.getFileStats(rig["sd"], "*", False)) == 330     # a data domain


def test_domains_containing_an_image(rig):
    p = rig["host"].proxy()
    sd, sp, sd2 = rig["sd"], rig["sp"], rig.get("sd2")
    if sd2 is None:
        pytest.skip("needs the second domain of the OVF test")
    img, only = new_uuid(), new_uuid()
    for dom, image in ((sd, img), (sd2, img), (sd2, only)):
        run_task(p, p.createVolume(dom, sp, image, MiB, RAW, SPARSE, "DATA",
                                   new_uuid(), "v"))
    # the old master is attached, not active, since the migration: not listed
    assert ok(p.getImageDomainsList(sp, img))["domainslist"] == [sd2]
    ok(p.activateStorageDomain(sd, sp))
    assert ok(p.getImageDomainsList(sp, img))["domainslist"] == sorted([sd, sd2])
    assert ok(p.getImageDomainsList(sp, only))["domainslist"] == [sd2]
    assert ok(p.getImageDomainsList(sp, new_uuid()))["domainslist"] == []


def fill_and_delete(path: str, mib: int) -> None:
    """What a guest does: a file system, a file of random data written and
    synced, then deleted (its blocks stay allocated in the image)."""
    subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "nodiscard", path], check=True,
                   timeout=60)
    target = tempfile.mkdtemp(prefix="vdsm-sparsify-test-")
    subprocess.run(["mount", "-o", "loop,nodiscard", path, target], check=True,
                   timeout=60)
    try:
        subprocess.run(["dd", "if=/dev/urandom", f"of={target}/big", "bs=1M",
                        f"count={mib}", "conv=fsync", "status=none"], check=True,
                       timeout=120)
        os.unlink(os.path.join(target, "big"))
        subprocess.run(["sync", "-f", target], check=True, timeout=60)
    finally:
        subprocess.run(["umount", target], check=True, timeout=60)
        os.rmdir(target)


def test_sparsify_gives_back_a_deleted_file(rig):
    p = rig["host"].proxy()
    sd, sp = rig.get("sd2", rig["sd"]), rig["sp"]      # the active master
    img, vol = new_uuid(), new_uuid()
    run_task(p, p.createVolume(sd, sp, img, 256 * MiB, RAW, SPARSE, "DATA", vol, "s"))
    path = ok(p.getVolumePath(sd, sp, img, vol))["path"]
    fill_and_delete(path, 200)
    before = os.stat(path).st_blocks * 512
    assert before >= 200 * MiB
    status = run_task(p, p.sparsifyImage(sp, sd, img, vol))
    after = os.stat(path).st_blocks * 512
    assert before - after >= 150 * MiB, (before, after)
    assert ok(p.getVolumeInfo(sd, sp, img, vol))["info"]["legality"] == "LEGAL"
    subprocess.run(["e2fsck", "-f", "-n", path], check=True, timeout=60,
                   capture_output=True)
    print(f"sparsify: {before // MiB} MiB -> {after // MiB} MiB allocated", status)


def test_an_ovf_store_disk_is_a_volume_with_its_description_kept(rig):
    """The engine's per-domain OVF_STORE disks: a volume of disk type OVFS
    whose JSON description (up to 175 bytes) the host keeps as given; the
    content (a tar of OVFs) comes through image upload."""
    p = rig["host"].proxy()
    sd, sp = rig.get("sd2", rig["sd"]), rig["sp"]
    desc = ('{"Updated":true,"Size":10240,"Last Updated":"Sun Nov 29 21:00:00 UTC '
            '2026","Storage Domains":[{"uuid":"' + sd + '"}],'
            '"Disk Description":"OVF_STORE"}')
    assert len(desc) <= 175
    img, vol = new_uuid(), new_uuid()
    run_task(p, p.createVolume(sd, sp, img, MiB, RAW, SPARSE, "OVFS", vol, desc))
    info = ok(p.getVolumeInfo(sd, sp, img, vol))["info"]
    assert (info["disktype"], info["description"]) == ("OVFS", desc)


def test_ovf_on_a_block_master(rig, lv_dir):
    """The same on a block domain: the OVFs go to the master LV's file
    system (mounted by the SPM). (The restart is shown on the file pool:
    block_pool's clean-up holds the first agent's proxy.)"""
    p = rig["host"].proxy()
    sp = rig["sp"]
    ok(p.spmStop(sp))
    ok(p.disconnectStoragePool(sp, 1, ""))
    vm1, vm2 = new_uuid(), new_uuid()
    with blockagent.block_pool(p, lv_dir) as names:
        bsp, bsd = names["sp"], names["sd"]
        ok(p.updateVM(bsp, [{"vm": vm1, "ovf": OVF1}, {"vm": vm2, "ovf": OVF2}]))
        ok(p.removeVM(bsp, vm2))
        assert ok(p.getVmsList(bsp))["vmlist"] == [vm1]
        assert ok(p.getVmsInfo(bsp, BLANK))["vmlist"] == {vm1: OVF1}
        master = os.path.join(rig["host"].config.repository, bsp, "mastersd",
                              "master", "vms", vm1, vm1 + ".ovf")
        with open(master, "rb") as f:
            assert f.read() == OVF1.encode()
        assert bsd in os.path.realpath(master)
