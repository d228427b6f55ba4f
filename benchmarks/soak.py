"""Soak: mixed clients against the real vdsmd with many real TCG VMs.

The rig of tests/virt/soak_test.py (tests/virt/soakrig.py) at any size:
a private libvirtd, the real vdsmd and supervdsmd, ``--vms`` VMs (``--up``
of them running, the others paused after boot), then ``--clients`` x
``--calls`` calls of mixed verbs, half over XML-RPC with keep-alive and
half over JSON-RPC/STOMP, from a separate process. Prints calls/s,
latency percentiles, errors, and the agent's RSS, open fds and threads at
10% and at 100% of the calls, as JSON.

    .venv/bin/python benchmarks/soak.py [--clients 50] [--calls 2000]
        [--vms 20] [--up 4] [--mem 96]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.virt.harness import build_guest  # noqa: E402
from tests.virt.privlibvirt import PrivateLibvirt  # noqa: E402
from tests.virt.soakrig import SoakRig  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--vms", type=int, default=20)
    parser.add_argument("--up", type=int, default=4)
    parser.add_argument("--mem", type=int, default=96, help="MiB per VM")
    parser.add_argument("--timeout", type=float, default=3600.0)
    args = parser.parse_args()
    guest = build_guest()
    libvirtd = PrivateLibvirt()
    try:
        libvirtd.start()
        rig = SoakRig(libvirtd.uri, guest, vms=args.vms, up=args.up,
                      mem_mib=args.mem)
        try:
            rig.start()
            result = rig.run_load(args.clients, args.calls, args.timeout)
            result["vms"] = rig.statuses()
        finally:
            rig.stop()
    finally:
        libvirtd.stop()
        libvirtd.cleanup()
    at_10, at_100 = result["at_10"], result["at_100"]
    result["rss_growth_pct"] = round(
        100.0 * (at_100["rss_kib"] - at_10["rss_kib"]) / at_10["rss_kib"], 1)
    result["fd_growth"] = at_100["fds"] - at_10["fds"]
    result["vms"] = {"total": len(result["vms"]),
                     "up": list(result["vms"].values()).count("Up")}
    print(json.dumps(result, indent=2))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
