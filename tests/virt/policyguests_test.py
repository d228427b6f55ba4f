"""The policy engine end to end: a real agent (virt + policy, in-process)
with a real supervdsmd, the real /sys/kernel/mm/ksm and a real TCG guest
with virtio-balloon.

The host is made to count as short of memory by a policy parameter
(``pressure_threshold`` 1.0: any free share is below it), whatever its
real free memory, and as not short with 0.0. KSM values are read before
and restored after the module (the agent is stopped first).
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any, Iterator

import libvirt
import pytest

from tests.ksmguard import exclusive_ksm
from vdsm.host.policy import rules
from vdsm.host.policy.subsystem import PolicySubsystem
from vdsm.supervdsm.ops_ksm import KSM_DIR
from vdsm.virt import status as st
from vdsm.virt.policyguests import record

from .harness import VirtAgent, booted_vm, running_agent, stats, vm_params, wait_for

MOM_POLICY_FAILED, KSM_FAILED = 54, 71   # classic codes
MAX_KIB, GUARANTEED_KIB = 96 * 1024, 80 * 1024
WITHIN = 30.0   # seconds for the policy (0.5 s cycles) to act
KSM_KEYS = ("run", "pages_to_scan", "sleep_millisecs")


def _read_ksm(name: str) -> int:
    with open(os.path.join(KSM_DIR, name)) as f:
        return int(f.read())


def _write_ksm(name: str, value: int) -> None:
    with open(os.path.join(KSM_DIR, name), "w") as f:
        f.write(f"{value}\n")


@pytest.fixture(scope="module")
def saved_ksm() -> Iterator[dict[str, int] | None]:
    """The machine's KSM values, restored at the end (None: no writable KSM)."""
    if not os.path.isdir(KSM_DIR) or os.geteuid() != 0:
        yield None
        return
    with exclusive_ksm():   # the whole module: its agent's policy writes KSM
        saved = {k: _read_ksm(k) for k in KSM_KEYS}
        try:
            _write_ksm("pages_to_scan", saved["pages_to_scan"])
        except OSError:
            yield None
            return
        try:
            yield saved
        finally:
            for name in ("pages_to_scan", "sleep_millisecs", "run"):
                _write_ksm(name, saved[name])


@pytest.fixture(scope="module")
def policy_agent(saved_ksm, libvirtd, guest) -> Iterator[VirtAgent]:
    for agent in running_agent(libvirtd.uri, subsystems=[PolicySubsystem],
                               policy__enabled=True, policy__interval=0.5):
        agent.root.start_supervdsmd()
        # not short of memory until a test says so; fast balloon steps
        _params(agent, pressure_threshold=0.0, ksm_free_percent=0.0,
                max_balloon_change_percent=0.5, min_guest_free_percent=0.0)
        yield agent


@pytest.fixture(scope="module")
def balloon_vm(policy_agent, guest, tmp_path_factory) -> Iterator[str]:
    """96 MiB, 80 guaranteed, one 16 MiB virtio disk (vda) for I/O limits."""
    tmp = tmp_path_factory.mktemp("policy")
    os.chmod(tmp, 0o755)
    disk = str(tmp / "data.img")
    with open(disk, "wb") as f:
        f.truncate(16 << 20)
    yield from booted_vm(policy_agent, vm_params(
        guest, memGuaranteedSize=GUARANTEED_KIB // 1024,
        drives=[{"path": disk, "format": "raw", "iface": "virtio",
                 "serial": "vdsm-policy"}]))


def _params(agent: VirtAgent, **values: Any) -> None:
    answer = agent.proxy.setMOMPolicyParameters(values)
    assert answer["status"]["code"] == 0, answer


def _balloon(agent: VirtAgent, vm_id: str) -> dict[str, int]:
    info = stats(agent.proxy, vm_id).get("balloonInfo", {})
    return {k: int(v) for k, v in info.items()}


def _libvirt_memory(agent: VirtAgent, vm_id: str) -> int:
    """The domain's current memory (KiB) as libvirt's dominfo tells it."""
    conn = libvirt.open(agent.uri)
    try:
        return conn.lookupByUUIDString(vm_id).info()[2]
    finally:
        conn.close()


def _wait_memory_stats(agent: VirtAgent, vm_id: str) -> None:
    try:
        wait_for(lambda: "memoryStats" in stats(agent.proxy, vm_id), WITHIN,
                 "the balloon driver's memory statistics")
    except AssertionError:
        pytest.skip("the test guest's balloon reports no memory statistics "
                    "(virtio_balloon stats): the policy never shrinks it")


def test_balloon_shrinks_under_pressure_never_below_guaranteed(
        policy_agent, balloon_vm):
    agent, vm_id = policy_agent, balloon_vm
    _wait_memory_stats(agent, vm_id)
    assert _balloon(agent, vm_id)["balloon_cur"] == MAX_KIB
    assert _balloon(agent, vm_id)["balloon_min"] == GUARANTEED_KIB
    seen = []

    def shrunk_to_floor() -> bool:
        info = _balloon(agent, vm_id)
        seen.append(info["balloon_target"])
        return info["balloon_cur"] == info["balloon_target"] < MAX_KIB and \
            len(seen) > 1 and seen[-1] == seen[-2]

    _params(agent, pressure_threshold=1.0)
    try:
        wait_for(shrunk_to_floor, WITHIN, "the balloon shrunk and settled",
                 interval=0.6)
        floor = seen[-1]
        assert all(t >= GUARANTEED_KIB for t in seen), seen
        assert GUARANTEED_KIB <= floor < MAX_KIB
        assert _libvirt_memory(agent, vm_id) == floor
        assert _balloon(agent, vm_id)["balloon_target"] == floor
    finally:
        _params(agent, pressure_threshold=0.0)
    wait_for(lambda: _balloon(agent, vm_id)["balloon_cur"] == MAX_KIB, WITHIN,
             "the balloon given back once the pressure passed")
    assert _balloon(agent, vm_id)["balloon_target"] == MAX_KIB
    assert _libvirt_memory(agent, vm_id) == MAX_KIB
    assert "Out of memory" not in agent.console(vm_id)


def test_malformed_policy_refused_old_one_keeps_deciding(policy_agent,
                                                         balloon_vm):
    agent, vm_id = policy_agent, balloon_vm
    keeper = ('(defparam shave 4096)\n'
              '(with Guests g (g.Control "balloon_target" '
              '(- g.balloon_max shave)))\n')
    assert agent.proxy.setMOMPolicy(keeper)["status"]["code"] == 0
    try:
        wait_for(lambda: _balloon(agent, vm_id)["balloon_target"]
                 == MAX_KIB - 4096, WITHIN, "the keeper policy's target")
        answer = agent.proxy.setMOMPolicy("(defvar x 1)\n(if (> x 0)\n"
                                          "  (g.Control \"balloon_target\" 1)")
        assert answer["status"]["code"] == MOM_POLICY_FAILED, answer
        assert "line 2" in answer["status"]["message"]
        assert "never closed" in answer["status"]["message"]
        answer = agent.proxy.setMOMPolicy("(explode)")
        assert answer["status"]["code"] == MOM_POLICY_FAILED, answer
        assert "line 1: unknown function 'explode'" in \
            answer["status"]["message"]
        # the old policy still runs: it follows its parameter
        _params(agent, shave=8192)
        wait_for(lambda: _balloon(agent, vm_id)["balloon_target"]
                 == MAX_KIB - 8192, WITHIN, "the old policy's next decision")
    finally:
        assert agent.proxy.setMOMPolicy(rules.DEFAULT_POLICY)["status"][
            "code"] == 0
    wait_for(lambda: _balloon(agent, vm_id)["balloon_cur"] == MAX_KIB, WITHIN,
             "the default policy giving the memory back")


def test_bad_parameters_refused(policy_agent):
    answer = policy_agent.proxy.setMOMPolicyParameters({"ksmEnabled": "yes"})
    assert answer["status"]["code"] == MOM_POLICY_FAILED, answer


def test_ksm_started_and_stopped_by_policy(policy_agent, saved_ksm):
    if saved_ksm is None:
        pytest.skip(f"{KSM_DIR} is missing or not writable here")
    agent = policy_agent
    _params(agent, ksmEnabled=True, ksm_free_percent=1.0)
    try:
        wait_for(lambda: _read_ksm("run") == 1, WITHIN, "KSM started")
        wait_for(lambda: _read_ksm("pages_to_scan") >= 64, WITHIN,
                 "pages_to_scan set by the policy")
        wait_for(lambda: agent.proxy.getVdsStats()["info"]["ksmState"] is True,
                 WITHIN, "ksmState true in the host stats")
    finally:
        _params(agent, ksmEnabled=False)
    wait_for(lambda: _read_ksm("run") == 0, WITHIN, "KSM stopped")
    wait_for(lambda: agent.proxy.getVdsStats()["info"]["ksmState"] is False,
             WITHIN, "ksmState false in the host stats")


def test_set_ksm_tune(policy_agent, saved_ksm):
    if saved_ksm is None:
        pytest.skip(f"{KSM_DIR} is missing or not writable here")
    proxy = policy_agent.proxy
    answer = proxy.setKsmTune({"pages_to_scan": 222, "sleep_millisecs": 33})
    assert answer["status"]["code"] == 0, answer
    assert (_read_ksm("pages_to_scan"), _read_ksm("sleep_millisecs")) == (222, 33)
    for bad in ({"max_page_sharing": 5}, {"run": 7}, {"pages_to_scan": "x"}):
        answer = proxy.setKsmTune(bad)
        assert answer["status"]["code"] == KSM_FAILED, (bad, answer)
    assert _read_ksm("pages_to_scan") == 222


IO_POLICY = {"name": "vda", "maximum": {"total_iops_sec": 500},
             "guaranteed": {"total_iops_sec": 100}}


def _iops(agent: VirtAgent, vm_id: str) -> int:
    """vda's total_iops_sec as libvirt applies it now (getIoTune)."""
    answer = agent.proxy.getIoTune(vm_id)
    assert answer["status"]["code"] == 0, answer
    return {d["name"]: d["ioTune"] for d in answer["ioTuneList"]}["vda"][
        "total_iops_sec"]


def test_io_limits_follow_io_pressure(policy_agent, balloon_vm):
    """Under I/O pressure (a threshold below any reading) the guaranteed
    limits, otherwise the maximum, read back from libvirt."""
    agent, vm_id = policy_agent, balloon_vm
    answer = agent.proxy.updateVmPolicy({"vmId": vm_id, "ioTune": [IO_POLICY]})
    assert answer["status"]["code"] == 0, answer
    assert _iops(agent, vm_id) == 500
    _params(agent, io_pressure_threshold=-1)
    try:
        wait_for(lambda: _iops(agent, vm_id) == 100, WITHIN,
                 "the guaranteed I/O limits under I/O pressure")
    finally:
        _params(agent, io_pressure_threshold=1000)
    wait_for(lambda: _iops(agent, vm_id) == 500, WITHIN,
             "the maximum I/O limits once the pressure passed")


def test_record_from_a_vms_memory():
    """Pure: the seam's figures from a sample (KiB), None when not Up or
    never sampled."""
    sample = {"balloonInfo": {"balloon_cur": "90000", "balloon_max": "98304"},
              "memoryStats": {"mem_total": "90000", "mem_unused": "50000",
                              "mem_cached": "10000"}}
    vm = SimpleNamespace(id="v", status=st.UP, sample=sample,
                         balloon_target=None,
                         conf={"memGuaranteedSize": 80,
                               "qos": {"ioTunePolicy": {"vda": {}}}})
    assert record(vm, "maximum") == {
        "id": "v", "balloon_cur": 90000, "balloon_max": 98304,
        "balloon_min": 81920, "balloon_target": 98304, "mem_unused": 50000,
        "mem_used": 30000, "io_policy": 1, "io_choice": "maximum",
        "vcpu_limit": None}
    vm.sample = {"balloonInfo": sample["balloonInfo"]}   # no driver stats
    assert record(vm, None)["mem_used"] is None
    vm.sample = {}
    assert record(vm, None) is None
    vm.sample, vm.status = sample, st.PAUSED
    assert record(vm, None) is None
