"""The real vdsmd process under a temporary root, over mutual TLS."""

from __future__ import annotations

import os
import platform
import ssl
import threading
import time
import xmlrpc.client

import pytest

from tests.agentproc import AgentRoot, ensure_vdsm_user
from vdsm.common import pki


@pytest.fixture(scope="module")
def agent():
    ensure_vdsm_user()
    root = AgentRoot()
    root.start_supervdsmd()
    root.start_vdsmd()
    yield root
    root.cleanup()


def _meminfo_kib(key: str) -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def test_ping(agent):
    assert agent.proxy().ping() == {"status": {"code": 0, "message": "Done"}}


def test_capabilities_match_the_machine(agent):
    answer = agent.proxy().getVdsCapabilities()
    assert answer["status"] == {"code": 0, "message": "Done"}
    caps = answer["info"]
    assert int(caps["cpuThreads"]) == os.cpu_count()
    assert int(caps["memSize"]) == _meminfo_kib("MemTotal") // 1024
    assert caps["kvmEnabled"] == ("true" if os.path.exists("/dev/kvm")
                                  else "false")
    assert caps["packages2"]["kernel"]["version"] in platform.release()
    assert "lo" not in caps["nics"]
    assert caps["emulatedMachines"], "qemu reports machine types"


def test_stats_from_memory(agent):
    info = agent.proxy().getVdsStats()["info"]
    for key in ("cpuUser", "cpuSys", "cpuIdle", "memUsed", "memAvailable",
                "swapTotal", "network", "elapsedTime", "vmCount", "ksmState",
                "storageDomains"):
        assert key in info, key
    assert float(info["cpuIdle"]) <= 100.0
    assert "lo" in info["network"] or info["network"]


def test_hardware_info_through_supervdsm_survives_its_restart(agent):
    proxy = agent.proxy()
    first = proxy.getVdsHardwareInfo()
    assert first["status"]["code"] == 0
    assert set(first["info"]) >= {"systemManufacturer", "systemUUID"}
    assert agent.stop("supervdsmd") == 0
    down = proxy.getVdsHardwareInfo()["status"]
    assert down["code"] != 0 and proxy.ping()["status"]["code"] == 0
    agent.start_supervdsmd()
    assert proxy.getVdsHardwareInfo() == first


def test_log_level(agent):
    proxy = agent.proxy()
    assert proxy.setLogLevel("DEBUG")["status"]["code"] == 0
    assert proxy.setLogLevel("INFO")["status"]["code"] == 0
    assert proxy.setLogLevel("LOUD")["status"]["code"] == 91
    assert proxy.setLogLevel("DEBUG", "../../etc")["status"]["code"] == 91
    assert proxy.setLogLevel("DEBUG", "urllib3")["status"]["code"] == 91
    assert proxy.setLogLevel("INFO", "vdsm.api")["status"]["code"] == 0


def test_runs_without_root_privileges(agent):
    pid = agent.procs["vdsmd"].pid
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    uids = [int(u) for u in fields["Uid"].split()]
    import pwd
    vdsm_uid = pwd.getpwnam("vdsm").pw_uid
    assert uids == [vdsm_uid] * 4, "real, effective, saved and fs uid"


def test_bad_calls_then_good_call(agent):
    proxy = agent.proxy()
    with pytest.raises(xmlrpc.client.Fault):
        proxy.noSuchVerb()
    assert proxy.getTaskStatus()["status"]["code"] == 11
    assert proxy.getTaskStatus(12)["status"]["code"] == 91
    assert proxy.getTaskStatus(
        "00000000-0000-0000-0000-000000000000")["status"]["code"] == 401
    assert proxy.ping()["status"]["code"] == 0


def test_refused_without_a_trusted_certificate(agent, other_pki):
    for cert, key in ((None, None), (other_pki.client_cert("intruder"),
                                     other_pki.client_key("intruder"))):
        ctx = pki.client_context(agent.pki.ca_cert, cert, key)
        client = xmlrpc.client.ServerProxy(f"https://127.0.0.1:{agent.port}",
                                           context=ctx)
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            client.ping()
    assert agent.proxy().ping()["status"]["code"] == 0


def test_fifty_concurrent_clients(agent):
    codes: list[int] = []
    errors: list[BaseException] = []

    def call():
        try:
            codes.append(agent.proxy().getVdsStats()["status"]["code"])
        except BaseException as e:  # collected, asserted below
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert codes == [0] * 50


def test_every_call_is_logged_with_client_and_duration(agent):
    agent.proxy().ping()
    deadline = time.monotonic() + 5
    path = os.path.join(agent.config.log_dir, "vdsm.log")
    while time.monotonic() < deadline:
        with open(path) as f:
            lines = [ln for ln in f if "ping (Host.ping) succeeded in" in ln]
        if lines:
            break
        time.sleep(0.1)
    assert lines and "[127.0.0.1:" in lines[-1]


def test_sigterm_stops_cleanly():
    root = AgentRoot()
    try:
        root.start_vdsmd()
        pidfile = os.path.join(root.config.run_dir, "vdsmd.pid")
        assert os.path.exists(pidfile)
        assert root.stop("vdsmd") == 0
        assert not os.path.exists(pidfile)
    finally:
        root.cleanup()


def test_plain_http_refused_off_loopback():
    root = AgentRoot({("vars", "ssl"): False,
                        ("addresses", "management_ip"): "0.0.0.0"})
    try:
        proc = root.start("vdsmd", "vdsm.daemon")
        assert proc.wait(30) == 1
        assert "ssl = false is allowed only with a loopback" in root.output("vdsmd")
    finally:
        root.cleanup()
