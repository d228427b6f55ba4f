from __future__ import annotations

from vdsm.host import memory

from .recorded import data


def test_parse_recorded_meminfo():
    info = memory.parse_meminfo(data("proc_meminfo.txt"))
    assert info["MemTotal"] == 24684096
    assert info["HugePages_Total"] == 0  # a page count, no unit
    assert memory.mem_size_mib(info) == 24684096 // 1024
    assert memory.swap_mib(info) == (0, 0)
    assert 0 <= memory.used_percent(info) <= 100
    assert memory.free_mib(info) <= memory.mem_size_mib(info)


def test_this_machine_matches_proc_meminfo():
    with open("/proc/meminfo") as f:
        total = next(int(line.split()[1]) for line in f
                     if line.startswith("MemTotal:"))
    assert memory.mem_size_mib(memory.read_meminfo()) == total // 1024
