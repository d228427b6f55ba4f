"""Host.fenceNode end to end: a real vdsmd (XML-RPC) runs the real
fence_ipmilan against OpenIPMI's ipmi_sim on a loopback port, and the
simulator's power state follows. Failures (wrong password, unreachable BMC,
a hung agent, an unknown agent) answer the classic errors within the
configured timeout; the password shows in no process command line and in
no file the agent writes. The fencing policy is checked against real
sanlock: a second sanlock daemon ("the target host") renewing its host id
on a test lockspace makes fencing skip; a host id nobody renews lets it go.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
import uuid

import pytest

from tests.host.fencing import ipmisim
from tests.storage.helpers import (
    SanlockDaemon,
    StorageHost,
    need_root,
    need_sanlock,
    wait_for,
)
from tests.supervdsm.helpers import ensure_vdsm_user
from vdsm.common import commands

WHY = ipmisim.unavailable()
pytestmark = [need_root, need_sanlock,
              pytest.mark.skipif(WHY is not None, reason=f"ipmi_sim: {WHY}")]

PASSWORD = "fence-" + uuid.uuid4().hex[:12]
WRONG = "wrong-" + uuid.uuid4().hex[:12]
TIMEOUT = 8.0        # [fencing] timeout of the agent under test
IPMI = ("ipmilan",)  # agent name as the engine sends it
OPTS = f"cipher={ipmisim.CIPHER}"

@pytest.fixture(scope="module")
def bmc():
    sim = ipmisim.IpmiSim(PASSWORD).start()
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def agent_dir():
    path = tempfile.mkdtemp(prefix="vdsm-fence-agents-")
    os.chmod(path, 0o755)
    os.symlink("/usr/sbin/fence_ipmilan", os.path.join(path, "fence_ipmilan"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def host(agent_dir):
    ensure_vdsm_user()
    agent = StorageHost({("fencing", "agent_dir"): agent_dir,
                         ("fencing", "timeout"): TIMEOUT,
                         ("logging", "level"): "DEBUG"}).start()
    yield agent
    agent.stop()


def fence(host, bmc_port, action, *, password=PASSWORD, agent="ipmilan",
          options=OPTS, policy=None, secure=True):
    start = time.monotonic()
    answer = host.proxy().fenceNode("127.0.0.1", bmc_port, agent,
                                    ipmisim.USER, password, action, secure,
                                    options, policy)
    return answer, time.monotonic() - start


def test_status_off_on_reboot_follow_the_simulator(host, bmc):
    answer, _ = fence(host, bmc.port, "status")
    assert answer["status"]["code"] == 0, answer
    assert answer["power"] == "on"

    answer, _ = fence(host, bmc.port, "off")
    assert answer["status"]["code"] == 0, answer
    assert answer["operationStatus"] == "initiated"
    assert bmc.power_status() == "off"
    answer, _ = fence(host, bmc.port, "status")
    assert answer["power"] == "off"

    answer, _ = fence(host, bmc.port, "on")
    assert answer["status"]["code"] == 0, answer
    assert bmc.power_status() == "on"

    before = len(bmc.history_lines())
    answer, _ = fence(host, bmc.port, "reboot", options=OPTS + " power_wait=0")
    assert answer["status"]["code"] == 0, answer
    assert bmc.history_lines()[before:] == ["0", "1"]  # off, then on again
    assert bmc.power_status() == "on"


def test_wrong_password_answers_the_classic_failure(host, bmc):
    before = bmc.history_lines()
    answer, elapsed = fence(host, bmc.port, "off", password=WRONG)
    assert answer["status"]["code"] == 1, answer
    assert answer["power"] == "unknown"
    assert "Failed" in answer["status"]["message"]
    assert elapsed < TIMEOUT
    assert bmc.history_lines() == before and bmc.power_status() == "on"


def fence_watching_cmdlines(host, *args, **kwargs):
    """fence() while every process's command line is read again and again:
    (answer, elapsed, command lines holding the password, whether ipmitool
    was seen running)."""
    result = {}
    call = threading.Thread(target=lambda: result.update(
        answer=fence(host, *args, **kwargs)))
    call.start()
    seen_ipmitool, leaked = False, []
    deadline = time.monotonic() + 3 * TIMEOUT
    while call.is_alive() and time.monotonic() < deadline:
        for pid, cmdline in _cmdlines().items():
            seen_ipmitool |= b"ipmitool" in cmdline and b"-E" in cmdline
            if PASSWORD.encode() in cmdline:
                leaked.append((pid, cmdline))
    call.join(3 * TIMEOUT)
    answer, elapsed = result["answer"]
    return answer, elapsed, leaked, seen_ipmitool


def _cmdlines() -> dict[int, bytes]:
    found = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    found[int(pid)] = f.read()
            except OSError:
                pass    # exited meanwhile
    return found


def test_unreachable_bmc_answers_within_the_timeout_password_on_no_cmdline(host):
    """While fence_ipmilan and ipmitool wait for a BMC that never answers,
    no process's command line shows the password."""
    closed = ipmisim.free_udp_port()   # nothing listens there
    # the agent's own deadline (power_timeout) comes first: its own error
    answer, elapsed, leaked, seen = fence_watching_cmdlines(
        host, closed, "status", options=OPTS + " power_timeout=2")
    assert answer["status"]["code"] == 1, answer
    assert answer["power"] == "unknown"
    assert elapsed < TIMEOUT
    assert seen, "the scan never saw ipmitool running"
    assert not leaked
    # fence_ipmilan alone would retry for 20 s: killed at [fencing] timeout
    answer, elapsed, leaked, seen = fence_watching_cmdlines(host, closed, "off")
    assert answer["status"]["code"] == 1, answer
    assert "timed out after 8 s" in answer["status"]["message"]
    assert TIMEOUT - 0.5 < elapsed < TIMEOUT + 2
    assert seen and not leaked


def test_unknown_or_malformed_agent_is_refused(host, bmc):
    answer, _ = fence(host, bmc.port, "status", agent="nosuchagent")
    assert answer["status"]["code"] == 43, answer   # UnsupportedFenceAgent
    answer, _ = fence(host, bmc.port, "status", agent="../../bin/sh")
    assert answer["status"]["code"] != 0
    answer, _ = fence(host, bmc.port, "status",
                      options=OPTS + " passwd_script=/bin/true")
    assert answer["status"]["code"] != 0


def sanlock_call(daemon, code: str) -> str:
    """Run python3-sanlock code against one of the private daemons (their
    socket is chosen by SANLOCK_RUN_DIR when the library connects)."""
    result = commands.run([sys.executable, "-c", "import sanlock\n" + code],
                          env=dict(os.environ, **daemon.env()), timeout=60)
    return result.out.strip()


def add_lockspace(daemon, name, host_id, ids):
    sanlock_call(daemon, f"sanlock.add_lockspace({name.encode()!r}, {host_id}, "
                         f"{ids.encode()!r}, iotimeout=1)")


def rem_lockspace(daemon, name, host_id, ids):
    sanlock_call(daemon, f"sanlock.rem_lockspace({name.encode()!r}, {host_id}, "
                         f"{ids.encode()!r})")


def host_flags(daemon, name, host_id) -> str:
    return sanlock_call(daemon, f"""
flags = {{sanlock.HOST_LIVE: "live", sanlock.HOST_FREE: "free",
         sanlock.HOST_DEAD: "dead", sanlock.HOST_FAIL: "fail"}}
try:
    hosts = sanlock.get_hosts({name.encode()!r}, {host_id})
except sanlock.SanlockException:  # EAGAIN: just joined, nothing known yet
    hosts = []
print(flags.get(hosts[0]["flags"], "unknown") if hosts else "unknown")""")


@pytest.fixture(scope="module")
def lockspace(host):
    """A test lockspace joined by the agent's sanlock as host id 1 and by
    a second sanlock daemon (the target host) as host id 2, at once."""
    name = "fence-ls-" + uuid.uuid4().hex[:8]
    top = tempfile.mkdtemp(prefix="vdsm-fence-ls-")
    os.chmod(top, 0o755)
    ids = os.path.join(top, "ids")
    with open(ids, "wb") as f:
        f.truncate(1024 * 1024)
    os.chmod(ids, 0o666)
    commands.run(["sanlock", "direct", "init", "-o", "1", "-s",
                  f"{name}:0:{ids}:0"],
                 timeout=30)
    target = SanlockDaemon(os.path.join(top, "target-run"))
    target.start()
    errors = []

    def join(daemon, host_id):
        try:
            add_lockspace(daemon, name, host_id, ids)
        except Exception as e:  # raised below, in the fixture
            errors.append(e)
    joins = [threading.Thread(target=join, args=(d, i))
             for d, i in ((host.sanlock, 1), (target, 2))]
    try:
        for t in joins:
            t.start()
        for t in joins:
            t.join(60)
        if errors:
            raise errors[0]
        yield name, ids, target
    finally:
        for daemon, host_id in ((host.sanlock, 1), (target, 2)):
            commands.run([sys.executable, "-c", "import sanlock, sys\n"
                          "a = sys.argv[1:]\ntry: sanlock.rem_lockspace("
                          "a[0].encode(), int(a[1]), a[2].encode())\n"
                          "except sanlock.SanlockException: pass",
                          name, str(host_id), ids], timeout=30, check=False,
                         env=dict(os.environ, **daemon.env()))
        target.stop()
        shutil.rmtree(top, ignore_errors=True)


def test_policy_skips_a_host_renewing_its_lease_and_fences_one_that_is_not(
        host, bmc, lockspace):
    name, ids, target = lockspace
    live = {"storageDomainHostIdMap": {name: 2}}
    before = bmc.history_lines()

    # sanlock calls a host live once it has seen its timestamp move
    seen = []
    wait_for(lambda: seen.append(host_flags(host.sanlock, name, 2))
             or seen[-1] == "live", 30,
             "the agent's sanlock to see host id 2 live", interval=0.5)
    answer, _ = fence(host, bmc.port, "off", policy=live)
    assert answer["status"]["code"] == 0, answer
    assert answer["operationStatus"] == "skipped", (answer, seen)
    assert bmc.history_lines() == before and bmc.power_status() == "on"

    # status is never refused
    answer, _ = fence(host, bmc.port, "status", policy=live)
    assert answer["power"] == "on"

    # host id 3 was never taken: nobody renews it, fencing goes on
    answer, _ = fence(host, bmc.port, "off",
                      policy={"storageDomainHostIdMap": {name: 3}})
    assert answer["operationStatus"] == "initiated", answer
    assert bmc.power_status() == "off"

    # the target stops renewing (leaves the lockspace): fenced
    rem_lockspace(target, name, 2, ids)

    def fenced():
        answer, _ = fence(host, bmc.port, "on", policy=live)
        return answer.get("operationStatus") == "initiated"
    wait_for(fenced, 20, "host id 2 to be seen not live", interval=0.5)
    assert bmc.power_status() == "on"


def test_password_is_in_no_file_of_the_agent(host):
    """Last: every log and state file the agent wrote during this module."""
    leaked = []
    for top, _, files in os.walk(host.root.root):
        for name in files:
            path = os.path.join(top, name)
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if PASSWORD.encode() in data or WRONG.encode() in data:
                leaked.append(path)
    assert not leaked
