"""Live migration between two real hosts: the agent beside plain virsh.

On the two-hosts rig (tests/virt/twohosts.py: two libvirts in two network
namespaces) with one agent process per host (tests/virt/migrationrig.py),
a 128 MiB and a 512 MiB TCG guest, idle and rewriting ``--dirty-mib`` MiB
in a loop (the test guest's ``vdsm_dirty=N``), migrate A->B, B->A, ...
``--runs`` times through the agent's ``migrate`` verb and then, as a
second guest with the same domain XML, through ``virsh migrate --live
--p2p`` with the same maximum downtime (``virsh migrate-setmaxdowntime``
before each run) and the same ``--bandwidth``.

Measured per run: the wall time from the call to the end (the agent: its
``migrateStatus`` says done; virsh: the command returns), and libvirt's own
figures from the VIR_DOMAIN_EVENT_ID_JOB_COMPLETED event on the source
connection: the real downtime and the job's elapsed time (the agent's own
time is its wall time minus that). A run past ``--timeout`` is cancelled
(migrateCancel / domjobabort) and the case reported as not converging.
Goals (issue 10): total <= 1.1x virsh; downtime <= the requested maximum in
every run; the agent adds < 100 ms of its own.

    .venv/bin/python benchmarks/migration.py [--runs 3] [--sizes 128,512]
        [--loads idle,dirty] [--downtime 300] [--bandwidth 128] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import libvirt  # noqa: E402

from benchmarks.migration_runs import Rig  # noqa: E402

log = logging.getLogger(__name__)

TOTAL_RATIO_GOAL = 1.1
OWN_MS_GOAL = 100.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="128,512",
                        help="guest memory sizes in MiB, comma separated")
    parser.add_argument("--loads", default="idle,dirty",
                        help="idle and/or dirty, comma separated")
    parser.add_argument("--dirty-mib", type=int, default=16,
                        help="MiB the dirtying guest rewrites in a loop")
    parser.add_argument("--downtime", type=int, default=300,
                        help="maximum downtime in ms (both sides)")
    parser.add_argument("--bandwidth", type=int, default=128,
                        help="MiB/s (both sides)")
    parser.add_argument("--timeout", type=float, default=40.0,
                        help="s a run may take before it is cancelled")
    parser.add_argument("--logs", metavar="DIR",
                        help="keep the agents' logs there")
    parser.add_argument("--json", action="store_true",
                        help="print JSON instead of a table")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.loads = [s for s in args.loads.split(",") if s]
    for load in args.loads:
        if load not in ("idle", "dirty"):
            parser.error(f"unknown load {load!r} (idle, dirty)")
    if args.runs < 1 or not args.sizes or not args.loads:
        parser.error("need at least one run, size and load")
    return args


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 1) if values else None


def summarize(case: dict[str, Any], agent: list[dict[str, Any]],
              virsh: list[dict[str, Any]], max_downtime: int) -> dict[str, Any]:
    """One case's medians, ratios and goal verdicts from its runs (each
    run: total_ms, downtime_ms, libvirt_ms, own_ms, or error)."""
    out: dict[str, Any] = dict(case)
    for name, runs in (("agent", agent), ("virsh", virsh)):
        good = [r for r in runs if not r.get("error")]
        out[name] = {
            "runs": len(runs), "converged": len(good),
            "errors": [r["error"] for r in runs if r.get("error")],
            **{key: _median(good, key) for key in
               ("total_ms", "downtime_ms", "libvirt_ms", "own_ms")},
            "max_downtime_ms": max((r["downtime_ms"] for r in good
                                    if r.get("downtime_ms") is not None),
                                   default=None)}
        if name == "agent":
            out[name]["prepare_ms"] = _median(good, "prepare_ms")
        out[name]["each"] = runs
    a, v = out["agent"], out["virsh"]
    ratio = (round(a["total_ms"] / v["total_ms"], 2)
             if a["total_ms"] and v["total_ms"] else None)
    out["total_ratio"] = ratio
    complete = a["converged"] == a["runs"]
    out["goals"] = {
        "total_le_1.1x_virsh": ratio is not None and ratio <= TOTAL_RATIO_GOAL,
        "downtime_le_max_every_run": complete and all(
            r.get("downtime_ms") is not None and r["downtime_ms"] <= max_downtime
            for r in agent),
        "agent_own_lt_100ms": a["own_ms"] is not None
        and a["own_ms"] < OWN_MS_GOAL,
    }
    return out


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) \
        else str(value)


def table(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """The results as a text table, one line per case and method."""
    head = ("case", "method", "ok", "total ms", "downtime ms", "max dt ms",
            "libvirt ms", "own ms", "ratio")
    rows = [head]
    for res in results:
        case = f"{res['mem_mib']} MiB {res['load']}"
        for name in ("agent", "virsh"):
            m = res[name]
            rows.append((case, name, f"{m['converged']}/{m['runs']}",
                         _fmt(m["total_ms"]), _fmt(m["downtime_ms"]),
                         _fmt(m["max_downtime_ms"]), _fmt(m["libvirt_ms"]),
                         _fmt(m["own_ms"]),
                         _fmt(res["total_ratio"]) if name == "agent" else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(f"max downtime {args.downtime} ms, bandwidth {args.bandwidth}"
                 f" MiB/s, {args.runs} run(s) per method, medians; downtime "
                 "and libvirt ms from the source's JOB_COMPLETED event")
    for res in results:
        case = f"{res['mem_mib']} MiB {res['load']}"
        verdicts = ", ".join(f"{k} {'met' if v else 'NOT met'}"
                             for k, v in res["goals"].items())
        lines.append(f"{case}: {verdicts}; agent prepare (call -> "
                     f"migrateToURI3) {_fmt(res['agent']['prepare_ms'])} ms")
        for name in ("agent", "virsh"):
            for error in res[name]["errors"]:
                lines.append(f"  {name}: {error}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # libvirt's default handler prints every error (a domain gone from a
    # host) to stderr; they are raised as exceptions all the same
    libvirt.registerErrorHandler(lambda *_: None, None)
    rig = Rig(args)
    results = []
    try:
        rig.start()
        for mem in args.sizes:
            for load in args.loads:
                agent, virsh = rig.case(mem, load)
                results.append(summarize({"mem_mib": mem, "load": load},
                                         agent, virsh, args.downtime))
    finally:
        rig.stop()
    if args.json:
        print(json.dumps({"downtime_ms": args.downtime,
                          "bandwidth_mib_s": args.bandwidth,
                          "runs": args.runs, "cases": results}, indent=2))
    else:
        print(table(results, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
