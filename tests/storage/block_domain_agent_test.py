"""Block domains through a real vdsmd, supervdsmd and sanlock daemon.

Loop devices stand in for LUNs (``[irs] list_loop_devices``); the agent's
LVs are files served by lvfiles in follow mode under ``[irs] lv_dir``
(``lv_activation`` off: no device-mapper here), owned by the vdsm user as
udev rules make a real host's LVs. The engine's order: createVG, then
createStorageDomain with the VG's UUID.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.storage import lvfiles
from tests.storage.blockdevs_test import guid_of, luns
from tests.storage.helpers import (
    BLANK,
    StorageHost,
    become_spm,
    code,
    loop_ext4,
    new_uuid,
    ok,
    posix_connection,
    wait_task,
)
from tests.storage.lvmhelpers import forget_archives, need_lvm
from tests.supervdsm.helpers import ensure_vdsm_user
from vdsm.common import commands
from vdsm.storage.domains.block import tags
from vdsm.storage.lvm import LVM, LocalRunner

pytestmark = need_lvm
MiB = 1024 * 1024
LUN_MB = 6 * 1024    # two make createVG's 10 GiB minimum (sparse files)
ISCSI = 3
DATA = 1


@pytest.fixture(scope="module")
def lv_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="vdsm-lvdir-", dir="/var/tmp")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def host(lv_dir: str) -> Iterator[StorageHost]:
    why = lvfiles.unavailable()
    if why:
        pytest.skip(f"lvfiles cannot run here: {why}")
    if shutil.which("sanlock") is None:
        pytest.skip("needs the sanlock package (scripts/install-deps.sh)")
    ensure_vdsm_user()
    h = StorageHost({("irs", "list_loop_devices"): True, ("irs", "lv_dir"): lv_dir,
                     ("irs", "lv_activation"): False}).start()
    try:
        yield h
    finally:
        h.stop()


@contextlib.contextmanager
def domain_vg(proxy: Any, lv_dir: str) -> Iterator[tuple[str, str, list[str]]]:
    """(sdUUID, VG UUID, LUN nodes): a VG made by createVG on two LUNs,
    its LVs served under lv_dir as they come and go."""
    sd_uuid = new_uuid()
    with luns(LUN_MB, LUN_MB) as nodes:
        try:
            vg_uuid = ok(proxy.createVG(sd_uuid, [guid_of(n) for n in nodes],
                                        False))["uuid"]
            vdsm = pwd.getpwnam("vdsm")
            with lvfiles.LVFiles(nodes, sd_uuid, os.path.join(lv_dir, sd_uuid),
                                 follow=True, owner=(vdsm.pw_uid, vdsm.pw_gid)):
                yield sd_uuid, vg_uuid, nodes
        finally:
            forget_archives(sd_uuid)


def root_lvm(sd_uuid: str, nodes: list[str]) -> LVM:
    """LVM in this process (root), as another host or an admin would see it."""
    lvm = LVM(LocalRunner())
    lvm.set_devices(sd_uuid, nodes)
    return lvm


def test_create_inspect_list_validate_and_format(host, lv_dir):
    proxy = host.proxy()
    with domain_vg(proxy, lv_dir) as (sd, vg_uuid, nodes):
        ok(proxy.createStorageDomain(ISCSI, sd, "block data", vg_uuid, DATA, 5))
        info = ok(proxy.getStorageDomainInfo(sd))["info"]
        assert {k: info[k] for k in ("uuid", "type", "class", "name", "role",
                                     "version", "vguuid", "state")} == {
            "uuid": sd, "type": "ISCSI", "class": "Data", "name": "block data",
            "role": "Regular", "version": "5", "vguuid": vg_uuid, "state": "OK"}
        assert info["metadataDevice"] == info["vgMetadataDevice"] == guid_of(nodes[0])
        stats = ok(proxy.getStorageDomainStats(sd))["stats"]
        assert int(stats["disktotal"]) > 11 * 1024 * MiB
        assert int(stats["diskfree"]) < int(stats["disktotal"]) - 4 * 1024 * MiB
        assert stats["mdavalid"] is True and stats["mdathreshold"] is True
        assert sd in ok(proxy.getStorageDomainsList())["domlist"]
        assert sd in ok(proxy.getStorageDomainsList(BLANK, 0, ISCSI))["domlist"]
        assert sd not in ok(proxy.getStorageDomainsList(BLANK, 0, 1))["domlist"]
        ok(proxy.validateStorageDomain(sd))
        lvm = root_lvm(sd, nodes)
        assert sorted(lv.name for lv in lvm.lvs(sd)) == sorted(tags.SPECIAL_LVS_V4)
        assert tags.parse_domain_tags(lvm.vg(sd).tags)["DESCRIPTION"] == "block data"

        ok(proxy.formatStorageDomain(sd, False))
        assert code(proxy.getVGInfo(vg_uuid)) == 506
        assert code(proxy.getStorageDomainInfo(sd)) == 358
        assert sd not in ok(proxy.getStorageDomainsList())["domlist"]


def test_refusals_answer_classic_codes_and_leave_the_vg_as_it_was(host, lv_dir):
    proxy = host.proxy()
    ghost = "Xy1234-abcd-efgh-ijkl-mnop-qrst-uvwxyz"
    answer = proxy.createStorageDomain(ISCSI, new_uuid(), "x", ghost, DATA, 5)
    assert code(answer) == 506, answer
    with domain_vg(proxy, lv_dir) as (sd, vg_uuid, nodes):
        lvm = root_lvm(sd, nodes)
        lvm.lvcreate(sd, "stray", 128 * MiB)
        assert code(proxy.createStorageDomain(ISCSI, sd, "x", vg_uuid, DATA, 5)) == 361
        lvm.invalidate()
        assert [lv.name for lv in lvm.lvs(sd)] == ["stray"]
        assert lvm.vg(sd).tags == (tags.UNREADY_DOMAIN_TAG,)
        lvm.lvremove(sd, "stray")
        delete, add = [tags.UNREADY_DOMAIN_TAG], [tags.DOMAIN_TAG]
        lvm.change_vg_tags(sd, delete=delete, add=add)  # a domain's VG already
        assert code(proxy.createStorageDomain(ISCSI, sd, "x", vg_uuid, DATA, 5)) == 515
        lvm.invalidate()
        assert lvm.lvs(sd) == [] and lvm.vg(sd).tags == (tags.DOMAIN_TAG,)
        lvm.change_vg_tags(sd, delete=add, add=delete)
        # a LUN of the VG vanishes: the VG is partial, not this host's to use
        commands.run(["losetup", "-d", nodes[1]], timeout=30)
        assert code(proxy.createStorageDomain(ISCSI, sd, "x", vg_uuid, DATA, 5)) == 506


def test_pool_with_a_block_master_mounts_it_for_the_spm(host, lv_dir):
    proxy = host.proxy()
    with domain_vg(proxy, lv_dir) as (sd, vg_uuid, _):
        ok(proxy.createStorageDomain(ISCSI, sd, "block master", vg_uuid, DATA, 5))
        sp = new_uuid()
        ok(proxy.createStoragePool(0, sp, "block pool", sd, [sd], 1))
        master = os.path.join(host.config.mount_root, "blockSD", sd, "master")
        assert not os.path.ismount(master)   # laid out, then released
        ok(proxy.connectStoragePool(sp, 1, "", sd, 1))
        try:
            task = ok(proxy.spmStart(sp, -1, -1, -1, False))["uuid"]
            assert wait_task(proxy, task, 90)["taskResult"] == "success"
            assert os.path.isdir(os.path.join(master, "tasks"))
            assert os.path.ismount(master)
            info = ok(proxy.getStorageDomainInfo(sd))["info"]
            assert info["role"] == "Master" and sp in info["pool"]
            ok(proxy.spmStop(sp))
            assert not os.path.ismount(master)      # only the SPM mounts it
            task = ok(proxy.spmStart(sp, -1, -1, -1, False))["uuid"]
            assert wait_task(proxy, task, 90)["taskResult"] == "success"
            assert os.path.ismount(master)
            ok(proxy.spmStop(sp))
        finally:
            proxy.disconnectStoragePool(sp, 1, "")


def test_master_moving_to_a_file_domain_unmounts_the_block_master(host, lv_dir):
    proxy = host.proxy()
    with domain_vg(proxy, lv_dir) as (sd, vg_uuid, _), loop_ext4(256) as device:
        ok(proxy.createStorageDomain(ISCSI, sd, "block master", vg_uuid, DATA, 5))
        con = posix_connection(device)
        ok(proxy.connectStorageServer(6, BLANK, [con]))
        sd2, sp = new_uuid(), new_uuid()
        ok(proxy.createStorageDomain(6, sd2, "file data", device, DATA))
        ok(proxy.createStoragePool(0, sp, "block pool", sd, [sd], 1))
        ok(proxy.connectStoragePool(sp, 1, "", sd, 1))
        try:
            become_spm(proxy, sp, 90)
            master = os.path.join(host.config.mount_root, "blockSD", sd, "master")
            assert os.path.ismount(master)
            ok(proxy.attachStorageDomain(sd2, sp))
            ok(proxy.activateStorageDomain(sd2, sp))
            ok(proxy.deactivateStorageDomain(sd, sp, sd2, 2))
            assert not os.path.ismount(master)
            assert ok(proxy.getStorageDomainInfo(sd2))["info"]["role"] == "Master"
            assert ok(proxy.getStorageDomainInfo(sd))["info"]["role"] == "Regular"
            ok(proxy.spmStop(sp))
        finally:
            proxy.disconnectStoragePool(sp, 1, "")
            proxy.disconnectStorageServer(6, BLANK, [con])
