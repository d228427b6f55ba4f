"""Image repository benchmark, section ``trim`` (issue 13): sparsifyImage
of a volume a running VM has attached (the guest trims through its agent)
beside the plain tool on the same work (``virsh domfstrim``: libvirt's
fSTrim called straight): seconds and MiB given back, per round a fresh ``--trim-mb`` MiB
written and deleted in the guest.

    .venv/bin/python benchmarks/storage.py --section trim [--trim-mb 256]

Needs root, sanlock, libvirt and the test guest (tests/virt/harness.py).
"""

from __future__ import annotations

import os
import time
from typing import Any

import libvirt

from benchmarks.storage import finish
from tests.storage.helpers import ok
from tests.virt.conftest import network_namespace
from tests.virt.harness import build_guest
from tests.virt.thinprov_test import guest_exec
from tests.virt.trimrig import MIB, host_with_volume, running_guest, write_delete


def allocated(path: str) -> int:
    return os.stat(path).st_blocks * 512


def fill(rig: dict[str, Any], vm_id: str, mib: int) -> None:
    out = guest_exec(rig["uri"], vm_id, write_delete(mib), timeout=600)
    if out["rc"] != 0 or "done" not in out["out"]:
        raise RuntimeError(f"guest write failed: {out}")


def by_agent(rig: dict[str, Any]) -> float:
    p = rig["proxy"]
    start = time.monotonic()
    task = ok(p.sparsifyImage(rig["sp"], rig["sd"], rig["img"], rig["vol"]))["uuid"]
    return finish(p, task, poll=0.02) - start


def by_hand(rig: dict[str, Any], vm_id: str) -> float:
    """What ``virsh domfstrim`` does: the agent's guest-fstrim, straight
    from libvirt (a guest-exec of fstrim would add its 0.5 s status poll)."""
    conn = libvirt.open(rig["uri"])
    try:
        dom = conn.lookupByUUIDString(vm_id)
        start = time.monotonic()
        dom.fSTrim(None, 0, 0)
        return time.monotonic() - start
    finally:
        conn.close()


def run(mib: int = 256, rounds: int = 2) -> dict[str, list[tuple[float, int]]]:
    """Per way, (seconds, bytes given back) of each round; prints them."""
    guest = build_guest()
    if not guest.get("agent"):
        raise RuntimeError("the test guest was built without qemu-guest-agent")
    results: dict[str, list[tuple[float, int]]] = {"sparsifyImage (guest agent)": [],
                                                   "virsh domfstrim (libvirt)": []}
    with network_namespace() as netns, \
            host_with_volume(netns, 2 * mib * MIB, loop_mb=4 * mib + 256) as rig, \
            running_guest(rig, guest) as vm_id:
        path = rig["path"]
        for _ in range(rounds):
            for name, way in (("sparsifyImage (guest agent)", lambda: by_agent(rig)),
                              ("virsh domfstrim (libvirt)",
                               lambda: by_hand(rig, vm_id))):
                fill(rig, vm_id, mib)
                before = allocated(path)
                seconds = way()
                results[name].append((seconds, before - allocated(path)))
    print(f"sparsify of an attached RAW volume after {mib} MiB written and deleted "
          f"in a running TCG guest ({rounds} rounds):")
    best = {name: min(s for s, _ in runs) for name, runs in results.items()}
    plain = best["virsh domfstrim (libvirt)"]
    for name, runs in results.items():
        freed = ", ".join(f"{b / MIB:.0f}" for _, b in runs)
        ms = best[name] * 1000
        print(f"  {name:30s} best {ms:7.1f} ms  MiB given back: {freed}  "
              f"ratio plain/agent {plain / best[name]:.2f}")
    return results
