"""Time of a /metrics scrape with 100 VMs, against an exposition-only floor.

The VMs are 100 domains of libvirt's test driver, sampled by the real bulk
sampler (vdsm.virt.sampling). The test driver reports only domain state,
so each record is completed with the keys a real QEMU domain reports
(CPU, balloon, two disks, one NIC; counters advancing between cycles);
everything after the libvirt call is the agent's own code: statsconv, the
VM stats getAllVmStats answers, the collector and the HTTP listener.

Baseline: the same listener serving a registry that yields the very same
families already built, i.e. what prometheus_client's generate_latest and
HTTP cost alone; the ratio is what reading the sampled stats adds.

    .venv/bin/python benchmarks/metrics_scrape.py [--vms 100] [--scrapes 200]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
import types
import urllib.request
import uuid
from typing import Any

import libvirt

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402

from vdsm.api.metrics import (  # noqa: E402
    MetricsServer,
    SampledCollector,
    Sources,
    registry_for,
)
from vdsm.virt import vmparams  # noqa: E402
from vdsm.virt.registry import VmRegistry  # noqa: E402
from vdsm.virt.sampling import Sampler  # noqa: E402
from vdsm.virt.service import VirtService  # noqa: E402
from vdsm.virt.vm import Vm  # noqa: E402

GOAL_MS = 50.0
MiB = 1024 * 1024


def _domain_xml(vm_id: str, name: str) -> str:
    return (f"<domain type='test'><name>{name}</name><uuid>{vm_id}</uuid>"
            "<memory unit='MiB'>1024</memory><vcpu>2</vcpu>"
            "<os><type>hvm</type></os></domain>")


def _record(cycle: int, i: int) -> dict[str, Any]:
    """What a running QEMU domain's getAllDomainStats record holds."""
    t = cycle + 1
    rec: dict[str, Any] = {
        "cpu.time": 10**9 * (100 + i) * t, "cpu.user": 6 * 10**8 * t,
        "cpu.system": 2 * 10**8 * t, "balloon.current": 1048576,
        "balloon.maximum": 1048576, "balloon.available": 1000000,
        "balloon.unused": 400000, "balloon.usable": 500000,
        "balloon.disk_caches": 100000, "balloon.rss": 900000,
        "vcpu.current": 2, "vcpu.maximum": 2,
        "block.count": 2, "net.count": 1,
        "net.0.name": f"vnet{i}", "net.0.rx.bytes": 5000 * t,
        "net.0.rx.pkts": 50 * t, "net.0.rx.errs": 0, "net.0.rx.drop": 0,
        "net.0.tx.bytes": 7000 * t, "net.0.tx.pkts": 70 * t,
        "net.0.tx.errs": 0, "net.0.tx.drop": 0,
    }
    for d, dev in enumerate(("vda", "vdb")):
        p = f"block.{d}."
        rec.update({p + "name": dev, p + "rd.reqs": 100 * t,
                    p + "rd.bytes": 409600 * t, p + "rd.times": 10**7 * t,
                    p + "wr.reqs": 50 * t, p + "wr.bytes": 204800 * t,
                    p + "wr.times": 2 * 10**7 * t, p + "fl.reqs": 5 * t,
                    p + "fl.times": 10**6 * t, p + "allocation": 10 * MiB,
                    p + "capacity": 20 * MiB})
    return rec


class _Completing:
    """The test driver's connection; records completed as QEMU's would be."""

    def __init__(self, conn: libvirt.virConnect, index: dict[str, int]) -> None:
        self._conn = conn
        self._index = index
        self.cycle = 0

    def getAllDomainStats(self, stats: int, flags: int) -> list:  # noqa: N802
        result = []
        for dom, rec in self._conn.getAllDomainStats(stats, flags):
            i = self._index.get(dom.UUIDString())
            if i is not None:
                result.append((dom, {**rec, **_record(self.cycle, i)}))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class _Prebuilt:
    """A collector yielding families built once: the exposition floor."""

    def __init__(self, families: list) -> None:
        self._families = families

    def collect(self) -> list:
        return self._families


def _percentiles(times: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(times, n=100)
    return q[49] * 1000, q[98] * 1000


def _scrape(port: int, count: int) -> tuple[list[float], int]:
    url = f"http://127.0.0.1:{port}/metrics"
    times, size = [], 0
    for _ in range(count):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=10) as r:
            size = len(r.read())
        times.append(time.perf_counter() - start)
    return times, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vms", type=int, default=100)
    parser.add_argument("--scrapes", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    conn = libvirt.open("test:///default")
    registry = VmRegistry()
    index = {}
    for i in range(args.vms):
        vm_id = str(uuid.uuid4())
        conn.createXML(_domain_xml(vm_id, f"vm-{i:03d}"), 0)
        registry.add(Vm(vmparams.parse({"vmId": vm_id, "vmName": f"vm-{i:03d}",
                                        "memSize": 1024, "smp": 2}),
                        status="Up"))
        index[vm_id] = i
    completing = _Completing(conn, index)
    ctx = types.SimpleNamespace(
        conn=types.SimpleNamespace(connected=True, get=lambda: completing),
        registry=registry)
    sampler = Sampler(ctx, interval=15.0, timeout=5.0)
    took = []
    for cycle in range(2):           # two cycles: rates and latencies too
        completing.cycle = cycle
        took.append(sampler.sample_once())
    service = VirtService(ctx)       # what getAllVmStats answers from

    sources = Sources(vms=service.all_stats, tasks=lambda: [])
    full, calls = registry_for(sources)
    floor = CollectorRegistry(auto_describe=False)
    floor.register(_Prebuilt(list(SampledCollector(sources).collect())))

    servers = {"agent": MetricsServer(full, "127.0.0.1", 0),
               "floor": MetricsServer(floor, "127.0.0.1", 0)}
    for srv in servers.values():
        srv.start()
    try:
        _scrape(servers["agent"].port, 10)       # warm up
        _scrape(servers["floor"].port, 10)
        results = {name: _scrape(srv.port, args.scrapes)
                   for name, srv in servers.items()}
    finally:
        for srv in servers.values():
            srv.stop()
        conn.close()

    series = sum(1 for line in generate_latest(full).decode().splitlines()
                 if line and not line.startswith("#"))
    print(f"{args.vms} VMs sampled by the bulk sampler in "
          f"{took[-1] * 1000:.1f} ms; {series} series per scrape")
    p50, p99 = _percentiles(results["agent"][0])
    f50, f99 = _percentiles(results["floor"][0])
    print(f"/metrics scrape ({results['agent'][1]} bytes, {args.scrapes} "
          f"scrapes): p50 {p50:.2f} ms  p99 {p99:.2f} ms  (goal < {GOAL_MS:.0f} ms)")
    print(f"floor: same families prebuilt, same listener: p50 {f50:.2f} ms  "
          f"p99 {f99:.2f} ms")
    print(f"ratio agent/floor: p50 {p50 / f50:.2f}x  p99 {p99 / f99:.2f}x")
    print("goal met" if p99 < GOAL_MS else "GOAL MISSED")


if __name__ == "__main__":
    main()
