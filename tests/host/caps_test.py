from __future__ import annotations

import os
import platform
import shutil

import pytest

import vdsm
from vdsm import config as vdsm_config
from vdsm.host import caps, cpu

HOOKS = {"before_vm_start": {"50_hugepages": {"checksum": "ab" * 32}}}

STRING_KEYS = ("cpuModel", "cpuFlags", "cpuSockets", "cpuCores", "cpuThreads",
               "onlineCpus", "cpuSpeed", "kvmEnabled", "memSize",
               "software_version", "software_revision", "version_name",
               "kernelArgs", "uuid", "ISCSIInitiatorName", "reservedMem",
               "guestOverhead")


@pytest.fixture(scope="module")
def info():
    return caps.get_capabilities(vdsm_config.Config(), hooks=HOOKS)


def test_classic_keys_and_types(info):
    for key in STRING_KEYS:
        assert isinstance(info[key], str), key
    for key in ("nics", "bridges", "vlans", "bondings", "networks",
                "packages2", "operatingSystem", "selinux", "numaNodes",
                "numaNodeDistance", "hooks"):
        assert isinstance(info[key], dict), key
    assert info["networks"] == {}
    assert info["hooks"] == HOOKS
    assert info["vmTypes"] == ["kvm"]
    assert info["supportedENGINEs"] and info["clusterLevels"]
    assert set(info["selinux"]) == {"mode"}


def test_cpu_values_match_machine(info):
    with open("/proc/cpuinfo") as f:
        processors = [line for line in f if line.startswith("processor")]
    assert int(info["cpuThreads"]) == len(processors) == os.cpu_count()
    assert info["onlineCpus"].split(",") == [
        str(c) for c in cpu.online_cpus()]
    assert len(info["cpuTopology"]) == os.cpu_count()
    flags = info["cpuFlags"].split(",")
    assert flags == cpu.flags(cpu.read_cpuinfo())
    assert float(info["cpuSpeed"]) > 0
    assert info["kvmEnabled"] == str(os.path.exists("/dev/kvm")).lower()


def test_memory_matches_machine(info):
    with open("/proc/meminfo") as f:
        meminfo = {line.split(":")[0]: int(line.split()[1]) for line in f}
    assert info["memSize"] == str(meminfo["MemTotal"] // 1024)
    assert info["swapTotal"] == meminfo["SwapTotal"] // 1024
    assert info["reservedMem"] == "321" and info["guestOverhead"] == "65"


def test_software(info):
    kernel = info["packages2"]["kernel"]
    release = kernel["version"] + (
        "-" + kernel["release"] if kernel["release"] else "")
    assert release == platform.release()
    assert info["software_version"] == vdsm.__version__
    assert info["packages2"]["vdsm"]["version"] == vdsm.__version__
    if shutil.which(f"qemu-system-{platform.machine()}"):
        assert info["emulatedMachines"]
        if platform.machine() == "x86_64":
            assert "pc" in info["emulatedMachines"]
        assert "qemu-kvm" in info["packages2"]
    else:
        print("qemu not installed: emulatedMachines is empty")
        assert info["emulatedMachines"] == []


def test_network_from_kernel(info):
    assert "lo" not in info["nics"]
    for name, nic in info["nics"].items():
        with open(f"/sys/class/net/{name}/mtu") as f:
            assert nic["mtu"] == f.read().strip()
    assert isinstance(info["supportsIPv6"], bool)


def test_uuid_from_vdsm_id_beside_config(tmp_path):
    conf = tmp_path / "vdsm.conf"
    conf.write_text("[vars]\nssl = true\n")
    (tmp_path / "vdsm.id").write_text("11111111-2222-3333-4444-555555555555\n")
    result = caps.get_capabilities(vdsm_config.load(str(conf)), hooks={},
                                   vm_types=("kvm", "qemu"))
    assert result["uuid"] == "11111111-2222-3333-4444-555555555555"
    assert result["vmTypes"] == ["kvm", "qemu"]


def test_libvirt_models_tolerated():
    libvirt = pytest.importorskip("libvirt", reason="python3-libvirt missing")
    conn = libvirt.open("test:///default")
    try:
        result = caps.get_capabilities(vdsm_config.Config(), hooks={},
                                       libvirt_conn=conn)
    finally:
        conn.close()
    assert not [f for f in result["cpuFlags"].split(",")
                if f.startswith("model_")]
