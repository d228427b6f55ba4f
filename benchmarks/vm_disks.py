"""Running VMs' disks and resources (issue 12): the agent beside virsh.

One section per part of the issue; each prints its figures as JSON, with
the agent's median latency beside virsh doing the same work on the same
guest (ratio = agent / virsh; virsh pays a process start and a connection
per call, the agent an XML-RPC call over TLS, checks and a metadata write).

Section ``qos_hotplug`` (parts 6 and 7), one TCG guest with a raw disk on a
private libvirtd (started and stopped here, by pid):

1. setIoTune / getIoTune beside ``virsh blkdeviotune --live``;
2. setCpuTuneQuota beside ``virsh schedinfo --live vcpu_quota=``;
3. one vCPU plugged (setNumberOfCpus) beside ``virsh setvcpus --live``,
   one 128 MiB DIMM (hotplugMemory) beside ``virsh attach-device --live``;
4. how close the guest's O_DIRECT read rate comes to 2, 4 and 8 MiB/s caps.

Section ``snapshot`` (part 1): benchmarks/vm_disks_snapshot.py.
Section ``replication`` (part 4, live storage migration):
benchmarks/vm_disks_replication.py.
Section ``merge`` (part 2, live merge of a 1 GiB active layer):
benchmarks/vm_disks_merge.py.

    .venv/bin/python benchmarks/vm_disks.py
        [--section qos_hotplug|snapshot|replication|merge]
        [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.virt.harness import build_guest, vm_params  # noqa: E402
from tests.virt.privlibvirt import PrivateLibvirt  # noqa: E402
from tests.virt.restartrig import Rig, running_rig  # noqa: E402
from tests.virt.thinprov_test import guest_exec  # noqa: E402
from vdsm.common import commands  # noqa: E402

MIB = 1 << 20


def _median_ms(call: Callable[[int], Any], rounds: int) -> float:
    times = []
    for i in range(rounds + 1):            # the first round warms up
        start = time.monotonic()
        call(i)
        times.append(time.monotonic() - start)
    return statistics.median(times[1:]) * 1000


def _ok(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["status"]["code"] == 0, answer
    return answer


def _pair(agent_ms: float, virsh_ms: float) -> dict[str, Any]:
    return {"agent_ms": round(agent_ms, 1), "virsh_ms": round(virsh_ms, 1),
            "ratio": round(agent_ms / virsh_ms, 2)}


def _read_rate(rig: Rig, mib: int) -> float:
    script = ("dd if=/dev/vda of=/dev/null bs=256k count=4 iflag=direct "
              "2>/dev/null; s=$(cut -d' ' -f1 /proc/uptime); "
              f"dd if=/dev/vda of=/dev/null bs=256k count={mib * 4} skip=4 "
              "iflag=direct 2>/dev/null; e=$(cut -d' ' -f1 /proc/uptime); "
              "echo $s $e")
    out = guest_exec(rig.uri, rig.vm_id, script, timeout=120)["out"].split()
    return mib * MIB / (float(out[-1]) - float(out[-2]))


def qos_hotplug(guest: dict[str, Any], rounds: int) -> dict[str, Any]:
    instance = PrivateLibvirt()     # no netns: libvirtd sees the cgroups
    instance.start()
    tmp = tempfile.mkdtemp(prefix="vdsm-bench-qos-", dir="/tmp")
    os.chmod(tmp, 0o755)
    disk = os.path.join(tmp, "data.img")
    with open(disk, "wb") as f:
        f.write(os.urandom(MIB) * 64)
    params = vm_params(guest, smp=1, maxVCpus=4, maxMemSize=512, maxMemSlots=4,
                       drives=[{"path": disk, "format": "raw", "iface": "virtio"}])
    rig_gen = running_rig(instance.uri, params)
    try:
        rig = next(rig_gen)
        return _measure(rig, instance.uri, tmp, rounds)
    finally:
        rig_gen.close()
        instance.stop()
        instance.cleanup()
        os.unlink(disk)
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)


def _measure(rig: Rig, uri: str, tmp: str, rounds: int) -> dict[str, Any]:
    vm = rig.vm_id
    virsh = ["virsh", "-q", "-c", uri]
    report: dict[str, Any] = {}

    def set_agent(i: int) -> None:
        _ok(rig.proxy.setIoTune(vm, [{"name": "vda", "ioTune": {
            "read_bytes_sec": (100 + i) * MIB}}]))

    def set_virsh(i: int) -> None:
        commands.run(virsh + ["blkdeviotune", vm, "vda", "--live",
                              "--read-bytes-sec", str((200 + i) * MIB)], timeout=30)

    report["setIoTune"] = _pair(_median_ms(set_agent, rounds),
                                _median_ms(set_virsh, rounds))
    report["getIoTune"] = _pair(
        _median_ms(lambda i: _ok(rig.proxy.getIoTune(vm)), rounds),
        _median_ms(lambda i: commands.run(virsh + ["blkdeviotune", vm, "vda",
                                                   "--live"], timeout=30), rounds))
    report["setCpuTuneQuota"] = _pair(
        _median_ms(lambda i: _ok(rig.proxy.vmSetCpuTuneQuota(vm, 50000 + i)), rounds),
        _median_ms(lambda i: commands.run(
            virsh + ["schedinfo", vm, "--live", f"vcpu_quota={60000 + i}"],
            timeout=30), rounds))

    start = time.monotonic()
    _ok(rig.proxy.setNumberOfCpus(vm, 2))
    agent_cpu = (time.monotonic() - start) * 1000
    start = time.monotonic()
    commands.run(virsh + ["setvcpus", vm, "3", "--live"], timeout=60)
    report["vcpu_plug_once"] = _pair(agent_cpu, (time.monotonic() - start) * 1000)

    start = time.monotonic()
    _ok(rig.proxy.hotplugMemory({"vmId": vm, "memory": {"size": 128, "node": 0}}))
    agent_mem = (time.monotonic() - start) * 1000
    dimm = os.path.join(tmp, "dimm.xml")
    with open(dimm, "w") as f:
        f.write("<memory model='dimm'><target><size unit='KiB'>131072</size>"
                "<node>0</node></target></memory>")
    start = time.monotonic()
    commands.run(virsh + ["attach-device", vm, dimm, "--live"], timeout=60)
    report["dimm_plug_once"] = _pair(agent_mem, (time.monotonic() - start) * 1000)

    accuracy = {}
    for cap in (2, 4, 8):
        _ok(rig.proxy.setIoTune(vm, [{"name": "vda", "ioTune": {
            "read_bytes_sec": cap * MIB}}]))
        rate = _read_rate(rig, 3 * cap) / MIB
        accuracy[f"{cap}_MiB_s"] = {"measured_MiB_s": round(rate, 2),
                                    "ratio": round(rate / cap, 3)}
    _ok(rig.proxy.setIoTune(vm, [{"name": "vda", "ioTune": {}}]))
    accuracy["free_MiB_s"] = round(_read_rate(rig, 32) / MIB, 1)
    report["read_cap_accuracy"] = accuracy
    return report


def snapshot(guest: dict[str, Any], rounds: int) -> dict[str, Any]:
    from benchmarks.vm_disks_snapshot import snapshot as run
    return run(guest, rounds)


def replication(guest: dict[str, Any], rounds: int) -> dict[str, Any]:
    from benchmarks.vm_disks_replication import replication as run
    return run(guest, rounds)


def merge(guest: dict[str, Any], rounds: int) -> dict[str, Any]:
    from benchmarks.vm_disks_merge import merge_section
    return merge_section(1024)


SECTIONS: dict[str, Callable[[dict[str, Any], int], dict[str, Any]]] = {
    "merge": merge,
    "qos_hotplug": qos_hotplug,
    "replication": replication,
    "snapshot": snapshot,
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--section", choices=sorted(SECTIONS), action="append")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    guest = build_guest()
    report = {name: SECTIONS[name](guest, args.rounds)
              for name in (args.section or sorted(SECTIONS))}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
