"""The exposition of known sampled data, parsed back with the client's
own parser (host, two VMs, a storage domain, tasks and API calls)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from vdsm.api import schema
from vdsm.api.dispatcher import CallContext
from vdsm.api.metrics import Sources, registry_for

MiB = 1024 * 1024
VM1 = "8a7c5e7b-1ef4-4d0a-9c34-51b7cba0a8a1"
VM2 = "0b0f4f39-2a4d-4c61-9b1e-7f0a52a4e1c2"
SD = "5f9a4b6e-3f11-4a8c-8d0e-2c1b7a9d6e33"

HOST = {
    "cpuUser": "12.50", "cpuSys": "2.50", "cpuIdle": "85.00", "cpuLoad": "0.75",
    "memUsed": "40", "memFree": 6144, "memAvailable": 5120,
    "memCommitted": 2048, "swapTotal": 1024, "swapFree": 512,
    "bootTime": "1700000000",
    "network": {
        "eth0": {"name": "eth0", "rx": "1000", "tx": "2000", "rxErrors": "1",
                 "txErrors": "0", "rxDropped": "3", "txDropped": "0",
                 "rxRate": "0.0", "txRate": "0.0", "speed": "1000",
                 "state": "up", "sampleTime": 1.0},
    },
    "storageDomains": {}, "elapsedTime": "10",
}


def _vm(vm_id, name, status, **extra):
    stats = {"vmId": vm_id, "vmName": name, "status": status,
             "monitorResponse": "0", "elapsedTime": "5"}
    stats.update(extra)
    return stats


VMS = [
    _vm(VM1, "web", "Up", cpuUsage="2500000000",
        balloonInfo={"balloon_cur": "1048576", "balloon_max": "2097152",
                     "balloon_target": "1048576", "balloon_min": "0"},
        memRss="1234",
        disks={"vda": {"readBytes": "4096", "writtenBytes": "8192",
                       "readOps": "1", "writeOps": "2",
                       "readLatency": "1500000", "writeLatency": "0",
                       "flushLatency": "0", "readRate": "0.0"}},
        network={"vnet0": {"name": "vnet0", "rx": "100", "tx": "200",
                           "rxErrors": "0", "txErrors": "0"}}),
    # not sampled yet, and its QEMU does not answer
    _vm(VM2, 'db "primary"', "Paused", monitorResponse="-1"),
]
DOMAINS = {SD: {"code": 0, "lastCheck": "1.5", "delay": "0.000250",
                "valid": True, "version": 5, "acquired": True,
                "actual": True}}
TASKS = [{"taskID": "t1", "taskState": "running"},
         {"taskID": "t2", "taskState": "finished"},
         {"taskID": "t3", "taskState": "finished"}]
SCHEMA = schema.parse({"verbs": [
    {"name": "Host.ping", "classic": "ping", "params": []},
    {"name": "VM.getStats", "classic": "getVmStats", "params": []},
]})


def _scrape(sources, calls=()):
    registry, api_calls = registry_for(sources)
    for transport, name, code, elapsed in calls:
        api_calls.observe(CallContext(transport=transport), SCHEMA.get(name),
                          code, elapsed)
    text = generate_latest(registry).decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def _value(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


def test_host_series_in_base_units():
    s = _scrape(Sources(host=lambda: HOST, memory_total=8192 * MiB))
    assert _value(s, "vdsm_host_cpu_usage_ratio", mode="user") == 0.125
    assert _value(s, "vdsm_host_cpu_usage_ratio", mode="system") == 0.025
    assert _value(s, "vdsm_host_cpu_usage_ratio", mode="idle") == 0.85
    assert _value(s, "vdsm_host_load5") == 0.75
    assert _value(s, "vdsm_host_memory_total_bytes") == 8192 * MiB
    assert _value(s, "vdsm_host_memory_used_bytes") == 2048 * MiB
    assert _value(s, "vdsm_host_memory_free_bytes") == 6144 * MiB
    assert _value(s, "vdsm_host_memory_available_bytes") == 5120 * MiB
    assert _value(s, "vdsm_host_swap_total_bytes") == 1024 * MiB
    assert _value(s, "vdsm_host_swap_free_bytes") == 512 * MiB
    assert _value(s, "vdsm_host_network_receive_bytes_total", nic="eth0") == 1000
    assert _value(s, "vdsm_host_network_transmit_bytes_total", nic="eth0") == 2000
    assert _value(s, "vdsm_host_network_receive_errors_total", nic="eth0") == 1
    assert _value(s, "vdsm_host_network_receive_dropped_total", nic="eth0") == 3
    assert _value(s, "vdsm_metrics_source_up", source="host") == 1


def test_vm_series_per_vm_and_counts_by_status():
    s = _scrape(Sources(vms=lambda: VMS))
    web = {"vm_id": VM1, "vm_name": "web"}
    db = {"vm_id": VM2, "vm_name": 'db "primary"'}   # quotes escaped and back
    assert _value(s, "vdsm_vms", status="Up") == 1
    assert _value(s, "vdsm_vms", status="Paused") == 1
    assert _value(s, "vdsm_vms", status="Down") == 0
    assert _value(s, "vdsm_vm_cpu_seconds_total", **web) == 2.5
    assert _value(s, "vdsm_vm_balloon_current_bytes", **web) == 1024 * MiB
    assert _value(s, "vdsm_vm_balloon_max_bytes", **web) == 2048 * MiB
    assert _value(s, "vdsm_vm_memory_rss_bytes", **web) == 1234 * 1024
    assert _value(s, "vdsm_vm_disk_read_bytes_total", disk="vda", **web) == 4096
    assert _value(s, "vdsm_vm_disk_write_bytes_total", disk="vda", **web) == 8192
    assert _value(s, "vdsm_vm_disk_read_ops_total", disk="vda", **web) == 1
    assert _value(s, "vdsm_vm_disk_write_ops_total", disk="vda", **web) == 2
    assert _value(s, "vdsm_vm_disk_read_latency_seconds",
                  disk="vda", **web) == 0.0015
    assert _value(s, "vdsm_vm_network_receive_bytes_total", nic="vnet0", **web) == 100
    assert _value(s, "vdsm_vm_network_transmit_bytes_total", nic="vnet0", **web) == 200
    assert _value(s, "vdsm_vm_monitor_responding", **web) == 1
    assert _value(s, "vdsm_vm_monitor_responding", **db) == 0
    assert ("vdsm_vm_cpu_seconds_total", tuple(sorted(db.items()))) not in s


def test_storage_domain_and_task_series():
    s = _scrape(Sources(domains=lambda: DOMAINS, tasks=lambda: TASKS))
    assert _value(s, "vdsm_storage_domain_check_delay_seconds", sd_uuid=SD) == 0.00025
    assert _value(s, "vdsm_storage_domain_valid", sd_uuid=SD) == 1
    assert _value(s, "vdsm_storage_domain_last_check_age_seconds", sd_uuid=SD) == 1.5
    assert _value(s, "vdsm_storage_domain_host_id_acquired", sd_uuid=SD) == 1
    assert _value(s, "vdsm_tasks", state="running") == 1
    assert _value(s, "vdsm_tasks", state="finished") == 2
    assert _value(s, "vdsm_tasks", state="aborting") == 0


def test_api_calls_errors_and_latency_per_verb_and_binding():
    calls = [("xmlrpc+tls", "Host.ping", 0, 0.002),
             ("xmlrpc", "Host.ping", 0, 0.02),
             ("xmlrpc+tls", "Host.ping", 0, 0.003),
             ("jsonrpc", "VM.getStats", 1, 0.5)]
    s = _scrape(Sources(), calls)
    ping = {"verb": "Host.ping", "binding": "xmlrpc"}
    stats = {"verb": "VM.getStats", "binding": "jsonrpc"}
    assert _value(s, "vdsm_api_calls_total", **ping) == 3
    assert _value(s, "vdsm_api_calls_total", **stats) == 1
    assert _value(s, "vdsm_api_errors_total", **stats) == 1
    assert ("vdsm_api_errors_total", tuple(sorted(ping.items()))) not in s
    assert _value(s, "vdsm_api_call_duration_seconds_count", **ping) == 3
    assert _value(s, "vdsm_api_call_duration_seconds_bucket",
                  le="0.005", **ping) == 2
    assert abs(_value(s, "vdsm_api_call_duration_seconds_sum", **ping)
               - 0.025) < 1e-9


def test_a_failing_source_is_reported_and_the_others_still_answer():
    def broken():
        raise RuntimeError("sampler gone")

    s = _scrape(Sources(host=broken, domains=lambda: DOMAINS))
    assert _value(s, "vdsm_metrics_source_up", source="host") == 0
    assert _value(s, "vdsm_metrics_source_up", source="storage_domains") == 1
    assert _value(s, "vdsm_storage_domain_valid", sd_uuid=SD) == 1


def test_promtool_lints_every_family():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (scripts/install-deps.sh)")
    registry, calls = registry_for(Sources(
        host=lambda: HOST, vms=lambda: VMS, domains=lambda: DOMAINS,
        tasks=lambda: TASKS, memory_total=8192 * MiB))
    calls.observe(CallContext(transport="xmlrpc"), SCHEMA.get("Host.ping"),
                  0, 0.01)
    res = subprocess.run([promtool, "check", "metrics"],
                         input=generate_latest(registry), capture_output=True,
                         timeout=30)
    assert res.returncode == 0 and not res.stdout and not res.stderr, res
