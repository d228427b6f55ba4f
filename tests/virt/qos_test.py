"""QoS of a running VM end to end (vdsm/virt/qos.py): one TCG guest with
a raw data disk, its agent restarted in the middle.

setIoTune caps what the guest reads with O_DIRECT (measured in the guest
by its own clock); the CPU tune values are read back from libvirt; bad
requests get their classic codes and change nothing; everything set is
still applied and reported after the agent restarts (recovery reads it
from the domain metadata).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Iterator

import libvirt
import pytest

from tests.virt.conftest import _private_libvirtd
from tests.virt.harness import stats, vm_params
from tests.virt.privlibvirt import PrivateLibvirt
from tests.virt.restartrig import Rig, running_rig
from tests.virt.thinprov_test import guest_exec
from vdsm.virt import qos
from vdsm.virt.errors import UpdateIOTuneError
from vdsm.virt.qosparams import IOTUNE_KEYS

MIB = 1 << 20
CAP = 3 * MIB          # the read cap, bytes/s
READ_MIB = 9           # ~3 s under the cap
ZERO = dict.fromkeys(IOTUNE_KEYS, 0)
# A first 1 MiB read spends QEMU's burst allowance (and a request that
# passes at once), so the timed read shows the steady rate.
READ = ("dd if=/dev/vda of=/dev/null bs=256k count=4 iflag=direct 2>/dev/null"
        " || exit 1; s=$(cut -d' ' -f1 /proc/uptime); "
        "dd if=/dev/vda of=/dev/null bs=256k count={n} skip=4 iflag=direct "
        "2>/dev/null || exit 1; e=$(cut -d' ' -f1 /proc/uptime); echo $s $e")


@pytest.fixture(scope="module")
def cg_libvirtd(netns: str) -> Iterator[PrivateLibvirt]:
    """A libvirtd that sees the cpu and blkio cgroup controllers (the
    session's one, under ``ip netns exec``, sees none)."""
    yield from _private_libvirtd(netns, cgroups=("cpu", "cpuacct", "blkio"))


@pytest.fixture(scope="module")
def rig(cg_libvirtd, guest) -> Iterator[Rig]:
    if not guest.get("agent"):
        pytest.skip("the test guest was built without qemu-guest-agent")
    tmp = tempfile.mkdtemp(prefix="vdsm-qos-", dir="/tmp")
    os.chmod(tmp, 0o755)
    disk = os.path.join(tmp, "data.img")
    with open(disk, "wb") as f:
        f.write(os.urandom(MIB) * 16)      # real data: nothing sparse
    params = vm_params(guest, drives=[{"path": disk, "format": "raw",
                                       "iface": "virtio", "serial": "vdsm-qos"}])
    try:
        yield from running_rig(cg_libvirtd.uri, params)
    finally:
        os.unlink(disk)
        os.rmdir(tmp)


def _read_rate(rig: Rig) -> float:
    """Bytes/s the guest reads from its disk with O_DIRECT."""
    res = guest_exec(rig.uri, rig.vm_id, READ.format(n=READ_MIB * 4), timeout=60)
    assert res["rc"] == 0, res
    start, end = (float(x) for x in res["out"].split()[-2:])
    return READ_MIB * MIB / (end - start)


def _code(answer: dict[str, Any]) -> int:
    return answer["status"]["code"]


def _io_tune(rig: Rig) -> dict[str, dict[str, int]]:
    answer = rig.proxy.getIoTune(rig.vm_id)
    assert _code(answer) == 0, answer
    return {d["name"]: d["ioTune"] for d in answer["ioTuneList"]}


def test_set_io_tune_caps_the_guests_reads(rig):
    free = _read_rate(rig)
    assert free > 2 * CAP, f"unthrottled {free / MIB:.1f} MiB/s: no room to see a cap"

    answer = rig.proxy.setIoTune(rig.vm_id, [
        {"name": "vda", "ioTune": {"read_bytes_sec": CAP}}])
    assert _code(answer) == 0, answer

    capped = _read_rate(rig)
    print(f"guest O_DIRECT reads: {free / MIB:.1f} MiB/s free, "
          f"{capped / MIB:.2f} MiB/s under a {CAP / MIB:.0f} MiB/s cap")
    assert abs(capped - CAP) <= 0.2 * CAP, \
        f"{capped / MIB:.2f} MiB/s under a {CAP / MIB:.0f} MiB/s cap"
    assert _io_tune(rig) == {"vda": dict(ZERO, read_bytes_sec=CAP)}
    reported = stats(rig.proxy, rig.vm_id)["ioTune"]
    assert reported[0]["name"] == "vda" and \
        reported[0]["ioTune"]["read_bytes_sec"] == CAP, reported


@pytest.mark.parametrize("tunables, why", [
    ([{"name": "vdz", "ioTune": {"read_bytes_sec": 1}}], "no such drive"),
    ([{"name": "vda", "ioTune": {"read_bytes_sec": -1}}], "read_bytes_sec"),
    ([{"name": "vda", "ioTune": {"total_bytes_sec": 1, "read_bytes_sec": 1}}],
     "cannot be given with"),
])
def test_bad_io_tune_is_refused_and_changes_nothing(rig, tunables, why):
    answer = rig.proxy.setIoTune(rig.vm_id, tunables)
    assert _code(answer) == 64, answer      # UpdateIOTuneError
    assert why in answer["status"]["message"]
    assert _io_tune(rig) == {"vda": dict(ZERO, read_bytes_sec=CAP)}


def test_io_tune_libvirt_refuses_changes_nothing(rig):
    # within our range, beyond QEMU's (1e15): libvirt's refusal is the check
    answer = rig.proxy.setIoTune(rig.vm_id, [
        {"name": "vda", "ioTune": {"read_bytes_sec": str(2 * 10 ** 15)}}])
    assert _code(answer) == 64, answer
    assert _io_tune(rig) == {"vda": dict(ZERO, read_bytes_sec=CAP)}
    assert stats(rig.proxy, rig.vm_id)["ioTune"][0]["ioTune"]["read_bytes_sec"] \
        == CAP


class RefusingDomain:
    """A stand-in domain whose setBlockIoTune refuses one drive; the real
    refusal is tested above on one drive, this checks that drives set
    before the refusal are put back (two drives, in order)."""

    def __init__(self, refuse: str) -> None:
        self.refuse = refuse
        self.limits = {"vda": dict(ZERO, total_iops_sec=5), "vdb": dict(ZERO)}

    def blockIoTune(self, name: str, flags: int) -> dict[str, int]:  # noqa: N802
        return dict(self.limits[name], group_name="")

    def setBlockIoTune(self, name: str, params: dict, flags: int) -> None:  # noqa: N802
        if name == self.refuse:
            raise libvirt.libvirtError("refused")
        self.limits[name] = dict(params)

    def UUIDString(self) -> str:  # noqa: N802
        return "fake"


def test_apply_io_puts_back_drives_set_before_a_refusal():
    dom = RefusingDomain(refuse="vdb")
    wanted = {"vda": dict(ZERO, read_iops_sec=9), "vdb": dict(ZERO, read_iops_sec=9)}
    with pytest.raises(UpdateIOTuneError, match="vdb"):
        qos._apply_io(dom, wanted, UpdateIOTuneError)
    assert dom.limits == {"vda": dict(ZERO, total_iops_sec=5), "vdb": dict(ZERO)}
    # all accepted: the previous values come back for a later undo
    dom = RefusingDomain(refuse="none")
    assert qos._apply_io(dom, wanted, UpdateIOTuneError) == {
        "vda": dict(ZERO, total_iops_sec=5), "vdb": dict(ZERO)}
    assert dom.limits == wanted


def test_cpu_tune_quota_and_period_applied_by_libvirt(rig):
    assert _code(rig.proxy.vmSetCpuTunePeriod(rig.vm_id, 200000)) == 0
    assert _code(rig.proxy.vmSetCpuTuneQuota(rig.vm_id, 50000)) == 0
    conn, dom = rig.domain()
    try:
        sched = dom.schedulerParametersFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE)
    finally:
        conn.close()
    assert (sched["vcpu_quota"], sched["vcpu_period"]) == (50000, 200000)
    s = stats(rig.proxy, rig.vm_id)
    assert (s["vcpuQuota"], s["vcpuPeriod"]) == ("50000", 200000)

    for verb, value in (("vmSetCpuTuneQuota", 5), ("vmSetCpuTunePeriod", 10 ** 7)):
        answer = getattr(rig.proxy, verb)(rig.vm_id, value)
        assert _code(answer) == 62, answer      # CpuTuneError
    conn, dom = rig.domain()
    try:
        sched = dom.schedulerParametersFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE)
    finally:
        conn.close()
    assert (sched["vcpu_quota"], sched["vcpu_period"]) == (50000, 200000)


POLICY = {"name": "vda", "maximum": {"total_iops_sec": 500},
          "guaranteed": {"total_iops_sec": 100}}


def test_update_vm_policy_applies_limits(rig):
    bad = rig.proxy.updateVmPolicy({"vmId": rig.vm_id, "vcpuLimit": 150,
                                    "ioTune": [POLICY]})
    assert _code(bad) == 63, bad            # UpdateVMPolicyFailed: nothing set
    assert _io_tune(rig) == {"vda": dict(ZERO, read_bytes_sec=CAP)}

    answer = rig.proxy.updateVmPolicy({"vmId": rig.vm_id, "vcpuLimit": 50,
                                       "ioTune": [POLICY]})
    assert _code(answer) == 0, answer
    assert _io_tune(rig) == {"vda": dict(ZERO, total_iops_sec=500)}
    conn, dom = rig.domain()
    try:
        quota = dom.schedulerParametersFlags(
            libvirt.VIR_DOMAIN_AFFECT_LIVE)["vcpu_quota"]
    finally:
        conn.close()
    # the limit is kept, not applied: the policy engine turns it into the
    # quota (off in this agent; tests/virt/policyguests_test.py), as MOM did
    assert quota == 50000
    policy = rig.proxy.getIoTunePolicy(rig.vm_id)["ioTunePolicyList"]
    assert policy == [{"name": "vda", "path": policy[0]["path"],
                       "maximum": dict(ZERO, total_iops_sec=500),
                       "guaranteed": dict(ZERO, total_iops_sec=100)}]
    every = rig.proxy.getAllVmIoTunePolicies()["io_tune_policies_dict"]
    assert every[rig.vm_id]["policy"] == policy
    assert every[rig.vm_id]["current_values"][0]["ioTune"] == \
        dict(ZERO, total_iops_sec=500)
    assert stats(rig.proxy, rig.vm_id)["vcpuUserLimit"] == 50


def test_values_kept_across_an_agent_restart(rig):
    before = stats(rig.proxy, rig.vm_id)
    policy = rig.proxy.getIoTunePolicy(rig.vm_id)["ioTunePolicyList"]
    rig.restart()
    after = stats(rig.proxy, rig.vm_id)
    for key in ("vcpuQuota", "vcpuPeriod", "vcpuUserLimit", "ioTune"):
        assert after[key] == before[key], key
    assert rig.proxy.getIoTunePolicy(rig.vm_id)["ioTunePolicyList"] == policy
    assert _io_tune(rig) == {"vda": dict(ZERO, total_iops_sec=500)}
    # and the recovered VM still takes changes
    answer = rig.proxy.setIoTune(rig.vm_id, [
        {"path": policy[0]["path"], "ioTune": {"write_iops_sec": 70}}])
    assert _code(answer) == 0, answer
    assert _io_tune(rig) == {"vda": dict(ZERO, write_iops_sec=70)}
