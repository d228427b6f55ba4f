"""CPU/memory hotplug and vmUpdateDevice end to end (vdsm/virt/hotplug.py):
one TCG guest made with maxVCpus 2, maxMemSize 512 MiB (2 slots), a NIC,
a CD-ROM and VNC; what the guest sees is read in the guest with
qemu-guest-agent's guest-exec.

The Debian cloud kernel of the test guest has CONFIG_ACPI_HOTPLUG_CPU and
CONFIG_ACPI_HOTPLUG_MEMORY but not MEMORY_HOTPLUG_DEFAULT_ONLINE, and the
busybox guest runs no udev: a new CPU and new memory blocks come offline
and the test onlines them (memory as movable, so that it can be given
back), as a udev rule does on a real guest.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Iterator

import libvirt
import pytest

from tests.virt.harness import BRIDGE, stats, vm_params, wait_for
from tests.virt.restartrig import Rig, running_rig
from tests.virt.thinprov_test import guest_exec
from vdsm.common import commands
from vdsm.virt.domxml import parse

MAC = "00:1a:4a:00:12:01"
OTHER_BRIDGE = "vdsmqosbr1"


@pytest.fixture(scope="module")
def iso() -> Iterator[str]:
    tmp = tempfile.mkdtemp(prefix="vdsm-hotplug-", dir="/tmp")
    os.chmod(tmp, 0o755)
    path = os.path.join(tmp, "a.iso")
    with open(path, "wb") as f:
        f.write(b"\0" * 65536)
    yield path
    os.unlink(path)
    os.rmdir(tmp)


@pytest.fixture(scope="module")
def other_bridge(netns: str) -> Iterator[str]:
    """A second bridge in the libvirtd's namespace (a NIC's network change)."""
    for argv in (["ip", "link", "add", OTHER_BRIDGE, "type", "bridge"],
                 ["ip", "link", "set", OTHER_BRIDGE, "up"]):
        commands.run(["ip", "netns", "exec", netns] + argv, timeout=10)
    yield OTHER_BRIDGE
    commands.run(["ip", "netns", "exec", netns, "ip", "link", "delete",
                  OTHER_BRIDGE], timeout=10, check=False)


@pytest.fixture(scope="module")
def rig(libvirtd, guest) -> Iterator[Rig]:
    if not guest.get("agent"):
        pytest.skip("the test guest was built without qemu-guest-agent")
    params = vm_params(guest, smp=1, maxVCpus=2, maxMemSize=512, maxMemSlots=2,
                       display="vnc", displayIp="127.0.0.1",
                       nics=[{"bridge": BRIDGE, "macAddr": MAC}],
                       drives=[{"device": "cdrom", "path": "", "iface": "ide",
                                "index": 2}])
    yield from running_rig(libvirtd.uri, params)


def _in_guest(rig: Rig, script: str) -> str:
    res = guest_exec(rig.uri, rig.vm_id, script, timeout=30)
    assert res["rc"] == 0, res
    return res["out"].strip()


def _code(answer: dict[str, Any]) -> int:
    return answer["status"]["code"]


def _live(rig: Rig, flags: int = 0) -> str:
    conn, dom = rig.domain()
    try:
        return dom.XMLDesc(flags)
    finally:
        conn.close()


ONLINE_CPUS = ("f=/sys/devices/system/cpu/cpu1/online; "
               "[ -e $f ] || exit 0; echo \"cpu1 came with online=$(cat $f)\"; "
               "[ \"$(cat $f)\" = 1 ] || echo 1 > $f; "
               "cat /sys/devices/system/cpu/online")


def test_vcpu_hotplug_seen_online_in_the_guest(rig):
    assert _in_guest(rig, "cat /sys/devices/system/cpu/online") == "0"
    answer = rig.proxy.setNumberOfCpus(rig.vm_id, 2)
    assert _code(answer) == 0, answer
    assert answer["vmList"]["smp"] == "2"
    assert stats(rig.proxy, rig.vm_id)["vcpuCount"] == "2"
    # the kernel adds cpu1 (offline) once ACPI told it; then it is onlined
    out = wait_for(lambda: (o := _in_guest(rig, ONLINE_CPUS)).endswith("0-1")
                   and o, 30, "cpu1 online in the guest")
    print(out.splitlines()[0])

    over = rig.proxy.setNumberOfCpus(rig.vm_id, 3)
    assert _code(over) == 60, over            # SetNumberOfCpusFailed
    assert stats(rig.proxy, rig.vm_id)["vcpuCount"] == "2"
    conn, dom = rig.domain()
    try:
        assert dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE) == 2
    finally:
        conn.close()


ONLINE_MEMORY = ("for s in /sys/devices/system/memory/memory*/state; do "
                 "grep -q offline $s && echo online_movable > $s && "
                 "echo onlined $s; done; "
                 "grep MemTotal /proc/meminfo | tr -s ' ' | cut -d' ' -f2")


def _mem_total(rig: Rig, onlined: list[str] | None = None) -> int:
    """The guest's MemTotal (KiB) after onlining its offline blocks."""
    *lines, total = _in_guest(rig, ONLINE_MEMORY).splitlines()
    if onlined is not None:
        onlined += lines
    return int(total)


def test_memory_dimm_seen_in_the_guest(rig):
    before = _mem_total(rig)
    answer = rig.proxy.hotplugMemory({"vmId": rig.vm_id,
                                      "memory": {"size": 128, "node": 0}})
    assert _code(answer) == 0, answer
    assert answer["vmList"]["memSize"] == 96 + 128
    # 128 MiB more in the guest once its new memory block is onlined
    onlined: list[str] = []
    wait_for(lambda: _mem_total(rig, onlined) - before >= 127 * 1024,
             30, "MemTotal grown by the DIMM in the guest")
    print("the guest's new memory came offline:", ", ".join(onlined))
    assert onlined

    over = rig.proxy.hotplugMemory({"vmId": rig.vm_id,
                                    "memory": {"size": 512, "node": 0}})
    assert _code(over) == 70, over            # HotplugMemFailed: over maxMemSize
    assert rig.proxy.list(True, [rig.vm_id])["vmList"][0]["memSize"] == 224
    assert _live(rig).count("<memory model='dimm'") == 1


CARRIER = "cat /sys/class/net/eth0/carrier"


def test_nic_link_down_and_up_seen_in_the_guest(rig, other_bridge):
    _in_guest(rig, "ip link set eth0 up")
    wait_for(lambda: _in_guest(rig, CARRIER) == "1", 15, "eth0 carrier")
    for active, carrier in ((False, "0"), (True, "1")):
        answer = rig.proxy.vmUpdateDevice(rig.vm_id, {
            "deviceType": "interface", "macAddr": MAC, "linkActive": active})
        assert _code(answer) == 0, answer
        wait_for(lambda c=carrier: _in_guest(rig, CARRIER) == c, 15,
                 f"eth0 carrier {carrier}")

    answer = rig.proxy.vmUpdateDevice(rig.vm_id, {
        "deviceType": "interface", "macAddr": MAC, "network": other_bridge})
    assert _code(answer) == 0, answer
    nic = [i for i in parse.interfaces(_live(rig)) if i["macAddr"] == MAC]
    assert nic and nic[0]["network"] == other_bridge, nic

    bad = rig.proxy.vmUpdateDevice(rig.vm_id, {
        "deviceType": "interface", "macAddr": "00:1a:4a:00:99:99",
        "linkActive": False})
    assert _code(bad) == 56, bad              # UpdateDeviceFailed
    assert _in_guest(rig, CARRIER) == "1"


def test_update_device_cdrom_and_graphics(rig, iso):
    answer = rig.proxy.vmUpdateDevice(rig.vm_id, {"deviceType": "cdrom",
                                                  "path": iso})
    assert _code(answer) == 0, answer
    cds = [d for d in parse.disks(_live(rig)) if d["device"] == "cdrom"]
    assert cds[0]["path"] == iso

    answer = rig.proxy.vmUpdateDevice(rig.vm_id, {
        "deviceType": "graphics", "graphicsType": "vnc", "password": "s3cret",
        "ttl": 120, "existingConnAction": "keep"})
    assert _code(answer) == 0, answer
    xml = _live(rig, libvirt.VIR_DOMAIN_XML_SECURE)
    assert "passwd='s3cret'" in xml and "passwdValidTo=" in xml


def test_hotplugged_state_kept_across_an_agent_restart(rig, other_bridge):
    rig.restart()
    s = stats(rig.proxy, rig.vm_id)
    assert s["vcpuCount"] == "2", s
    conf = rig.proxy.list(True, [rig.vm_id])["vmList"][0]
    assert conf["memSize"] == 224
    nic = [d for d in conf["devices"] if d.get("macAddr") == MAC][0]
    assert (nic["linkActive"], nic["network"]) == (True, other_bridge)
    # the slot count is still enforced: one DIMM of two used, 288 MiB left
    over = rig.proxy.hotplugMemory({"vmId": rig.vm_id,
                                    "memory": {"size": 384, "node": 0}})
    assert _code(over) == 70, over


def test_memory_dimm_unplugged_and_given_back_by_the_guest(rig):
    conf = rig.proxy.list(True, [rig.vm_id])["vmList"][0]
    (dimm,) = conf["memoryDevices"]
    before = _mem_total(rig)
    unknown = rig.proxy.hotunplugMemory({"vmId": rig.vm_id,
                                         "memory": {"deviceId": "nope"}})
    assert _code(unknown) == 85, unknown      # HotunplugMemFailed
    answer = rig.proxy.hotunplugMemory({"vmId": rig.vm_id, "memory": dimm})
    assert _code(answer) == 0, answer
    assert before - _mem_total(rig) >= 127 * 1024     # the guest let it go
    assert rig.proxy.list(True, [rig.vm_id])["vmList"][0]["memSize"] == 96
    assert "<memory model='dimm'" not in _live(rig)
