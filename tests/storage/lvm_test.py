"""vdsm.storage.lvm on real LVM metadata: loop devices standing in for LUNs.

Commands run in this process (LocalRunner, root) with the same argument
checks supervdsmd applies; tests/supervdsm/ops_lvm_test.py runs them
through a real supervdsmd. LVs are never activated: this kernel has no
device-mapper, so activation is only shown to fail with its classic code.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

from tests.storage.lvmhelpers import loop_devices, need_lvm, vg_names
from vdsm.api.codes import CODES
from vdsm.common.errors import InvalidParameter
from vdsm.storage import lvm_cmd
from vdsm.storage import lvm_errors as errors
from vdsm.storage.lvm import LVM, LocalRunner
from vdsm.supervdsm.errors import UnknownOperation

pytestmark = need_lvm

MIB = 1024 * 1024
EXTENT = 128 * MIB


class CountingRunner:
    """The real LocalRunner, counting the ops it ran (and an optional hook
    run in the middle of a report, to interleave a change)."""

    def __init__(self) -> None:
        self.runner = LocalRunner()
        self.calls: Counter[str] = Counter()
        self.during_report: Any = None

    def call(self, op: str, /, **args: Any) -> Any:
        self.calls[op] += 1
        result = self.runner.call(op, **args)
        if op == "lvm_report" and self.during_report is not None:
            hook, self.during_report = self.during_report, None
            hook()
        return result


def code(error: BaseException) -> int:
    return CODES[error.name][0]


@pytest.fixture
def luns():
    with loop_devices(2) as devices:
        yield devices


@pytest.fixture
def vgs():
    with vg_names(2) as names:
        yield names


@pytest.fixture
def runner() -> CountingRunner:
    return CountingRunner()


@pytest.fixture
def lvm(runner) -> LVM:
    return LVM(runner)


@pytest.fixture
def vg(lvm, luns, vgs) -> str:
    """A VG over both LUNs, with 2 x 128 MiB metadata areas per PV."""
    lvm.pvcreate(luns)
    lvm.vgcreate(vgs[0], luns, tags=["RHAT_storage_domain_UNREADY", "MDT_VERSION=5"])
    return vgs[0]


def test_pvs_and_vg(lvm, luns, vg):
    created = lvm.vg(vg)
    assert created.extent_size == EXTENT
    assert set(created.tags) == {"RHAT_storage_domain_UNREADY", "MDT_VERSION=5"}
    assert created.pv_names == tuple(luns)
    assert created.mda_count == 4 and created.mda_size == 128 * MIB
    assert created.free == created.size == 2 * 13 * EXTENT   # 2 GiB minus mdas
    pvs = lvm.vg_pvs(vg)
    assert [pv.name for pv in pvs] == luns
    assert all(pv.vg_name == vg and pv.mda_count == 2 for pv in pvs)
    assert lvm.pvs(luns) == pvs
    lvm.change_vg_tags(vg, delete=["RHAT_storage_domain_UNREADY"],
                       add=["RHAT_storage_domain"])
    assert set(lvm.vg(vg).tags) == {"RHAT_storage_domain", "MDT_VERSION=5"}


def test_lv_lifecycle(lvm, luns, vg):
    lv = lvm.lvcreate(vg, "metadata", 128 * MIB, tags=["IU_img", "PU_parent"])
    assert (lv.name, lv.vg_name, lv.size) == ("metadata", vg, EXTENT)
    assert lv.tags == ("IU_img", "PU_parent") and lv.writeable and not lv.active
    lvm.lvcreate(vg, "small", 1 * MIB)       # rounded up to one extent
    assert lvm.lv(vg, "small").size == EXTENT
    assert {v.name for v in lvm.lvs(vg)} == {"metadata", "small"}

    lvm.lvextend(vg, "metadata", 3 * EXTENT)
    assert lvm.lv(vg, "metadata").size == 3 * EXTENT
    lvm.lvreduce(vg, "metadata", 2 * EXTENT)
    assert lvm.lv(vg, "metadata").size == 2 * EXTENT
    lvm.lvextend(vg, "small", 20 * EXTENT)   # spans both PVs
    assert {d.split("(")[0] for d in lvm.lv(vg, "small").devices} == set(luns)
    assert lvm.vg(vg).free_count == 26 - 22

    lvm.change_lv_tags(vg, "metadata", add=["MD_1"])
    lvm.change_lv_tags(vg, "metadata", delete=["PU_parent"], add=["PU_other"])
    lvm.change_lv_tags(vg, "metadata", delete=["MD_1"])
    assert set(lvm.lv(vg, "metadata").tags) == {"IU_img", "PU_other"}

    lvm.lvrename(vg, "small", "_remove_me_small")
    assert {v.name for v in lvm.lvs(vg)} == {"metadata", "_remove_me_small"}
    lvm.lvremove(vg, "_remove_me_small")
    assert [v.name for v in lvm.lvs(vg)] == ["metadata"]
    lvm.vgremove(vg)
    with pytest.raises(errors.VolumeGroupDoesNotExist):
        lvm.vg(vg)


def test_filter_hides_other_vgs(lvm, luns, vgs):
    """Each VG's commands see only its own PVs: the other LUN's VG is
    invisible, even to a command that names it."""
    mine, other = vgs
    lvm.pvcreate(luns)
    lvm.vgcreate(mine, luns[:1])
    lvm.vgcreate(other, luns[1:])
    lvm.lvcreate(other, "theirs", EXTENT)
    assert [pv.name for pv in lvm.pvs(luns[:1])] == luns[:1]
    assert [row[0] for row in lvm_cmd.report("vg", luns[:1])] == [mine]
    assert lvm_cmd.report("lv", luns[:1], [other]) == []
    with pytest.raises(errors.VolumeGroupDoesNotExist):
        lvm.find_vg(other, luns[:1])
    seen_through_mine = LVM(LocalRunner())
    seen_through_mine.set_devices(other, luns[:1])
    with pytest.raises(errors.VolumeGroupDoesNotExist) as e:
        seen_through_mine.lvcreate(other, "intruder", EXTENT)
    assert code(e.value) == 506 and "not found" in str(e.value)
    assert [lv.name for lv in lvm.lvs(other)] == ["theirs"]
    # and found where it is
    assert LVM(LocalRunner()).find_vg(other, luns).pv_names == tuple(luns[1:])


def test_cache(lvm, runner, luns, vg):
    lvm.lvcreate(vg, "a", EXTENT)
    lvm.invalidate(vg)
    runner.calls.clear()
    for _ in range(5):
        lvm.lvs(vg)
        lvm.vg(vg)
    assert runner.calls["lvm_report"] == 2            # one vgs, one lvs
    runner.calls.clear()
    lvm.invalidate(vg)
    lvm.lvs(vg)                                       # a VG with LVs: no vgs
    assert runner.calls["lvm_report"] == 1
    lvm.lvcreate(vg, "b", EXTENT)                     # a change made here
    assert {lv.name for lv in lvm.lvs(vg)} == {"a", "b"}
    assert "NEW" not in lvm.vg(vg).tags

    other_host = LVM(LocalRunner())                   # a change made elsewhere
    other_host.set_devices(vg, luns)
    other_host.lvcreate(vg, "c", EXTENT)
    other_host.change_vg_tags(vg, add=["NEW"])
    assert {lv.name for lv in lvm.lvs(vg)} == {"a", "b"}
    assert "NEW" not in lvm.vg(vg).tags
    lvm.invalidate(vg)
    assert {lv.name for lv in lvm.lvs(vg)} == {"a", "b", "c"}
    assert "NEW" in lvm.vg(vg).tags
    other_host.lvremove(vg, "c")
    lvm.invalidate()                                  # every VG
    assert {lv.name for lv in lvm.lvs(vg)} == {"a", "b"}


def test_report_read_during_a_change_is_not_kept(lvm, runner, vg):
    lvm.lvcreate(vg, "a", EXTENT)
    lvm.lvs(vg)
    lvm.invalidate(vg)
    # A change lands while the next lvs is running: its answer (read
    # before the change) may be returned once, but must not be cached.
    runner.during_report = lambda: lvm.lvcreate(vg, "late", EXTENT)
    lvm.lvs(vg)
    assert "late" in {lv.name for lv in lvm.lvs(vg)}


def test_cache_threads(lvm, vg):
    """Concurrent readers and a writer: every reader ends seeing all LVs."""
    lvm.lvcreate(vg, "base", EXTENT)
    failures: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(5):
                lvm.lvs(vg)
        except BaseException as e:   # reported below
            failures.append(e)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for t in readers:
        t.start()
    for i in range(3):
        lvm.lvcreate(vg, f"lv{i}", EXTENT)
    for t in readers:
        t.join(60)
    assert not failures
    assert {lv.name for lv in lvm.lvs(vg)} == {"base", "lv0", "lv1", "lv2"}


def test_errors(lvm, luns, vgs, vg):
    lvm.lvcreate(vg, "a", EXTENT)
    lvm.lvcreate(vg, "b", EXTENT)
    cases = [
        (lambda: lvm.lvcreate(vg, "a", EXTENT), errors.LogicalVolumeAlreadyExists, 604),
        (lambda: lvm.lvcreate("nosuchvg", "a", EXTENT),
         errors.VolumeGroupDoesNotExist, 506),
        (lambda: lvm.lvcreate(vg, "huge", 64 * 1024 * MIB),
         errors.VolumeGroupSizeError, 504),
        (lambda: lvm.lvremove(vg, "nosuchlv"), errors.LogicalVolumeDoesNotExistError,
         610),
        (lambda: lvm.lv(vg, "nosuchlv"), errors.LogicalVolumeDoesNotExistError, 610),
        (lambda: lvm.lvextend(vg, "a", EXTENT), errors.LogicalVolumeExtendError, 554),
        (lambda: lvm.lvextend(vg, "a", 64 * 1024 * MIB), errors.VolumeGroupSizeError,
         504),
        (lambda: lvm.lvrename(vg, "a", "b"), errors.LogicalVolumeAlreadyExists, 604),
        (lambda: lvm.pvcreate(luns[:1]), errors.PhysDevInitializationError, 601),
        (lambda: lvm.vgcreate(vg, luns[:1]), errors.VolumeGroupAlreadyExistsError, 505),
        (lambda: lvm.vg("nosuchvg"), errors.VolumeGroupDoesNotExist, 506),
        (lambda: lvm.vgextend(vgs[1], luns[:1]), errors.VolumeGroupDoesNotExist, 506),
    ]
    for action, cls, number in cases:
        with pytest.raises(cls) as e:
            action()
        assert code(e.value) == number, e.value
    lvm.set_devices(vgs[1], luns[:1])
    with pytest.raises(errors.VolumeGroupDoesNotExist) as e:   # LVM says so
        lvm.lvs(vgs[1])
    # nothing half-made by the failures
    assert {lv.name for lv in lvm.lvs(vg)} == {"a", "b"}
    assert lvm.lv(vg, "a").size == EXTENT


def test_errors_with_a_pv_missing(lvm, luns, vg):
    """A device of the domain vanished (here: left out of the filter): LVM
    refuses to allocate or rename in the partial VG; the caller gets the
    operation's own classic error, and nothing changed."""
    lvm.lvcreate(vg, "a", EXTENT)
    lvm.set_devices(vg, luns[:1])
    assert lvm.vg(vg).partial
    cases = [
        (lambda: lvm.lvcreate(vg, "b", EXTENT), errors.CannotCreateLogicalVolume, 550),
        (lambda: lvm.lvextend(vg, "a", 2 * EXTENT), errors.LogicalVolumeExtendError,
         554),
        (lambda: lvm.lvrename(vg, "a", "c"), errors.LogicalVolumeRenameError, 566),
    ]
    for action, cls, number in cases:
        with pytest.raises(cls) as e:
            action()
        assert code(e.value) == number and "PVs are missing" in str(e.value)
    with pytest.raises(InvalidParameter, match="outside the filter"):
        lvm.pvresize(vg, luns[1:])
    lvm.set_devices(vg, luns)
    assert not lvm.vg(vg).partial
    assert [(lv.name, lv.size) for lv in lvm.lvs(vg)] == [("a", EXTENT)]


def test_pvresize(lvm, luns, vg):
    lvm.pvresize(vg, luns)
    # Seen without its sibling PV, the VG is partial and LVM refuses.
    lvm.set_devices("half", luns[1:])
    with pytest.raises(errors.CouldNotResizePhysicalVolume) as e:
        lvm.pvresize("half", luns[1:])
    assert code(e.value) == 615
    assert lvm.vg(vg).size == 2 * 13 * EXTENT


def test_refused_arguments(lvm, luns, vg):
    for action in (lambda: lvm.lvcreate(vg, "a/b", EXTENT),
                   lambda: lvm.lvcreate(vg, "-a", EXTENT),
                   lambda: lvm.lvcreate(vg, "a", 1000),
                   lambda: lvm.lvcreate(vg, "a", EXTENT, tags=["--yes"]),
                   lambda: lvm.change_vg_tags(vg, add=["a b"]),
                   lambda: lvm.pvcreate(["/etc/passwd"]),
                   lambda: lvm.pvs(["/dev/../etc/passwd"])):
        with pytest.raises(InvalidParameter):
            action()
    assert lvm.lvs(vg) == []


def test_activation(lvm, vg):
    lvm.lvcreate(vg, "a", EXTENT)
    if lvm_cmd.device_mapper_available():
        lvm.activate(vg, "a")
        assert lvm.lv(vg, "a").active
        lvm.refresh(vg, "a")
        lvm.deactivate(vg, "a")
        assert not lvm.lv(vg, "a").active
        return
    for action, cls, number in ((lvm.activate, errors.CannotActivateLogicalVolume,
                                 558),
                                (lvm.refresh, errors.LogicalVolumeRefreshError, 556)):
        with pytest.raises(cls) as e:
            action(vg, "a")
        assert code(e.value) == number and "device-mapper" in str(e.value)
    pytest.skip("this kernel has no device-mapper: LVs cannot be activated, so "
                "only the refusal (558, 556) was tested, not activation itself")


def test_local_runner_runs_only_lvm_ops():
    runner = LocalRunner()
    for op in ("ping", "mount", "lvm_nosuch"):
        with pytest.raises(UnknownOperation):
            runner.call(op)
    with pytest.raises(InvalidParameter, match="unexpected argument"):
        runner.call("lvm_report", kind="vg", devices=["/dev/loop0"], shell="x")
