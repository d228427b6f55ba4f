"""prepareForShutdown and the HA maintenance mode.

End to end: a real vdsmd (storage and virt subsystems), a real sanlock
(-w 0) and a POSIX pool on a loop ext4 where the host is SPM; after
prepareForShutdown the SPM lease, the pool and every lockspace are given
back and VM.create is refused. No libvirtd runs for it: the refusal comes
before libvirt is asked anything. Unit tests cover persistence
and a failing step.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.storage.helpers import (
    StorageHost,
    create_pool,
    loop_ext4,
    new_uuid,
    ok,
)
from vdsm.common import commands
from vdsm.common.errors import PreparingForShutdown, SetHAPolicyFailed
from vdsm.host.maintenance import Maintenance


def _lockspaces(host: StorageHost) -> list[str]:
    res = commands.run(["sanlock", "client", "status"], timeout=15,
                       env=dict(os.environ, **host.sanlock.env()))
    return [line for line in res.out.splitlines() if line.startswith("s ")]


@pytest.fixture(scope="module")
def host() -> Iterator[StorageHost]:
    # no libvirtd: the refusal comes before libvirt (virt keeps retrying)
    nowhere = f"qemu+unix:///system?socket=/nonexistent-{new_uuid()}/sock"
    h = StorageHost({("vars", "libvirt_uri"): nowhere},
                    vdsmd_module="tests.host.maintenance_vdsmd")
    h.start()
    yield h
    h.stop()


@pytest.fixture(scope="module")
def pool(host: StorageHost) -> Iterator[dict[str, Any]]:
    with loop_ext4(64) as device:
        names = create_pool(host.proxy(), device)
        yield names
        p = host.proxy()
        p.disconnectStorageServer(6, "00000000-0000-0000-0000-000000000000",
                                  [names["con"]])


def test_ha_maintenance_mode_is_kept_and_reported(host):
    p = host.proxy()
    ha = ok(p.getVdsStats())["info"]["haStats"]
    assert ha == {"configured": False, "active": False, "score": 0,
                  "globalMaintenance": False, "localMaintenance": False}
    ok(p.setHaMaintenanceMode("global", True))
    ok(p.setHaMaintenanceMode("LOCAL", True))
    ok(p.setHaMaintenanceMode("local", False))
    ha = ok(p.getVdsStats())["info"]["haStats"]
    assert (ha["globalMaintenance"], ha["localMaintenance"]) == (True, False)
    answer = p.setHaMaintenanceMode("none", True)
    assert answer["status"]["code"] == 61, answer["status"]


def test_prepare_for_shutdown_gives_back_leases_and_refuses_vms(host, pool):
    p = host.proxy()
    sp, sd = pool["sp"], pool["sd"]
    assert ok(p.getSpmStatus(sp))["spm_st"]["spmStatus"] == "SPM"
    repo = ok(p.repoStats())
    assert sd in repo.get("info", repo)
    assert any(sd in line for line in _lockspaces(host))

    start = time.monotonic()
    ok(p.prepareForShutdown())
    print(f"prepareForShutdown (SPM, 1 domain): "
          f"{time.monotonic() - start:.2f}s")

    assert _lockspaces(host) == []                      # host ids released
    assert p.getSpmStatus(sp)["status"]["code"] != 0    # no pool connected
    repo = p.repoStats()
    assert sd not in repo.get("info", repo)             # no monitor left
    answer = p.create({"vmId": new_uuid(), "vmName": "late", "memSize": 64})
    assert answer["status"]["code"] == 40, answer["status"]
    assert "preparing for shutdown" in answer["status"]["message"]
    ok(p.prepareForShutdown())                          # again: nothing to do
    log = host.output()
    assert "prepareForShutdown done" in log


# --- unit ---------------------------------------------------------------------
def test_ha_mode_survives_a_restart(tmp_path):
    Maintenance(str(tmp_path)).set_ha_maintenance("local", True)
    assert Maintenance(str(tmp_path)).ha_stats()["localMaintenance"] is True
    with pytest.raises(SetHAPolicyFailed):
        Maintenance(str(tmp_path)).set_ha_maintenance("both", True)


def test_a_failing_step_does_not_stop_the_others(tmp_path, caplog):
    m = Maintenance(str(tmp_path))
    ran = []

    def broken() -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    m.add_shutdown_step("broken", broken)
    m.add_shutdown_step("fine", lambda: ran.append(1) or {"ok": True})
    m.check_new_vm()
    done = m.prepare_for_shutdown()
    assert done == {"broken": {"error": "disk on fire"}, "fine": {"ok": True}}
    assert "broken failed" in caplog.text
    with pytest.raises(PreparingForShutdown):
        m.check_new_vm()
    assert m.prepare_for_shutdown() == {} and ran == [1]
