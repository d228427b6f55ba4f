"""The default policy's CPU part (MOM's 04-cputune), pure: a VM's
vcpuLimit as the quota/period of each vCPU. The engine's side (changes
only, logged once) is in policy_engine_test.py, the real guest in
tests/virt/policyguests_test.py."""

from __future__ import annotations

import pytest

from vdsm.host.policy import entities, lang, rules
from vdsm.host.policy.interp import Interpreter

PROGRAM = Interpreter(lang.parse(rules.DEFAULT_POLICY))


def decide(limit, *, cpus=2, vcpus=1, **params):
    """The vcpu controls the default policy sets for one guest."""
    host = entities.host({"mem_available": 1000_000, "mem_free": 900_000,
                          "ksm_pages_to_scan": 100, "ksm_pages_shared": 0,
                          "io_pressure": 0.0, "cpu_count": cpus})
    guest = entities.guest({"id": "g", "balloon_cur": 98304,
                            "balloon_max": 98304, "balloon_min": 0,
                            "mem_used": None, "io_policy": 0,
                            "vcpu_limit": limit, "vcpu_quota": -1,
                            "vcpu_period": 100000, "vcpu_count": vcpus})
    PROGRAM.run({"Host": host, "Guests": [guest], **params})
    return {k: round(v) for k, v in guest.controls.items()
            if k.startswith("vcpu_")}


@pytest.mark.parametrize("limit, cpus, vcpus, quota", [
    (50, 2, 1, 100000),     # half of 2 CPUs: one whole CPU for the one vCPU
    (50, 2, 4, 25000),      # shared among 4 vCPUs
    (10, 4, 2, 20000),
    (99, 1, 1, 99000),
])
def test_limit_becomes_quota_per_vcpu(limit, cpus, vcpus, quota):
    assert decide(limit, cpus=cpus, vcpus=vcpus) == {
        "vcpu_quota": quota, "vcpu_period": 100000}


def test_small_quota_stretched_with_its_period():
    # 1% of one CPU over 8 vCPUs is 125 µs per 100 ms, under libvirt's
    # 1000: quota and period grow by the same factor (1 + 1000/125 = 9)
    assert decide(1, cpus=1, vcpus=8) == {"vcpu_quota": 1125,
                                          "vcpu_period": 900000}


def test_no_limit_or_disabled_restores_defaults():
    unlimited = {"vcpu_quota": -1, "vcpu_period": 100000}
    assert decide(100) == unlimited
    assert decide(50, cpuTuneEnabled=0) == unlimited


def test_vm_without_limit_left_alone():
    # never given a vcpuLimit: setCpuTuneQuota's values are not touched
    assert decide(None) == {}
