"""The device and VG verbs through a real vdsmd and supervdsmd, loop
devices standing in for LUNs (``[irs] list_loop_devices``), real LVM
metadata, over XML-RPC (classic names) and JSON-RPC (namespaced)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
from collections.abc import Iterator
from typing import Any

import pytest

from tests.storage.devices.tgt import need_tgt, tgtd
from tests.storage.helpers import StorageAgentRoot, loop_device, new_uuid, ok
from tests.storage.lvmhelpers import need_lvm, vg_names
from tests.supervdsm.helpers import ensure_vdsm_user
from vdsm.common import commands, pki
from vdsm.storage import lvm_cmd, lvm_errors
from vdsm.storage.blockdevs import BlockStorage
from vdsm.storage.devices.errors import InaccessiblePhysDev
from vdsm.storage.lvm import LVM, LocalRunner
from vdsm_cli.jsonrpc_client import JsonRpcError, StompClient

pytestmark = need_lvm

GiB = 1024**3
BIG = 6 * 1024  # MiB: two make the classic 10 GiB minimum (sparse files)


@pytest.fixture(scope="module")
def agent() -> Iterator[StorageAgentRoot]:
    ensure_vdsm_user()
    root = StorageAgentRoot({("irs", "list_loop_devices"): True,
                             ("irs", "iscsi_discovery"): "libiscsi",
                             ("logging", "level"): "DEBUG"})
    try:
        root.start_supervdsmd()
        root.start_vdsmd()
        yield root
    finally:
        root.cleanup()


@pytest.fixture
def proxy(agent: StorageAgentRoot) -> Any:
    return agent.proxy()


@pytest.fixture
def client(agent: StorageAgentRoot) -> Iterator[StompClient]:
    ctx = pki.client_context(agent.pki.ca_cert, agent.pki.client_cert("engine"),
                             agent.pki.client_key("engine"))
    with StompClient("127.0.0.1", agent.port, ssl_context=ctx, timeout=60) as c:
        yield c


@contextlib.contextmanager
def luns(*sizes_mb: int) -> Iterator[list[str]]:
    """Loop devices the agent (user vdsm) may read, as udev rules make a
    LUN's node; their VGs' LVM archive files removed afterwards."""
    with contextlib.ExitStack() as stack:
        nodes = [stack.enter_context(loop_device(size, "/var/tmp"))
                 for size in sizes_mb]
        uid = pwd.getpwnam("vdsm").pw_uid
        owners = {node: os.stat(node) for node in nodes}
        try:
            for node in nodes:
                os.chown(node, uid, -1)
            yield nodes
        finally:
            for node, st in owners.items():
                # a VG a failed test left: wipe its PV label; and the node's
                # owner back, or the next user of this loop node inherits it
                commands.run(["wipefs", "-a", "-q", node], timeout=30, check=False)
                os.chown(node, st.st_uid, st.st_gid)


def guid_of(node: str) -> str:
    return os.path.basename(node)   # a loop device has no identity: its name


def devices(proxy: Any, guids: list[str]) -> dict[str, dict[str, Any]]:
    listed = ok(proxy.getDeviceList(0, guids, True))["devList"]
    return {d["GUID"]: d for d in listed}


def forget_archives(name: str) -> None:
    """LVM's archive and backup files of a test VG (the test's own vgs
    writes a backup of a VG that has none)."""
    for path in glob.glob(f"/etc/lvm/archive/{name}_*.vg") + \
            glob.glob(f"/etc/lvm/backup/{name}"):
        os.unlink(path)


def test_vg_life_cycle_on_two_free_luns(proxy, client):
    with luns(BIG, BIG) as nodes:
        guids = [guid_of(n) for n in nodes]
        before = devices(proxy, guids)
        assert {g: (d["status"], d["pvUUID"], d["vgUUID"])
                for g, d in before.items()} == {g: ("free", "", "") for g in guids}
        assert before[guids[0]]["capacity"] == str(BIG * 2**20)
        name = new_uuid()
        try:
            vg_uuid = ok(proxy.createVG(name, guids, False))["uuid"]
            used = devices(proxy, guids)
            assert {d["status"] for d in used.values()} == {"used"}
            assert {d["vgUUID"] for d in used.values()} == {vg_uuid}
            assert all(d["pvUUID"] for d in used.values())

            info = ok(proxy.getVGInfo(vg_uuid))["info"]
            assert (info["name"], info["vgUUID"], info["state"], info["type"]) == (
                name, vg_uuid, "OK", 3)
            assert int(info["vgsize"]) > 11 * GiB and info["vgfree"] == info["vgsize"]
            assert info["attr"]["permission"] == "w"
            assert {p["GUID"]: p["pvUUID"] for p in info["pvlist"]} == {
                g: used[g]["pvUUID"] for g in guids}
            assert {p["vgUUID"] for p in info["pvlist"]} == {vg_uuid}
            # the classic tag and PV metadata settings
            only = ["--config", lvm_cmd.config(nodes, activation=False)]
            vgs = commands.run(["vgs", *only, "--noheadings", "-o",
                                "vg_tags,vg_extent_size", "--units", "m", name],
                               timeout=30).out
            assert "RHAT_storage_domain_UNREADY" in vgs and "128.00m" in vgs
            pvs = commands.run(["pvs", *only, "--noheadings", "-o",
                                "pv_name,pv_mda_used_count"], timeout=30).out
            assert sorted(line.split()[1] for line in pvs.splitlines()) == ["0", "2"]

            # the JSON-RPC binding sees the same
            # (XML-RPC sends ints beyond 32 bits as strings: discard_max_bytes)
            by_json = client.call("LVMVolumeGroup.getInfo",
                                  {"lvmvolumegroupID": vg_uuid})
            assert {k: v for k, v in by_json.items() if k != "pvlist"} == {
                k: v for k, v in info.items() if k != "pvlist"}
            assert [(p["GUID"], p["pvUUID"]) for p in by_json["pvlist"]] == [
                (p["GUID"], p["pvUUID"]) for p in info["pvlist"]]
            listed = client.call("Host.getLVMVolumeGroups", {})
            mine = [v for v in listed if v["vgUUID"] == vg_uuid]
            assert mine == [{k: v for k, v in info.items() if k != "pvlist"}]
            assert [v for v in ok(proxy.getVGList(2))["vglist"]
                    if v["vgUUID"] == vg_uuid] == []   # not an FCP VG

            assert client.call("LVMVolumeGroup.remove",
                               {"lvmvolumegroupID": vg_uuid}) is True
        finally:
            forget_archives(name)
        freed = devices(proxy, guids)
        assert {(d["status"], d["vgUUID"]) for d in freed.values()} == {("free", "")}
        with pytest.raises(JsonRpcError) as e:
            client.call("LVMVolumeGroup.getInfo", {"lvmvolumegroupID": vg_uuid})
        assert e.value.code == 506


def test_bad_create_answers_the_classic_code_and_changes_nothing(proxy):
    with luns(BIG, BIG, 64, BIG, BIG) as nodes:
        a, b, small, c, d = (guid_of(n) for n in nodes)
        ghost = "36001405deaddeaddeaddeaddeaddead0"
        answer = proxy.createVG(new_uuid(), [a, ghost], False)
        assert answer["status"]["code"] == 606, answer
        assert ghost in answer["status"]["message"]
        assert proxy.createVG(new_uuid(), [small], False)["status"]["code"] == 504
        assert proxy.createVG("not-a-uuid", [a, b], False)["status"]["code"] == 91
        after = devices(proxy, [a, b, small])
        assert {(d["status"], d["pvUUID"]) for d in after.values()} == {("free", "")}

        name = new_uuid()
        try:
            vg_uuid = ok(proxy.createVG(name, [a, b], False))["uuid"]
            # a device already in a VG is refused without force
            again = proxy.createVG(new_uuid(), [a], False)
            assert again["status"]["code"] == 601, again
            assert proxy.createVG(name, [small, small], False)["status"]["code"] == 504
            # the name is taken: refused before any pvcreate
            taken = proxy.createVG(name, [c, d], False)
            assert taken["status"]["code"] == 505, taken
            assert {(x["status"], x["pvUUID"])
                    for x in devices(proxy, [c, d]).values()} == {("free", "")}
            info = ok(proxy.getVGInfo(vg_uuid))["info"]
            assert sorted(p["GUID"] for p in info["pvlist"]) == sorted([a, b])
            ok(proxy.removeVG(vg_uuid))
        finally:
            forget_archives(name)


def test_mounted_device_is_never_taken_even_with_force(proxy, tmp_path):
    with luns(64) as (node,):
        commands.run(["mkfs.ext4", "-q", node], timeout=60)
        mnt = tmp_path / "mnt"
        mnt.mkdir()
        commands.run(["mount", node, str(mnt)], timeout=30)
        try:
            guid = guid_of(node)
            assert devices(proxy, [guid])[guid]["status"] == "used"
            answer = proxy.createVG(new_uuid(), [guid], True)
            assert answer["status"]["code"] == 601, answer
            assert (mnt / "lost+found").is_dir()   # the file system is intact
        finally:
            commands.run(["umount", str(mnt)], timeout=30)


def test_unknown_vg(proxy):
    assert proxy.getVGInfo("no-such-vg-uuid")["status"]["code"] == 506
    ok(proxy.removeVG("no-such-vg-uuid"))  # classic: nothing to remove is done


def test_devices_visibility(proxy, client):
    with luns(32) as (node,):
        guid = guid_of(node)
        ghost = "36001405deaddeaddeaddeaddeaddead0"
        assert ok(proxy.getDevicesVisibility([guid, ghost, "../loop0"]))["visible"] == {
            guid: True, ghost: False, "../loop0": False}
        assert client.call("Host.getDevicesVisibility", {"guidList": [guid]}) == {
            guid: True}


@need_tgt
def test_discover_send_targets_on_a_user_space_target(proxy, client, agent, tmp_path):
    lun = tmp_path / "lun1.img"
    lun.write_bytes(b"")
    os.truncate(lun, 64 * 2**20)
    iqn = "iqn.2024-01.org.example:bverbs.lun1"
    with tgtd(str(tmp_path / "tgtd.log")) as target:
        target.add_target(1, iqn, str(lun))
        target.add_chap(1, "joe", "tgt-secret-5678")
        con = {"connection": "127.0.0.1", "port": str(target.port), "user": "",
               "password": "", "ipv6_enabled": "false"}
        answer = ok(proxy.discoverSendTargets(con))
        assert (answer["fullTargets"], answer["targets"]) == (
            [f"127.0.0.1:{target.port},1 {iqn}"], [iqn])
        with_chap = client.call("ISCSIConnection.discoverSendTargets", {"con": {
            **con, "user": "joe", "password": "tgt-secret-5678"}})
        assert with_chap == {"fullTargets": answer["fullTargets"], "targets": [iqn]}
        # the later JSON-RPC shape: named parameters instead of con
        named = client.call("ISCSIConnection.discoverSendTargets", {
            "host": "127.0.0.1", "port": target.port, "user": "joe",
            "password": "tgt-secret-5678", "ipv6_enabled": False})
        assert named == with_chap
        port = target.port
    refused = proxy.discoverSendTargets({**con, "port": str(port)})
    assert refused["status"]["code"] == 475, refused
    assert proxy.discoverSendTargets({"port": "3260"})["status"]["code"] == 91
    logged = ""
    for path in glob.glob(os.path.join(agent.root, "**", "*.log"), recursive=True) + \
            glob.glob(os.path.join(agent.root, "*.out")):
        with open(path, errors="replace") as f:
            logged += f.read()
    assert "tgt-secret-5678" not in logged
    # the calls were logged (DEBUG), their password masked
    assert "ISCSIConnection.discoverSendTargets with" in logged and "****" in logged



def test_vg_on_devices_the_host_does_not_list_is_not_ours():
    """What the fuzzer relies on: a VG on devices outside the listing (here
    loop devices, without the test option) is neither shown nor removed,
    and its devices cannot be named to createVG."""
    lvm = LVM(LocalRunner())
    plain = BlockStorage(lvm)   # lists no loop device
    with luns(BIG, BIG) as nodes, vg_names() as (name,):
        lvm.pvcreate(nodes)
        vg = lvm.vgcreate(name, nodes)
        with pytest.raises(lvm_errors.VolumeGroupDoesNotExist):
            plain.vg_info(vg.uuid)
        assert vg.uuid not in {v["vgUUID"] for v in plain.vg_list()}
        plain.remove_vg(vg.uuid)
        assert lvm.find_vg(name, nodes).uuid == vg.uuid   # still there
        with pytest.raises(InaccessiblePhysDev):
            plain.create_vg(new_uuid(), [guid_of(n) for n in nodes], force=True)
        lvm.vgremove(name)


def test_vg_with_a_pv_gone_from_the_listing_is_not_ours():
    """A VG missing a PV (a LUN this host no longer lists) shows partial to
    LVM; the verbs neither show nor remove it."""
    lvm = LVM(LocalRunner())
    blocks = BlockStorage(lvm, include_loop=True)
    with luns(BIG, BIG) as nodes, vg_names() as (name,):
        lvm.pvcreate(nodes)
        vg = lvm.vgcreate(name, nodes)
        commands.run(["losetup", "-d", nodes[1]], timeout=30)
        with pytest.raises(lvm_errors.VolumeGroupDoesNotExist):
            blocks.vg_info(vg.uuid)
        assert vg.uuid not in {v["vgUUID"] for v in blocks.vg_list()}
        blocks.remove_vg(vg.uuid)
        (pv,) = [p for p in lvm.pvs(nodes[:1]) if p.name == nodes[0]]
        assert pv.vg_name == name   # the VG's metadata on the PV left is intact
