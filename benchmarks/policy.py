"""Cost of one policy-engine cycle with 100 VMs, as a share of one core.

It measures the engine, not libvirt: the 100 guests are in-memory records
of the shape virt's seam gives (idle guests, half with I/O policies) and
their actions are no-ops; the host figures are read for real (/proc,
/sys/kernel/mm/ksm) and KSM writes are no-ops. Under pressure (every guest
shrinks every cycle) is the costly case; no pressure the usual one.

Baselines beside it: the same cycle with an empty policy (the reads and
the seam only), and the default policy with no VMs.

    python benchmarks/policy.py [--vms 100] [--cycles 200]
"""

from __future__ import annotations

import argparse
import time

from vdsm.config import Config
from vdsm.host.policy.engine import PolicyEngine

INTERVAL = Config().get("policy", "interval")


class FakeGuests:
    def __init__(self, count: int) -> None:
        self._records = [{
            "id": f"vm-{i:03d}", "balloon_cur": 4 << 20, "balloon_max": 4 << 20,
            "balloon_min": 2 << 20, "balloon_target": 4 << 20,
            "mem_used": 1 << 20, "mem_unused": 3 << 20,
            "io_policy": i % 2, "io_choice": None} for i in range(count)]

    def records(self) -> list[dict]:
        return [dict(r) for r in self._records]

    def set_balloon_target(self, vm_id: str, kib: int) -> None:
        pass

    def set_io_choice(self, vm_id: str, choice: str) -> None:
        pass


def measure(vms: int, cycles: int, *, policy: str | None = None,
            **params: float) -> float:
    """CPU seconds of one cycle (process time, averaged)."""
    engine = PolicyEngine(interval=INTERVAL, tune_ksm=lambda **v: v,
                          guests=FakeGuests(vms))
    if policy is not None:
        engine.set_policy(policy)
    engine.set_parameters(params)
    engine.run_cycle()  # warm up
    start = time.process_time()
    for _ in range(cycles):
        engine.run_cycle()
    return (time.process_time() - start) / cycles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=100)
    parser.add_argument("--cycles", type=int, default=200)
    args = parser.parse_args()
    rows = [
        ("default policy, no pressure", measure(args.vms, args.cycles,
                                                pressure_threshold=0.0)),
        ("default policy, memory short", measure(args.vms, args.cycles,
                                                 pressure_threshold=1.0,
                                                 ksm_free_percent=1.0)),
        ("baseline: empty policy", measure(args.vms, args.cycles, policy="0")),
        ("baseline: default policy, 0 VMs", measure(0, args.cycles)),
    ]
    print(f"policy cycle, {args.vms} VMs, interval {INTERVAL:g} s "
          f"(goal: < 1% of one core)")
    empty = rows[2][1]
    for name, cost in rows:
        share = 100 * cost / INTERVAL
        print(f"  {name:34s} {cost * 1000:8.3f} ms/cycle  {share:7.4f}% of a core"
              f"  x{cost / empty:6.1f} the empty policy")


if __name__ == "__main__":
    main()
