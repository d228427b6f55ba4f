from __future__ import annotations

import os

import pytest

from vdsm.host import procfs

from .recorded import data


def test_parse_recorded_stat():
    stat = procfs.parse_stat(data("proc_stat_1.txt"))
    assert sorted(stat.cpus) == [0, 1]
    assert stat.boot_time > 1_000_000_000
    # The kernel sums unrounded per-cpu times: off by at most a tick a cpu.
    per_cpu = sum(c.user for c in stat.cpus.values())
    assert abs(stat.total.user - per_cpu) <= len(stat.cpus)


def test_parse_stat_rejects_garbage():
    with pytest.raises(ValueError):
        procfs.parse_stat("intr 1 2 3\n")


def test_parse_recorded_net_dev():
    before = procfs.parse_net_dev(data("proc_net_dev_1.txt"))
    after = procfs.parse_net_dev(data("proc_net_dev_2.txt"))
    assert set(before) == {"lo", "ifb0", "ifb1", "eth0"}
    assert after["lo"].rx_bytes - before["lo"].rx_bytes > 1024 * 1024
    assert after["lo"].tx_bytes == after["lo"].rx_bytes


def test_parse_recorded_small_files():
    assert procfs.parse_loadavg(data("proc_loadavg.txt"))[1] >= 0.0
    assert procfs.parse_pid_cpu(data("proc_ksmd_stat.txt")) == 0
    assert procfs.parse_thp("always [madvise] never\n") == "madvise"
    with pytest.raises(ValueError):
        procfs.parse_thp("always madvise never")


def test_pid_stat_with_spaces_in_comm():
    text = "42 (a) b (c)) R 1 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 99 0 0"
    assert procfs.parse_pid_cpu(text) == 10
    assert procfs.parse_pid_start(text) == 99


def test_this_process():
    text = procfs.read_text(f"/proc/{os.getpid()}/stat")
    assert procfs.parse_pid_start(text) > 0
    assert procfs.find_pid("no-such-comm-xyz") is None


def test_link_state_of_lo():
    speed, state, physical = procfs.read_link_state("lo", "/sys/class/net")
    assert speed == 0 and not physical
    assert state == open("/sys/class/net/lo/operstate").read().strip()
