"""Classic VM statistics from two raw libvirt stats records. Pure.

A record is what virConnectGetAllDomainStats returns for one domain
(``{'state.state': 1, 'cpu.time': ns, 'block.0.rd.bytes': ...}``); rates
come from the difference between the previous record and this one over
``elapsed`` seconds. Keys missing from a record (a busy domain sampled
without waiting) are simply left out.
"""

from __future__ import annotations

from typing import Any

NIC_SPEED_MBPS = 1000  # nominal speed for the classic rate percentages


def _delta(cur: dict[str, Any], prev: dict[str, Any] | None, key: str) -> float | None:
    if prev is None or key not in cur or key not in prev:
        return None
    return max(0.0, float(cur[key] - prev[key]))


def _rate(cur: dict[str, Any], prev: dict[str, Any] | None, key: str,
          elapsed: float) -> str:
    d = _delta(cur, prev, key)
    return "0.0" if d is None or elapsed <= 0 else f"{d / elapsed:.1f}"


def cpu(cur: dict[str, Any], prev: dict[str, Any] | None, elapsed: float,
        vcpus: int) -> dict[str, Any]:
    stats: dict[str, Any] = {}
    if "cpu.time" in cur:
        stats["cpuUsage"] = str(cur["cpu.time"])
    scale = elapsed * 1e9 * max(1, vcpus)
    for key, name in (("cpu.user", "cpuUser"), ("cpu.system", "cpuSys")):
        d = _delta(cur, prev, key)
        if d is not None and scale > 0:
            stats[name] = f"{min(100.0, 100.0 * d / scale):.2f}"
        elif key in cur:
            stats[name] = "0.00"
    return stats


def balloon(cur: dict[str, Any], mem_mib: int) -> dict[str, Any]:
    if "balloon.current" not in cur:
        return {}
    stats: dict[str, Any] = {"balloonInfo": {
        "balloon_max": str(cur.get("balloon.maximum", mem_mib * 1024)),
        "balloon_cur": str(cur["balloon.current"]),
        "balloon_target": str(cur["balloon.current"]),
        "balloon_min": "0"}}
    if "balloon.rss" in cur:
        stats["memRss"] = str(cur["balloon.rss"])  # the QEMU process, KiB
    available, unused = cur.get("balloon.available"), cur.get("balloon.unused")
    if available and unused is not None:
        used = available - unused - cur.get("balloon.disk_caches", 0)
        stats["memUsage"] = str(max(0, min(100, round(100 * used / available))))
        stats["memoryStats"] = {
            "mem_total": str(available), "mem_unused": str(unused),
            "mem_free": str(cur.get("balloon.usable", unused)),
            "mem_cached": str(cur.get("balloon.disk_caches", 0)),
            "swap_in": str(cur.get("balloon.swap_in", 0)),
            "swap_out": str(cur.get("balloon.swap_out", 0)),
            "majflt": str(cur.get("balloon.major_fault", 0)),
            "minflt": str(cur.get("balloon.minor_fault", 0))}
    return stats


def disks(cur: dict[str, Any], prev: dict[str, Any] | None,
          elapsed: float) -> dict[str, Any]:
    result = {}
    for i in range(int(cur.get("block.count", 0))):
        p = f"block.{i}."
        name = cur.get(p + "name")
        if not name:
            continue
        d: dict[str, Any] = {
            "readRate": _rate(cur, prev, p + "rd.bytes", elapsed),
            "writeRate": _rate(cur, prev, p + "wr.bytes", elapsed),
            "readBytes": str(cur.get(p + "rd.bytes", 0)),
            "writtenBytes": str(cur.get(p + "wr.bytes", 0)),
            "readOps": str(cur.get(p + "rd.reqs", 0)),
            "writeOps": str(cur.get(p + "wr.reqs", 0)),
            "truesize": str(cur.get(p + "allocation", 0)),
            "apparentsize": str(cur.get(p + "capacity", 0)),
        }
        for op, name_ in (("rd", "readLatency"), ("wr", "writeLatency"),
                          ("fl", "flushLatency")):
            ops = _delta(cur, prev, f"{p}{op}.reqs")
            spent = _delta(cur, prev, f"{p}{op}.times")
            d[name_] = str(int(spent / ops)) if ops and spent is not None else "0"
        result[name] = d
    return result


def nics(cur: dict[str, Any], prev: dict[str, Any] | None, elapsed: float,
         macs: dict[str, str], now: float) -> dict[str, Any]:
    """Per host-side NIC name; rates in % of NIC_SPEED_MBPS, as classic."""
    result = {}
    bits = NIC_SPEED_MBPS * 1e6
    for i in range(int(cur.get("net.count", 0))):
        p = f"net.{i}."
        name = cur.get(p + "name")
        if not name:
            continue
        n: dict[str, Any] = {"name": name, "macAddr": macs.get(name, ""),
                             "speed": str(NIC_SPEED_MBPS), "state": "unknown",
                             "sampleTime": now}
        for d, key in (("rx", "rx"), ("tx", "tx")):
            delta = _delta(cur, prev, f"{p}{key}.bytes")
            pct = 0.0 if delta is None or elapsed <= 0 else \
                100.0 * delta * 8 / elapsed / bits
            n[f"{d}Rate"] = f"{pct:.1f}"
            n[d] = str(cur.get(f"{p}{key}.bytes", 0))
            n[f"{d}Errors"] = str(cur.get(f"{p}{key}.errs", 0))
            n[f"{d}Dropped"] = str(cur.get(f"{p}{key}.drop", 0))
        result[name] = n
    return result
