"""vdsm/storage/domains/block/activation.py: user counts per LV.

A fake LVM stands in for device-mapper (this kernel has none): activating
makes the LV's path appear, deactivating removes it. The same registry on
a real VG (activation off, LVs served by lvfiles) is tested in
block_volume_test.py; real ``lvchange -ay`` failing here is tested there too.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import pytest

from vdsm.storage.domains.block.activation import Activations
from vdsm.storage.domains.block.vgaccess import VGAccess
from vdsm.storage.io.file_operations import LocalFileOps
from vdsm.storage.lvm_errors import (
    CannotActivateLogicalVolume,
    CannotDeactivateLogicalVolume,
    LogicalVolumeRefreshError,
)

VG = "sd-uuid"


@dataclass
class FakeLV:
    size: int


class FakeLVM:
    """Records state changes; an active LV is a file of its size."""

    def __init__(self, lv_dir: str) -> None:
        self.dir = os.path.join(lv_dir, VG)
        os.makedirs(self.dir)
        self.calls: list[tuple[str, str]] = []
        self.sizes: dict[str, int] = {}
        self.fail: dict[tuple[str, str], Exception] = {}
        self.appear = True
        self._lock = threading.Lock()

    def _call(self, op: str, lv: str) -> None:
        with self._lock:
            self.calls.append((op, lv))
        if (op, lv) in self.fail:
            raise self.fail[(op, lv)]

    def activate(self, vg: str, lv: str) -> None:
        self._call("activate", lv)
        if self.appear:
            with open(os.path.join(self.dir, lv), "wb") as f:
                f.truncate(self.sizes.get(lv, 512))

    def deactivate(self, vg: str, lv: str) -> None:
        self._call("deactivate", lv)
        if os.path.exists(os.path.join(self.dir, lv)):
            os.unlink(os.path.join(self.dir, lv))

    def refresh(self, vg: str, lv: str) -> None:
        self._call("refresh", lv)
        if self.appear:
            os.truncate(os.path.join(self.dir, lv), self.sizes[lv])

    def invalidate(self, vg: str | None = None) -> None:
        pass

    def lv(self, vg: str, lv: str) -> FakeLV:
        return FakeLV(self.sizes.get(lv, 512))


@pytest.fixture
def fake(tmp_path):
    lvm = FakeLVM(str(tmp_path))
    vg = VGAccess(sd_uuid=VG, lvm=lvm, lv_dir=str(tmp_path),  # type: ignore[arg-type]
                  ops=LocalFileOps(), leases=None, version=5)  # type: ignore[arg-type]
    return lvm, vg, Activations(timeout=0.3, interval=0.01)


def test_two_users_activate_once_and_the_last_deactivates(fake):
    lvm, vg, acts = fake
    acts.acquire(vg, ["a"])
    acts.acquire(vg, ["a"])
    assert lvm.calls == [("activate", "a")] and acts.count(VG, "a") == 2
    acts.release(vg, ["a"])
    assert lvm.calls == [("activate", "a")] and os.path.exists(vg.lv_path("a"))
    acts.release(vg, ["a"])
    assert lvm.calls[-1] == ("deactivate", "a") and acts.count(VG, "a") == 0
    assert not os.path.exists(vg.lv_path("a"))


def test_a_chain_activates_base_first_and_shared_parents_once(fake):
    lvm, vg, acts = fake
    acts.acquire(vg, ["base", "top1"])
    acts.acquire(vg, ["base", "top2"])      # another image on the same template
    assert lvm.calls == [("activate", "base"), ("activate", "top1"),
                         ("activate", "top2")]
    acts.release(vg, ["top1", "base"])
    assert lvm.calls[-1] == ("deactivate", "top1")
    assert acts.count(VG, "base") == 1
    acts.release(vg, ["top2", "base"])
    assert lvm.calls[-2:] == [("deactivate", "top2"), ("deactivate", "base")]


def test_failure_in_the_chain_releases_what_was_taken(fake):
    lvm, vg, acts = fake
    lvm.fail[("activate", "top")] = CannotActivateLogicalVolume("injected")
    with pytest.raises(CannotActivateLogicalVolume):
        acts.acquire(vg, ["base", "top"])
    assert lvm.calls == [("activate", "base"), ("activate", "top"),
                         ("deactivate", "base")]
    assert acts.count(VG, "base") == acts.count(VG, "top") == 0


def test_a_path_that_never_appears_fails_in_bounded_time_and_deactivates(fake):
    lvm, vg, acts = fake
    lvm.appear = False
    with pytest.raises(CannotActivateLogicalVolume, match="did not appear"):
        acts.acquire(vg, ["a"])
    assert lvm.calls == [("activate", "a"), ("deactivate", "a")]
    assert acts.count(VG, "a") == 0


def test_without_activation_no_lvchange_runs_but_the_path_is_waited_for(fake):
    lvm, _, acts = fake
    vg = VGAccess(sd_uuid=VG, lvm=lvm, lv_dir=os.path.dirname(lvm.dir),  # type: ignore
                  ops=LocalFileOps(), leases=None, version=5,  # type: ignore
                  activation=False)
    with open(vg.lv_path("a"), "wb"):
        pass
    acts.acquire(vg, ["a"])
    acts.release(vg, ["a"])
    assert lvm.calls == []
    with pytest.raises(CannotActivateLogicalVolume):
        acts.acquire(vg, ["missing"])


def test_release_of_an_lv_not_held_does_nothing(fake):
    lvm, vg, acts = fake
    acts.release(vg, ["a"])
    assert lvm.calls == [] and acts.count(VG, "a") == 0


def test_a_failed_deactivation_keeps_the_count_so_a_retry_can_finish(fake):
    lvm, vg, acts = fake
    acts.acquire(vg, ["a", "b"])
    lvm.fail[("deactivate", "b")] = CannotDeactivateLogicalVolume("busy")
    with pytest.raises(CannotDeactivateLogicalVolume):
        acts.release(vg, ["b", "a"])
    assert acts.count(VG, "b") == 1 and acts.count(VG, "a") == 0   # a was tried too
    del lvm.fail[("deactivate", "b")]
    acts.release(vg, ["b"])
    assert acts.count(VG, "b") == 0


def test_refresh_waits_until_the_path_shows_the_new_size(fake):
    lvm, vg, acts = fake
    lvm.sizes["a"] = 4096
    acts.acquire(vg, ["a"])
    lvm.sizes["a"] = 8192           # the SPM extended it
    assert acts.refresh(vg, "a") == 8192
    assert lvm.calls[-1] == ("refresh", "a")
    assert os.path.getsize(vg.lv_path("a")) == 8192
    lvm.appear = False              # the table reload shows nothing new
    lvm.sizes["a"] = 16384
    with pytest.raises(LogicalVolumeRefreshError):
        acts.refresh(vg, "a")


def test_concurrent_users_keep_activations_and_deactivations_paired(fake):
    lvm, vg, acts = fake

    def user() -> None:
        for _ in range(50):
            acts.acquire(vg, ["a"])
            acts.release(vg, ["a"])

    threads = [threading.Thread(target=user) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ops = [op for op, _ in lvm.calls]
    assert ops.count("activate") == ops.count("deactivate") >= 1
    assert all(a != b for a, b in zip(ops, ops[1:], strict=False))  # alternate
    assert acts.count(VG, "a") == 0
