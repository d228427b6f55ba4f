"""VM series on /metrics from a real TCG guest, answered from memory.

The guest has a data disk and a NIC on the test bridge; once the bulk
sampler has sampled it, its CPU, balloon, disk and NIC series appear. The
scrape must not touch libvirt: with the sampler stopped and the libvirt
connection made to fail, the same series are still served.
"""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from vdsm.virt.connection import LibvirtUnavailable

from .harness import BRIDGE, stats, vm_params, wait_for, wait_status
from .lifecycle_test import _create


def _samples(agent) -> dict:
    url = f"http://127.0.0.1:{agent.agent.metrics.port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def _vm_series(samples: dict, vm_id: str) -> dict:
    return {(name, dict(labels).get("disk") or dict(labels).get("nic")): value
            for (name, labels), value in samples.items()
            if dict(labels).get("vm_id") == vm_id}


def test_guest_series_served_from_the_sampled_stats(virt_agent, guest, tmp_path,
                                                    monkeypatch):
    disk = tmp_path / "data.img"
    disk.write_bytes(b"\0" * (1 << 20))
    params = vm_params(guest, memSize=96,
                       drives=[{"path": str(disk), "readonly": "true"}],
                       nics=[{"bridge": BRIDGE, "macAddr": "00:1a:4a:00:50:01"}])
    vm_id, name = params["vmId"], params["vmName"]
    _create(virt_agent, params)
    frozen_sampler = False
    try:
        wait_status(virt_agent.proxy, vm_id, "Up")
        def sampled() -> bool:
            now = stats(virt_agent.proxy, vm_id)
            return float(now.get("cpuUsage", 0)) > 0 and bool(
                now.get("disks")) and bool(now.get("network")) and \
                "memRss" in now and "balloonInfo" in now
        wait_for(sampled, 30, "a sample with CPU time, disks, NICs and memory")
        vm = _vm_series(_samples(virt_agent), vm_id)
        disk_name = next(iter(stats(virt_agent.proxy, vm_id)["disks"]))
        nic_name = next(iter(stats(virt_agent.proxy, vm_id)["network"]))
        assert vm[("vdsm_vm_cpu_seconds_total", None)] > 0
        assert vm[("vdsm_vm_balloon_current_bytes", None)] == 96 * 1024 * 1024
        assert vm[("vdsm_vm_monitor_responding", None)] == 1
        assert vm[("vdsm_vm_memory_rss_bytes", None)] > 1024 * 1024
        assert ("vdsm_vm_disk_read_bytes_total", disk_name) in vm
        assert ("vdsm_vm_disk_write_ops_total", disk_name) in vm
        assert ("vdsm_vm_disk_read_latency_seconds", disk_name) in vm
        assert ("vdsm_vm_network_receive_bytes_total", nic_name) in vm
        assert ("vdsm_vm_network_transmit_bytes_total", nic_name) in vm
        labels = {dict(k[1]).get("vm_name") for k in _samples(virt_agent)
                  if dict(k[1]).get("vm_id") == vm_id}
        assert labels == {name}

        # No libvirt on the scrape path: freeze the sampler, break libvirt.
        virt_agent.virt.sampler.stop()
        frozen_sampler = True

        def no_libvirt():
            raise LibvirtUnavailable("a scrape must not call libvirt")

        monkeypatch.setattr(virt_agent.virt.ctx.conn, "get", no_libvirt)
        samples = _samples(virt_agent)
        frozen = _vm_series(samples, vm_id)
        assert frozen[("vdsm_vm_cpu_seconds_total", None)] == \
            _vm_series(_samples(virt_agent), vm_id)[
                ("vdsm_vm_cpu_seconds_total", None)]
        assert set(frozen) == set(vm)
        assert samples[("vdsm_metrics_source_up", (("source", "vms"),))] == 1
        assert samples[("vdsm_vms", (("status", "Up"),))] >= 1
    finally:
        monkeypatch.undo()
        if frozen_sampler:
            virt_agent.virt.sampler.start()
        virt_agent.proxy.destroy(vm_id)
