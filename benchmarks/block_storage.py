"""Block storage benchmark (issue 11): the mailbox, LVM, device listing, thin.

Sections (``--sections``, default all but ``thin``):

- ``mailbox``: the pool mailbox's round trip, a host's extend request to
  the moment the host sees its LV bigger (SPM poll, its lvextend on a real
  VG, the answer, the host's poll, the LV refreshed), one request at a
  time, p50/p99 at the classic 2 s poll and at shorter polls (the floor).
  Goal: p99 < 2 s at the classic 2 s poll: met with the classic wake-up
  events (a host writes the inbox's event block, the SPM looks at it every
  ``--events`` s), not by polls alone; with a shorter poll, the floor
  (the lvextend and the refresh).
- ``lvm``: lvcreate + lvextend + lvs + lvremove per second through the
  agent's LVM object (device filter, report parsing, cache) beside the
  same bare ``lvm`` commands.
- ``devices``: getDeviceList through a real agent with ``--luns`` loop
  devices standing in for LUNs (some of them PVs of two VGs), beside bare
  ``pvs`` over the same devices (what any listing must at least ask).
- ``thin``: a TCG guest on host B writes 1 GiB to a thin COW disk (its LV
  grown through B's mailbox by host A, the SPM) and to a preallocated COW
  disk on the same domain (:mod:`benchmarks.block_storage_thin`); the thin
  rate over the preallocated one, per ``--thin-chunks`` (MiB) at the
  ``--thin-poll``/``--events`` mailbox. Goal: >= 0.9 with no pause.

    .venv/bin/python benchmarks/block_storage.py [--sections mailbox,lvm,devices,thin]
        [--polls 2,0.5,0.1] [--events 0.5] [--requests 20] [--lvm-ops 20]
        [--luns 200] [--thin-chunks 128,1024] [--thin-poll 2] [--json]

Needs root, lvm2 and libfuse3 (tests/storage/lvfiles.py serves the LVs
as files: this kernel has no device-mapper).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import block_storage_mailbox as parts  # noqa: E402
from tests.storage.helpers import StorageAgentRoot, ok  # noqa: E402
from tests.storage.lvmhelpers import loop_devices, vg_names  # noqa: E402
from tests.supervdsm.helpers import ensure_vdsm_user  # noqa: E402
from vdsm.common import commands  # noqa: E402
from vdsm.storage import lvm_cmd  # noqa: E402
from vdsm.storage.lvm import LVM, LocalRunner  # noqa: E402


@contextlib.contextmanager
def agent() -> Iterator[StorageAgentRoot]:
    ensure_vdsm_user()
    root = StorageAgentRoot({("irs", "list_loop_devices"): True})
    try:
        root.start_supervdsmd()
        root.start_vdsmd()
        yield root
    finally:
        root.cleanup()


def device_listing(luns: int, rounds: int = 5) -> dict[str, float]:
    with loop_devices(luns, 64) as devices, vg_names(2) as vgs:
        lvm = LVM(LocalRunner())
        quarter = max(1, luns // 4)
        halves = (devices[:quarter], devices[quarter:2 * quarter])
        for vg, part in zip(vgs, halves, strict=True):
            lvm.pvcreate(part)
            lvm.vgcreate(vg, part, extent_size=4 * 1024 * 1024)
        owners = {d: os.stat(d) for d in devices}
        import pwd
        uid = pwd.getpwnam("vdsm").pw_uid
        try:
            for d in devices:
                os.chown(d, uid, -1)
            with agent() as root:
                proxy = root.proxy()
                guids = [os.path.basename(d) for d in devices]
                ours = []
                for _ in range(rounds):
                    start = time.monotonic()
                    listed = ok(proxy.getDeviceList(0, guids, True))["devList"]
                    ours.append(time.monotonic() - start)
                if len(listed) != luns:
                    raise RuntimeError(f"listed {len(listed)} of {luns} devices")
            bare = []
            for _ in range(rounds):
                start = time.monotonic()
                for i in range(0, luns, lvm_cmd.MAX_DEVICES):
                    chunk = devices[i:i + lvm_cmd.MAX_DEVICES]
                    # -a: every device the filter lets in, PV or not
                    commands.run(["lvm", "pvs", "-a", "--config",
                                  lvm_cmd.config(chunk, activation=False),
                                  "--reportformat", "json", "-o",
                                  "pv_name,pv_uuid,vg_name,vg_uuid,pv_size"],
                                 timeout=120)
                bare.append(time.monotonic() - start)
        finally:
            for d, st in owners.items():
                os.chown(d, st.st_uid, st.st_gid)
    return {"luns": luns, "agent_p50_s": statistics.median(ours),
            "bare_pvs_p50_s": statistics.median(bare),
            "ratio": statistics.median(ours) / statistics.median(bare)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sections", default="mailbox,lvm,devices")
    parser.add_argument("--polls", default="2,0.5,0.1")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--events", type=float, default=0.5)
    parser.add_argument("--lvm-ops", type=int, default=20)
    parser.add_argument("--luns", type=int, default=200)
    parser.add_argument("--thin-chunks", default="128,1024")
    parser.add_argument("--thin-poll", type=float, default=2.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sections = args.sections.split(",")
    results: dict[str, object] = {}
    if "mailbox" in sections:
        rows = []
        runs = [(float(p), 0.0) for p in args.polls.split(",")]
        runs.insert(1, (float(args.polls.split(",")[0]), args.events))
        for poll, events in runs:
            row = parts.mailbox_round_trips(poll, args.requests, events)
            rows.append(row)
            if not args.json:
                how = f"events every {events:g} s" if events else "no events"
                print(f"mailbox poll {poll:>4} s, {how}: round trip "
                      f"p50 {row['p50_s']:.3f} s "
                      f"p99 {row['p99_s']:.3f} s max {row['max_s']:.3f} s "
                      f"({row['count']} requests)", flush=True)
        results["mailbox"] = rows
    if "lvm" in sections:
        row = parts.lvm_operations(args.lvm_ops)
        results["lvm"] = row
        if not args.json:
            print(f"LVM metadata ops: agent {row['agent_ops_s']:.1f}/s, bare lvm "
                  f"{row['bare_ops_s']:.1f}/s (ratio {row['ratio']:.2f})", flush=True)
    if "devices" in sections:
        row = device_listing(args.luns)
        results["devices"] = row
        if not args.json:
            print(f"getDeviceList, {row['luns']} LUNs: p50 {row['agent_p50_s']:.3f} s; "
                  f"bare pvs {row['bare_pvs_p50_s']:.3f} s (ratio {row['ratio']:.2f})",
                  flush=True)
    if "thin" in sections:
        from benchmarks import block_storage_thin
        rows = []
        for chunk in args.thin_chunks.split(","):
            row = block_storage_thin.thin_vs_preallocated(
                chunk_mb=int(chunk), poll=args.thin_poll, events=args.events)
            rows.append(row)
            if not args.json:
                print(f"thin, chunk {row['chunk_mb']} MiB, poll {row['poll_s']:g} s: "
                      f"{row['thin_mib_s']:.0f} MiB/s vs preallocated "
                      f"{row['preallocated_mib_s']:.0f} MiB/s (ratio "
                      f"{row['ratio']:.2f}); {row['extensions']} extensions, "
                      f"{row['pauses']} pauses ({row['paused_s']:.1f} s), "
                      f"round trip max {row['round_trip_max_s']:.2f} s", flush=True)
        results["thin"] = rows
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
