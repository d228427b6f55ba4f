"""QoS requests checked and shaped (vdsm/virt/qosparams.py), pure."""

from __future__ import annotations

import pytest

from vdsm.virt import qosparams as qp
from vdsm.virt.errors import CpuTuneError, UpdateIOTuneError, UpdateVMPolicyFailed

DRIVES = [{"name": "vda", "path": "/images/a.img"},
          {"name": "vdb", "path": "/images/b.img"}]
ZERO = dict.fromkeys(qp.IOTUNE_KEYS, 0)


def test_io_limits_fill_unset_keys_with_zero():
    assert qp.io_limits({"read_bytes_sec": "4194304"}, UpdateIOTuneError) == \
        dict(ZERO, read_bytes_sec=4194304)


@pytest.mark.parametrize("value, why", [
    ({"total_bytes_sec": -1}, "total_bytes_sec must be an integer"),
    ({"read_iops_sec": "fast"}, "read_iops_sec must be an integer"),
    ({"write_bytes_sec": True}, "write_bytes_sec must be an integer"),
    ({"total_bytes_sec": 1 << 60}, "total_bytes_sec must be an integer"),
    ({"bogus_sec": 1}, "unknown keys bogus_sec"),
    ({"total_bytes_sec": 1, "read_bytes_sec": 1}, "cannot be given with"),
    ({"total_iops_sec": 1, "write_iops_sec": 1}, "cannot be given with"),
    ([1, 2], "must be a map"),
])
def test_io_limits_refused(value, why):
    with pytest.raises(UpdateIOTuneError, match=why):
        qp.io_limits(value, UpdateIOTuneError)


def test_tunables_by_name_or_path():
    wanted = qp.tunables(DRIVES, [
        {"name": "vda", "ioTune": {"total_bytes_sec": 1000}},
        {"path": "/images/b.img", "ioTune": {"write_iops_sec": 50}}],
        UpdateIOTuneError)
    assert wanted == {"vda": dict(ZERO, total_bytes_sec=1000),
                      "vdb": dict(ZERO, write_iops_sec=50)}


@pytest.mark.parametrize("items, why", [
    ([{"name": "vdz", "ioTune": {}}], "no such drive: vdz"),
    ([{"ioTune": {}}], "needs the drive's name or path"),
    ([], "non-empty list"),
    ("vda", "non-empty list"),
    # one bad item refuses the whole list
    ([{"name": "vda", "ioTune": {}}, {"name": "vdb", "ioTune": {"x": 1}}],
     "unknown keys x"),
])
def test_tunables_refused(items, why):
    with pytest.raises(UpdateIOTuneError, match=why):
        qp.tunables(DRIVES, items, UpdateIOTuneError)


def test_policies_keep_maximum_and_guaranteed():
    found = qp.policies(DRIVES, [{"name": "vdb", "maximum": {"total_iops_sec": 90},
                                  "guaranteed": {"total_iops_sec": 10}}],
                        UpdateVMPolicyFailed)
    assert found == {"vdb": {"maximum": dict(ZERO, total_iops_sec=90),
                             "guaranteed": dict(ZERO, total_iops_sec=10)}}


@pytest.mark.parametrize("key, value, expected", [
    ("vcpu_quota", "50000", 50000), ("vcpu_quota", -1, -1), ("vcpu_quota", 0, -1),
    ("vcpu_period", 1000, 1000), ("vcpu_period", "1000000", 1000000),
])
def test_cpu_values(key, value, expected):
    assert qp.cpu_value(value, key, CpuTuneError) == expected


@pytest.mark.parametrize("key, value", [
    ("vcpu_quota", 999), ("vcpu_quota", -5), ("vcpu_quota", "x"),
    ("vcpu_period", 999), ("vcpu_period", 1000001), ("vcpu_period", None),
    ("vcpu_period", True),
])
def test_cpu_values_refused(key, value):
    with pytest.raises(CpuTuneError, match=key):
        qp.cpu_value(value, key, CpuTuneError)


def test_vcpu_limit_is_a_percentage():
    # the quota is the policy engine's (tests/host/policy_cpu_test.py)
    assert qp.vcpu_limit(50, UpdateVMPolicyFailed) == 50
    assert qp.vcpu_limit("25", UpdateVMPolicyFailed) == 25
    assert qp.vcpu_limit(100, UpdateVMPolicyFailed) == 100


@pytest.mark.parametrize("limit", [0, 101, -3, "x", None, True])
def test_vcpu_limit_refused(limit):
    with pytest.raises(UpdateVMPolicyFailed, match="vcpuLimit"):
        qp.vcpu_limit(limit, UpdateVMPolicyFailed)


def test_stats_classic_keys():
    qos = {"vcpuQuota": 25000, "vcpuPeriod": 50000, "vcpuLimit": 30,
           "ioTune": {"vdb": dict(ZERO, total_bytes_sec=7)}}
    assert qp.stats(qos, DRIVES) == {
        "vcpuQuota": "25000", "vcpuPeriod": 50000, "vcpuUserLimit": 30,
        "ioTune": [{"name": "vdb", "path": "/images/b.img",
                    "ioTune": dict(ZERO, total_bytes_sec=7)}]}
    assert qp.stats({}, DRIVES) == {}


def test_disk_drives_leave_cdroms_out():
    live = [{"name": "vda", "path": "a", "device": "disk"},
            {"name": "hdc", "path": "", "device": "cdrom"},
            {"name": "vdb", "path": "b"}]      # hand-made: no device key
    assert [d["name"] for d in qp.disk_drives(live)] == ["vda", "vdb"]
