"""vdsmd killed with SIGKILL while VMs run: a new agent recovers them."""

from __future__ import annotations

import os
import signal

import libvirt

from tests.agentproc import AgentRoot
from vdsm.virt import recovery

from .harness import (
    BRIDGE,
    VirtAgent,
    agent_overrides,
    destroy_quietly,
    stats,
    vm_params,
    wait_status,
)
from .lifecycle_test import _qemu_pid


def _devices(conf):
    return sorted((d["type"], d.get("deviceId", ""), d.get("name", ""),
                   d.get("macAddr", "")) for d in conf["devices"])


def test_sigkill_then_restart_recovers_running_vms(libvirtd, guest, tmp_path):
    overrides = agent_overrides(libvirtd.uri)
    root = AgentRoot(overrides)
    overrides[("addresses", "management_port")] = root.port
    from vdsm import config as vdsm_config
    vdsm_config.write(root.conf_file, {**vdsm_config.rooted(root.root),
                                       **overrides,
                                       ("addresses", "management_ip"): "127.0.0.1"})
    root.config = vdsm_config.load(root.conf_file)
    disk = tmp_path / "data.img"
    disk.write_bytes(b"\0" * (1 << 20))
    ids = []
    second = None
    try:
        proc = root.start("vdsmd", "tests.virt.agentrunner")
        root.wait_for_api(proc, 30)
        proxy = root.proxy()
        confs = {}
        for i in range(2):
            params = vm_params(guest, memSize=96,
                               drives=[{"path": str(disk), "readonly": "true",
                                        "index": i}],
                               nics=[{"bridge": BRIDGE,
                                      "macAddr": f"00:1a:4a:00:10:0{i}"}])
            answer = proxy.create(params)
            assert answer["status"]["code"] == 0, answer
            ids.append(params["vmId"])
        for vm_id in ids:
            wait_status(proxy, vm_id, "Up")
            confs[vm_id] = proxy.list(True, [vm_id])["vmList"][0]
        pids = {vm_id: _qemu_pid(None, vm_id) for vm_id in ids}

        assert root.stop("vdsmd", signal.SIGKILL) == -signal.SIGKILL

        second = VirtAgent(libvirtd.uri, root=root)
        for vm_id in ids:
            s = stats(second.proxy, vm_id)
            assert s["status"] == "Up", s
            conf = second.proxy.list(True, [vm_id])["vmList"][0]
            assert _devices(conf) == _devices(confs[vm_id])
            assert conf["vmName"] == confs[vm_id]["vmName"]
            assert _qemu_pid(None, vm_id) == pids[vm_id]   # nothing restarted
        # The recovered VMs are fully manageable.
        assert second.proxy.pause(ids[0])["status"]["code"] == 0
        wait_status(second.proxy, ids[0], "Paused")
        assert second.proxy.destroy(ids[0])["status"]["code"] == 0
    finally:
        root.stop("vdsmd", signal.SIGKILL)
        if second is not None:
            second.stop()
        destroy_quietly(libvirtd.uri, ids)
        root.cleanup()


def test_foreign_domains_left_alone(libvirtd, virt_agent, guest):
    xml = f"""<domain type='qemu'><name>foreign-{os.getpid()}</name>
      <memory unit='MiB'>64</memory><os><type>hvm</type>
      <kernel>{guest['kernel']}</kernel><initrd>{guest['initrd']}</initrd>
      </os></domain>"""
    conn = libvirt.open(libvirtd.uri)
    try:
        dom = conn.createXML(xml, 0)
        try:
            assert recovery.recover(virt_agent.virt.ctx) == []
            assert virt_agent.virt.ctx.registry.find(dom.UUIDString()) is None
            assert dom.isActive()
        finally:
            dom.destroy()
    finally:
        conn.close()
