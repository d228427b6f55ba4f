"""VM life cycle and monitoring costs on real TCG QEMU guests.

Against a private libvirtd (started and stopped here, by pid):

1. wall time of ``create`` -> status Up and ``destroy`` -> gone through
   the agent's API, beside ``virsh create`` / ``virsh destroy`` of the same
   domain XML (ratio; the goal is <= 1.15);
2. cost of one bulk sampling cycle and ``getAllVmStats`` latency with 1,
   10 and 100 VMs (real QEMU guests started paused: they use no CPU);
3. the agent's CPU% while idle-sampling 100 VMs.

    .venv/bin/python benchmarks/vm_lifecycle.py [--rounds 5] [--max-vms 100]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import libvirt  # noqa: E402

from tests.virt.harness import VirtAgent, build_guest, vm_params  # noqa: E402
from tests.virt.privlibvirt import PrivateLibvirt  # noqa: E402
from vdsm.virt import status as st  # noqa: E402
from vdsm.virt import vmparams  # noqa: E402
from vdsm.virt.domxml import domain  # noqa: E402


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms"


def lifecycle(agent: VirtAgent, guest: dict, uri: str, rounds: int) -> dict:
    create, destroy, v_create, v_destroy = [], [], [], []
    tmp = tempfile.mkdtemp(prefix="vm-bench-")
    for i in range(rounds + 1):  # the first round warms the caches up
        params = vm_params(guest, memSize=96)
        start = time.monotonic()
        assert agent.proxy.create(params)["status"]["code"] == 0
        vm = agent.virt.ctx.registry.get(params["vmId"])
        assert vm.wait_status((st.UP,), 60), vm.status
        create.append(time.monotonic() - start)
        start = time.monotonic()
        assert agent.proxy.destroy(params["vmId"])["status"]["code"] == 0
        destroy.append(time.monotonic() - start)

        # The same domain XML through virsh.
        other = vm_params(guest, memSize=96)
        xml = domain.build(vmparams.parse(other), agent.virt.ctx.options,
                           start_time=time.time())
        path = os.path.join(tmp, "dom.xml")
        with open(path, "w") as f:
            f.write(xml)
        start = time.monotonic()
        subprocess.run(["virsh", "-q", "-c", uri, "create", path], check=True,
                       capture_output=True, timeout=60)
        v_create.append(time.monotonic() - start)
        start = time.monotonic()
        subprocess.run(["virsh", "-q", "-c", uri, "destroy", other["vmId"]],
                       check=True, capture_output=True, timeout=60)
        v_destroy.append(time.monotonic() - start)
        if i == 0:
            for times in (create, destroy, v_create, v_destroy):
                times.clear()
    return {
        "create_to_up": _ms(create), "virsh_create": _ms(v_create),
        "create_ratio": round(statistics.median(create)
                              / statistics.median(v_create), 2),
        "destroy": _ms(destroy), "virsh_destroy": _ms(v_destroy),
        "destroy_ratio": round(statistics.median(destroy)
                               / statistics.median(v_destroy), 2),
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sampling(agent: VirtAgent, guest: dict, counts: list[int]) -> list[dict]:
    results = []
    created: list[str] = []
    sampler = agent.virt.sampler
    sampler.stop()  # cycles are driven by hand here
    for count in counts:
        while len(created) < count:
            params = vm_params(guest, memSize=64, launchPaused="true")
            assert agent.proxy.create(params)["status"]["code"] == 0
            created.append(params["vmId"])
        for vm_id in created:
            vm = agent.virt.ctx.registry.get(vm_id)
            assert vm.wait_status((st.PAUSED,), 60), vm.status
        cycles = []
        for _ in range(10):
            cycles.append(sampler.sample_once())
        calls = []
        for _ in range(20):
            start = time.monotonic()
            answer = agent.proxy.getAllVmStats()
            calls.append(time.monotonic() - start)
            assert len(answer["statsList"]) == count
        results.append({"vms": count, "sample_cycle": _ms(cycles),
                        "getAllVmStats": _ms(calls)})
    # Idle sampling of the last set at a 2 s and the default 15 s interval.
    for interval in (2.0, 15.0):
        sampler.interval = interval
        sampler.start()
        before, start = _cpu(), time.monotonic()
        time.sleep(max(20.0, 2 * interval))
        share = 100 * (_cpu() - before) / (time.monotonic() - start)
        sampler.stop()
        results.append({"vms": len(created), "interval": interval,
                        "agent_cpu_percent": round(share, 2)})
    for vm_id in created:
        agent.proxy.destroy(vm_id)
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-vms", type=int, default=100)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    guest = build_guest()
    instance = PrivateLibvirt()
    instance.start()
    agent = None
    try:
        agent = VirtAgent(instance.uri, vars__vm_sample_interval=2.0,
                          vars__vm_sample_timeout=2.0)
        report = {"guest": "real TCG QEMU guests (paused for the 10/100 runs)",
                  "lifecycle": lifecycle(agent, guest, instance.uri,
                                         args.rounds),
                  "sampling": sampling(agent, guest,
                                       [c for c in (1, 10, 100)
                                        if c <= args.max_vms])}
        print(json.dumps(report, indent=2))
    finally:
        if agent is not None:
            ids = [vm.id for vm in agent.virt.ctx.registry.all()]
            agent.stop()
            conn = libvirt.open(instance.uri)
            for vm_id in ids:
                try:
                    conn.lookupByUUIDString(vm_id).destroy()
                except libvirt.libvirtError:
                    pass
            conn.close()
            agent.root.cleanup()
        instance.stop()
        instance.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
