"""Live migration between two real hosts: the agent beside plain virsh.

On the two-hosts rig (tests/virt/twohosts.py: two libvirts in two network
namespaces) with one agent process per host (tests/virt/migrationrig.py,
without the rig's recording hooks unless ``--hooks``), a 128 MiB and a
512 MiB TCG guest, idle and rewriting ``--dirty-mib`` MiB in a loop (the
test guest's ``vdsm_dirty=N``), migrate A->B, B->A, ... through the
agent's ``migrate`` verb: ``--warmup`` untimed runs and ``--runs`` timed
ones with the agent's default downtime schedule (half the maximum first,
raised one step per memory pass without progress), then ``--runs`` with
a convergenceSchedule that sets the maximum at once ("agent_flat").
Then a second guest with the same domain XML goes through ``virsh
migrate --live --p2p`` (the same warm-up and runs) with the same
maximum downtime (``virsh migrate-setmaxdowntime`` before each run) and
the same ``--bandwidth``.

Measured per run: the time from the call to the end (the agent: its
"migrated to" log line; virsh: the command returns), libvirt's figures
from the VIR_DOMAIN_EVENT_ID_JOB_COMPLETED event on the source connection
(the real downtime and the job's time_elapsed: a transient domain that
left cannot be asked afterwards), the agent's prepare time (call -> its
"migrating to" line, right before migrateToURI3). A run past
``--timeout`` is cancelled (migrateCancel / domjobabort) and reported so.
Goals (issue 10): total <= 1.1x virsh; downtime <= the requested maximum in
every run; the agent adds < 100 ms of its own (own = total - libvirt's
job time, compared with virsh's).

    .venv/bin/python benchmarks/migration.py [--runs 3] [--warmup 1]
        [--sizes 128,512] [--loads idle,dirty] [--dirty-mib 16]
        [--downtime 300] [--bandwidth 128] [--timeout 40] [--hooks]
        [--logs DIR] [--json]

Set VDSM_TEST_GUEST_DIR to build the test guest somewhere of your own.
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
# the agent with its default downtime schedule (half the maximum first, one
# step up per stalled memory pass), the agent with the maximum at once,
# plain virsh
METHODS = ("agent", "agent_flat", "virsh")


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
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed runs per method and case first")
    parser.add_argument("--hooks", action="store_true",
                        help="install the rig's recording migration hooks")
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
    if args.runs < 1 or args.warmup < 0 or not args.sizes or not args.loads:
        parser.error("need at least one run, size and load")
    return args


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 1) if values else None


def _method(runs: list[dict[str, Any]], planned: int) -> dict[str, Any]:
    timed = [r for r in runs if not r.get("warmup")]
    good = [r for r in timed if not r.get("error")]
    return {
        "runs": planned, "converged": len(good),
        "errors": [r["error"] for r in runs if r.get("error")],
        **{key: _median(good, key) for key in
           ("total_ms", "downtime_ms", "libvirt_ms", "own_ms", "tail_ms",
            "prepare_ms")},
        "max_downtime_ms": max((r["downtime_ms"] for r in good
                                if r.get("downtime_ms") is not None),
                               default=None),
        "each": runs}


def summarize(case: dict[str, Any], methods: dict[str, list[dict[str, Any]]],
              max_downtime: int, planned: int) -> dict[str, Any]:
    """One case's medians, ratios and goal verdicts from its runs by method
    (each run: total_ms, downtime_ms, libvirt_ms, own_ms, tail_ms, for the
    agent prepare_ms; or error; warm-up runs are listed, not counted)."""
    out: dict[str, Any] = dict(case)
    for name, runs in methods.items():
        out[name] = _method(runs, planned)
    v = out["virsh"]
    for name in methods:
        m = out[name]
        if name == "virsh":
            continue
        m["ratio"] = (round(m["total_ms"] / v["total_ms"], 2)
                      if m["total_ms"] and v["total_ms"] else None)
        m["adds_ms"] = (round(m["own_ms"] - v["own_ms"], 1)
                        if m["own_ms"] is not None
                        and v["own_ms"] is not None else None)
        m["goals"] = {
            "total_le_1.1x_virsh": m["ratio"] is not None
            and m["ratio"] <= TOTAL_RATIO_GOAL,
            "downtime_le_max_every_run": m["converged"] == planned and all(
                r["downtime_ms"] <= max_downtime for r in m["each"]
                if not r.get("warmup") and not r.get("error")),
            "adds_lt_100ms": m["adds_ms"] is not None
            and m["adds_ms"] < OWN_MS_GOAL,
        }
        if not m["converged"]:
            m["goals"] = dict.fromkeys(m["goals"])   # nothing to judge
    return out


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) \
        else str(value)


COLUMNS = (("total ms", "total_ms"), ("downtime ms", "downtime_ms"),
           ("max dt ms", "max_downtime_ms"), ("libvirt ms", "libvirt_ms"),
           ("own ms", "own_ms"), ("prepare ms", "prepare_ms"),
           ("tail ms", "tail_ms"))

LEGEND = """\
total: call -> end (agent: its "migrated to" log line; virsh: the command
returns); downtime and libvirt (the job's time_elapsed) from libvirt's
JOB_COMPLETED event on the source; own = total - libvirt; prepare: call ->
the agent's "migrating to" line (migrateToURI3 follows); tail: the event's
arrival -> end; ratio = total / virsh total; adds = own - virsh own.
agent: the default downtime schedule (half the maximum first, one step up
per stalled memory pass); agent_flat: a convergenceSchedule that sets the maximum at
once, as virsh does (the same guest right after the agent runs)."""


def table(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """The results as a text table, one line per case and method, then
    the goals' verdicts."""
    head = ("case", "method", "ok", *(c for c, _ in COLUMNS), "ratio")
    rows = [head]
    for res in results:
        case = f"{res['mem_mib']} MiB {res['load']}"
        for name in METHODS:
            m = res[name]
            rows.append((case, name, f"{m['converged']}/{m['runs']}",
                         *(_fmt(m[key]) for _, key in COLUMNS),
                         _fmt(m.get("ratio")) if name != "virsh" else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(f"max downtime {args.downtime} ms, bandwidth {args.bandwidth}"
                 f" MiB/s, dirtying {args.dirty_mib} MiB, {args.warmup} warm-up"
                 f" + {args.runs} timed run(s) per method, medians; migration "
                 f"hooks {'on' if args.hooks else 'off'}")
    lines.extend(LEGEND.splitlines())
    for res in results:
        case = f"{res['mem_mib']} MiB {res['load']}"
        for name in METHODS[:-1]:
            m = res[name]
            verdicts = ", ".join(
                f"{k} {'n/a' if v is None else 'met' if v else 'NOT met'}"
                for k, v in m["goals"].items())
            lines.append(f"{case} {name}: adds {_fmt(m['adds_ms'])} ms; "
                         f"{verdicts}")
        for name in METHODS:
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
                results.append(summarize({"mem_mib": mem, "load": load},
                                         rig.case(mem, load), args.downtime,
                                         args.runs))
    finally:
        rig.stop()
    if args.json:
        print(json.dumps({"downtime_ms": args.downtime,
                          "bandwidth_mib_s": args.bandwidth,
                          "dirty_mib": args.dirty_mib, "hooks": args.hooks,
                          "warmup": args.warmup, "runs": args.runs,
                          "cases": results}, indent=2))
    else:
        print(table(results, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
