"""Hook points of the VM life cycle run real scripts; before_vm_start edits
take effect and a failing one stops the start."""

from __future__ import annotations

import os

import libvirt
import pytest

from .harness import (
    BRIDGE,
    VirtAgent,
    destroy_quietly,
    vm_params,
    wait_booted,
    wait_for,
    wait_status,
)

POINTS = (
    "before_vm_start", "after_vm_start", "before_vm_pause", "after_vm_pause",
    "before_vm_cont", "after_vm_cont", "before_vm_set_ticket",
    "after_vm_set_ticket", "before_device_create", "after_device_create",
    "before_disk_hotplug", "after_disk_hotplug", "before_disk_hotunplug",
    "after_disk_hotunplug", "before_nic_hotplug", "after_nic_hotplug",
    "before_nic_hotunplug", "after_nic_hotunplug", "before_vm_hibernate",
    "after_vm_hibernate", "before_vm_dehibernate", "after_vm_dehibernate",
    "after_vm_destroy")

EDIT = """#!/bin/sh
sed -i 's|</name>|</name><description>edited-by-hook</description>|' "$_hook_domxml"
if [ "$fail_start" = "yes" ]; then echo "start refused by site policy" >&2; exit 2; fi
"""


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


@pytest.fixture(scope="module")
def hooked(libvirtd, guest, tmp_path_factory):
    agent = VirtAgent(libvirtd.uri)
    record = str(tmp_path_factory.mktemp("hooks") / "record")
    hooks_dir = agent.config.hooks_dir
    for point in POINTS:
        _write(os.path.join(hooks_dir, point, "10_record"),
               f'#!/bin/sh\necho "{point} $vmId ${{site:-}} ${{devprop:-}}" '
               f'>> {record}\n')
    _write(os.path.join(hooks_dir, "before_vm_start", "50_edit"), EDIT)
    agent.record = record
    try:
        yield agent
    finally:
        ids = [vm.id for vm in agent.virt.ctx.registry.all()]
        agent.stop()
        destroy_quietly(libvirtd.uri, ids)
        agent.root.cleanup()


def _calls(agent):
    try:
        with open(agent.record) as f:
            return [line.split() for line in f.read().splitlines()]
    except FileNotFoundError:
        return []


def test_points_run_with_vm_id_and_custom_properties(hooked, guest, tmp_path):
    image = tmp_path / "hot.img"
    image.write_bytes(b"\0" * (1 << 20))
    state = str(tmp_path / "state")
    params = vm_params(guest, custom={"site": "blue"}, display="vnc",
                       displayIp="127.0.0.1",
                       nics=[{"bridge": BRIDGE, "macAddr": "00:1a:4a:00:30:01",
                              "custom": {"devprop": "nic1"}}])
    vm_id = params["vmId"]
    proxy = hooked.proxy
    assert proxy.create(params)["status"]["code"] == 0
    try:
        wait_status(proxy, vm_id, "Up")
        wait_booted(hooked, vm_id)  # the guest must answer PCI unplug requests
        conn = libvirt.open(hooked.uri)
        try:
            desc = conn.lookupByUUIDString(vm_id).XMLDesc(0)
        finally:
            conn.close()
        assert "<description>edited-by-hook</description>" in desc
        for verb, args in (("pause", ()), ("cont", ()),
                           ("setVmTicket", ("pw", 30, "disconnect", {}))):
            assert getattr(proxy, verb)(vm_id, *args)["status"]["code"] == 0
        drive = {"path": str(image), "format": "raw"}
        nic = {"bridge": BRIDGE, "macAddr": "00:1a:4a:00:30:02"}
        for verb, spec in (("hotplugDisk", {"drive": drive}),
                           ("hotunplugDisk", {"drive": drive}),
                           ("hotplugNic", {"nic": nic}),
                           ("hotunplugNic", {"nic": nic})):
            answer = getattr(proxy, verb)(dict(spec, vmId=vm_id))
            assert answer["status"]["code"] == 0, (verb, answer)
        wait_for(lambda: any(c[0] == "after_vm_start" for c in _calls(hooked)),
                 10, "after_vm_start")
        assert proxy.hibernate(vm_id, state)["status"]["code"] == 0
        wait_status(proxy, vm_id, "Down")
        wait_for(lambda: any(c[0] == "after_vm_hibernate"
                             for c in _calls(hooked)), 10, "after_vm_hibernate")
        proxy.destroy(vm_id)
        assert proxy.create(dict(params, restoreState=state))["status"]["code"] == 0
        wait_status(proxy, vm_id, "Up")
        wait_for(lambda: any(c[0] == "after_vm_dehibernate"
                             for c in _calls(hooked)), 10, "after_vm_dehibernate")
    finally:
        proxy.destroy(vm_id)
    wait_for(lambda: sum(c[0] == "after_vm_destroy" for c in _calls(hooked)) >= 2,
             10, "after_vm_destroy")
    calls = _calls(hooked)
    assert {c[0] for c in calls} == set(POINTS)
    assert all(c[1] == vm_id and c[2] == "blue" for c in calls)
    device = [c for c in calls if c[0].endswith("device_create")]
    assert device and all(c[3] == "nic1" for c in device)


def test_failing_before_vm_start_stops_the_start(hooked, guest):
    params = vm_params(guest, custom={"fail_start": "yes"})
    vm_id = params["vmId"]
    assert hooked.proxy.create(params)["status"]["code"] == 0
    try:
        down = wait_status(hooked.proxy, vm_id, "Down")
        assert down["exitCode"] == 1
        assert "start refused by site policy" in down["exitMessage"]
        conn = libvirt.open(hooked.uri)
        try:
            with pytest.raises(libvirt.libvirtError):
                conn.lookupByUUIDString(vm_id)
        finally:
            conn.close()
    finally:
        hooked.proxy.destroy(vm_id)
