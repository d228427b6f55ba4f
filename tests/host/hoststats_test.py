from __future__ import annotations

from vdsm.host import hoststats, memory, procfs
from vdsm.host.hoststats import LinkState, Sample

from .recorded import data


def _recorded(n: int, monotonic: float) -> Sample:
    net = procfs.parse_net_dev(data(f"proc_net_dev_{n}.txt"))
    return Sample(
        monotonic=monotonic, wall=1795663400.0 + monotonic,
        stat=procfs.parse_stat(data(f"proc_stat_{n}.txt")),
        loadavg=procfs.parse_loadavg(data("proc_loadavg.txt")),
        meminfo=memory.parse_meminfo(data("proc_meminfo.txt")),
        net=net,
        links={"eth0": LinkState(0, "up", True),
               "lo": LinkState(0, "unknown", False),
               "ifb0": LinkState(0, "down", False),
               "ifb1": LinkState(0, "down", False)},
        ksm={"run": 0, "pages_to_scan": 100, "pages_sharing": 256,
             "merge_across_nodes": 1},
        ksmd_ticks=100 * n, self_ticks=(10 * n, 5 * n), thp="madvise")


def test_compute_recorded_samples():
    stats = hoststats.compute(_recorded(1, 100.0), _recorded(2, 101.0))
    user, system, idle = (float(stats[k]) for k in ("cpuUser", "cpuSys",
                                                    "cpuIdle"))
    assert 0 <= user <= 100 and 0 <= system <= 100
    assert abs(user + system + idle - 100.0) < 0.02
    assert set(stats["cpuStatistics"]) == {"0", "1"}
    assert stats["cpuLoad"] == "0.19"
    assert stats["memUsed"].isdigit()
    assert stats["swapTotal"] == 0
    assert stats["memShared"] == 256 * hoststats.PAGE_SIZE // (1024 * 1024)
    assert stats["ksmState"] is False and stats["ksmPages"] == 100
    assert stats["ksmCpu"] == round(100.0 * 100 / hoststats.CLOCK_TICKS)
    assert stats["thpState"] == "madvise"
    lo = stats["network"]["lo"]
    # About 1 MiB went over lo in the recorded second: ~0.8% of 1 Gb/s.
    assert 0.5 <= float(lo["rxRate"]) <= 2.0
    assert lo["rx"] == "2712348" and lo["speed"] == "1000"
    assert lo["state"] == "unknown"
    assert stats["network"]["eth0"]["state"] == "up"
    # Totals cover physical NICs only; eth0 was idle.
    assert stats["rxRate"] == "0.0"


def test_compute_same_sample_does_not_divide_by_zero():
    sample = _recorded(1, 5.0)
    stats = hoststats.compute(sample, sample)
    assert stats["cpuIdle"] == "100.00"
    assert stats["network"]["lo"]["rxRate"] == "0.0"


def test_counter_reset_is_not_negative():
    first, last = _recorded(2, 0.0), _recorded(1, 1.0)  # counters went back
    stats = hoststats.compute(first, last)
    assert stats["network"]["lo"]["rxRate"] == "0.0"


def test_take_sample_reads_this_machine():
    sample = hoststats.take_sample(ksmd_pid=procfs.find_pid("ksmd"))
    assert "lo" in sample.net
    assert sample.meminfo["MemTotal"] > 0
    assert sample.thp in ("always", "madvise", "never")
