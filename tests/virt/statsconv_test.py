"""Classic VM stats from recorded getAllDomainStats records (pure)."""

from __future__ import annotations

from vdsm.virt import statsconv

PREV = {"cpu.time": 1_000_000_000, "cpu.user": 600_000_000,
        "cpu.system": 200_000_000,
        "block.count": 1, "block.0.name": "vda", "block.0.rd.bytes": 1000,
        "block.0.wr.bytes": 0, "block.0.rd.reqs": 10, "block.0.rd.times": 1000,
        "block.0.wr.reqs": 0, "block.0.wr.times": 0,
        "net.count": 1, "net.0.name": "vnet0", "net.0.rx.bytes": 0,
        "net.0.tx.bytes": 0}
CUR = {"cpu.time": 2_000_000_000, "cpu.user": 1_100_000_000,
       "cpu.system": 300_000_000,
       "balloon.current": 98304, "balloon.maximum": 98304,
       "balloon.available": 60000, "balloon.unused": 30000,
       "balloon.disk_caches": 0,
       "block.count": 1, "block.0.name": "vda", "block.0.rd.bytes": 3000,
       "block.0.wr.bytes": 4096, "block.0.rd.reqs": 20,
       "block.0.rd.times": 21000, "block.0.wr.reqs": 1,
       "block.0.wr.times": 500, "block.0.capacity": 1 << 20,
       "block.0.allocation": 4096,
       "net.count": 1, "net.0.name": "vnet0", "net.0.rx.bytes": 125_000_000,
       "net.0.tx.bytes": 0, "net.0.rx.errs": 2}


def test_cpu_percent_per_vcpu():
    stats = statsconv.cpu(CUR, PREV, elapsed=1.0, vcpus=1)
    assert stats == {"cpuUsage": "2000000000", "cpuUser": "50.00",
                     "cpuSys": "10.00"}
    assert statsconv.cpu(CUR, PREV, 1.0, 2)["cpuUser"] == "25.00"
    assert statsconv.cpu(CUR, None, 1.0, 1)["cpuUser"] == "0.00"


def test_balloon_and_memory():
    stats = statsconv.balloon(CUR, 96)
    assert stats["balloonInfo"]["balloon_cur"] == "98304"
    assert stats["memUsage"] == "50"
    assert statsconv.balloon({}, 96) == {}


def test_disk_rates_and_latency():
    d = statsconv.disks(CUR, PREV, elapsed=2.0)["vda"]
    assert d["readRate"] == "1000.0" and d["writeRate"] == "2048.0"
    assert d["readLatency"] == "2000" and d["writeLatency"] == "500"
    assert d["apparentsize"] == str(1 << 20) and d["readOps"] == "20"


def test_nic_rates_percent_of_gigabit():
    n = statsconv.nics(CUR, PREV, 1.0, {"vnet0": "00:1a:4a:00:00:01"}, 5.0)
    assert n["vnet0"]["rxRate"] == "100.0" and n["vnet0"]["txRate"] == "0.0"
    assert n["vnet0"]["rxErrors"] == "2" and n["vnet0"]["macAddr"]
