"""Graphics tickets and key presses on a running VM."""

from __future__ import annotations

import libvirt

from vdsm.virt import vmgraphics

from .harness import stats, vm_params, wait_status
from .lifecycle_test import _create


def test_key_names():
    assert vmgraphics.key_codes("ctrl-alt-delete") == [29, 56, 111]
    assert vmgraphics.key_codes("a") == [30]
    assert vmgraphics.key_codes("f12") == [88]


def test_set_ticket_and_sendkeys(virt_agent, guest):
    params = vm_params(guest, display="vnc", displayIp="127.0.0.1")
    vm_id = params["vmId"]
    _create(virt_agent, params)
    try:
        wait_status(virt_agent.proxy, vm_id, "Up")
        s = stats(virt_agent.proxy, vm_id)
        assert s["displayType"] == "vnc" and int(s["displayPort"]) >= 5900
        answer = virt_agent.proxy.setVmTicket(vm_id, "s3cret", 120,
                                              "disconnect", {})
        assert answer["status"]["code"] == 0, answer
        conn = libvirt.open(virt_agent.uri)
        try:
            xml = conn.lookupByUUIDString(vm_id).XMLDesc(
                libvirt.VIR_DOMAIN_XML_SECURE)
        finally:
            conn.close()
        assert "passwd='s3cret'" in xml and "passwdValidTo=" in xml
        bad = virt_agent.proxy.setVmTicket(vm_id, "x", 1, "explode", {})
        assert bad["status"]["code"] == 91

        answer = virt_agent.proxy.sendkeys(vm_id, ["ctrl-alt-delete", "a"])
        assert answer["status"]["code"] == 0, answer
        assert virt_agent.proxy.sendkeys(vm_id, ["nokey"])["status"]["code"] == 91
    finally:
        virt_agent.proxy.destroy(vm_id)


def test_ticket_without_graphics(virt_agent, guest):
    params = vm_params(guest)
    vm_id = params["vmId"]
    _create(virt_agent, params)
    try:
        wait_status(virt_agent.proxy, vm_id, "Up")
        answer = virt_agent.proxy.setVmTicket(vm_id, "x", 10, "keep", {})
        assert answer["status"]["code"] == 18, answer
    finally:
        virt_agent.proxy.destroy(vm_id)
