"""Soak: many clients of mixed verbs over both bindings against the real
vdsmd with 20 real TCG VMs: no error, and the agent's memory and open fds
flat between 10% and 100% of the calls.

Size: VDSM_SOAK_CLIENTS (50) x VDSM_SOAK_CALLS (2,000) calls, the full
size by default (about 75 s of calls on 2 shared cores, 2.2 min with the
VMs' boot); lower VDSM_SOAK_CALLS on a slower machine. benchmarks/soak.py
runs it at any size and prints the figures.
"""

from __future__ import annotations

import os

import pytest

from .soakrig import SoakRig

CLIENTS = int(os.environ.get("VDSM_SOAK_CLIENTS", "50"))
CALLS = int(os.environ.get("VDSM_SOAK_CALLS", "2000"))
VMS = int(os.environ.get("VDSM_SOAK_VMS", "20"))
UP = 4                  # left running; the others paused after boot
RSS_GROWTH = 0.10       # at most, from 10% to 100% of the calls
FD_GROWTH = 5


@pytest.fixture(scope="module")
def rig(libvirtd, guest):
    rig = SoakRig(libvirtd.uri, guest, vms=VMS, up=UP)
    try:
        rig.start()
        yield rig
    finally:
        rig.stop()


def test_mixed_clients_no_errors_and_flat_resources(rig):
    before = rig.statuses()
    result = rig.run_load(CLIENTS, CALLS, timeout=600)
    print("soak:", result)
    assert result["errors"] == 0, result["first_errors"]
    assert result["calls"] == CLIENTS * CALLS and not result["stuck_clients"]
    assert result["xmlrpc_connections"] == CLIENTS // 2   # kept alive
    at_10, at_100 = result["at_10"], result["at_100"]
    assert at_100["rss_kib"] < at_10["rss_kib"] * (1 + RSS_GROWTH), result
    assert at_100["fds"] <= at_10["fds"] + FD_GROWTH, result
    # The agent is still there and still tells the truth about every VM.
    assert rig.root.procs["vdsmd"].poll() is None
    assert rig.statuses() == before
    assert list(before.values()).count("Up") == UP
