"""The real vdsmd + supervdsmd under fuzz, fenced off from the host (test aid).

Both daemons run in one private mount namespace whose /tmp is a fresh
tmpfs (the agent's root bound back into it): a mount the fuzzer asks
for can never reach the host, and whatever the agent writes to /tmp is
found there afterwards. The network subsystem manages a private network
namespace (``[network] netns``) holding veth NICs, so setupNetworks and
friends change only that. libvirt points at no daemon: no guest starts.
Used by tests/api/fuzz_test.py and benchmarks/fuzz.py.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import time
import uuid
import xmlrpc.client
from typing import Any

from tests.agentproc import PYTHON, REPO, AgentRoot, ensure_vdsm_user
from tests.fuzzing import BLANK, Call, Tally, answer_code, describe, xmlrpc_args
from vdsm.common import commands, pki
from vdsm_cli.jsonrpc_client import ClientError, StompClient

# /etc/iscsi: discoverSendTargets must leave no discovery record behind
WATCHED = ("/rhev", "/var/lib/vdsm", "/run/vdsm", "/var/log/vdsm",
           "/etc/iscsi/send_targets", "/etc/iscsi/nodes")
DEFECT_CODES = {16, -32603}
# No libvirtd answers here: VM verbs run up to the hypervisor, never a guest.
NO_LIBVIRT = "qemu:///system?socket=/nonexistent/vdsm-fuzz/libvirt-sock"


def host_state() -> dict[str, Any]:
    """What the agent must not change on the host: watched paths, links."""
    state: dict[str, Any] = {}
    for path in WATCHED:
        state[path] = sorted(os.listdir(path)) if os.path.isdir(path) else \
            os.path.exists(path)
    links = json.loads(commands.run(["ip", "-j", "link"], timeout=10).out)
    state["links"] = sorted((link["ifname"], link.get("mtu"),
                             tuple(link.get("flags", ()))) for link in links)
    return state


class FuzzAgent(AgentRoot):
    def __init__(self) -> None:
        self.user = ensure_vdsm_user()
        self.ns_name = f"vdsmfuzz-{os.getpid()}"
        super().__init__({("network", "netns"): self.ns_name,
                          ("vars", "libvirt_uri"): NO_LIBVIRT,
                          ("vars", "domain_type"): "qemu",
                          # no fence agent: fenceNode must never power
                          # anything here (nor wait for a random address)
                          ("fencing", "agent_dir"): "/nonexistent/vdsm-fuzz",
                          ("logging", "level"): "DEBUG"})
        self.local_dir = os.path.join(self.root, "local-domain")
        os.makedirs(self.local_dir)
        pw = pwd.getpwnam(self.user)
        os.chown(self.local_dir, pw.pw_uid, pw.pw_gid)
        subprocess.run(["ip", "netns", "del", self.ns_name], check=False,
                       capture_output=True, timeout=10)
        try:
            commands.run(["ip", "netns", "add", self.ns_name], timeout=10)
            for i in range(3):
                commands.run(["ip", "-n", self.ns_name, "link", "add",
                              f"nic{i}", "type", "veth", "peer", "name",
                              f"wire{i}"], timeout=10)
            self.start_supervdsmd()
            self.start_vdsmd()
            self.sd_uuid = self._local_domain()
        except BaseException:
            self.cleanup()
            raise

    def kept_in_tmp(self) -> list[str]:
        """Paths under /tmp the daemons still need behind their private
        /tmp: the agent's root, and the repository (its venv) when a
        checkout lives there."""
        kept = [self.root]
        if REPO.startswith("/tmp/"):
            kept.append(REPO)
        return kept

    def _fence(self) -> str:
        """The shell that gives the daemons a fresh /tmp: what they need of
        the old one is bound aside (on a private tmpfs at /mnt) and moved
        back to the same paths."""
        kept = self.kept_in_tmp()
        steps = ["mount -t tmpfs fuzzhold /mnt"]
        for i, path in enumerate(kept):
            steps += [f"mkdir /mnt/{i}", f"mount --bind {path} /mnt/{i}"]
        steps.append("mount -t tmpfs -o mode=1777 fuzztmp /tmp")
        for i, path in enumerate(kept):
            steps += [f"mkdir -p {path}", f"mount --move /mnt/{i} {path}"]
        return " && ".join(steps + ['exec "$@"'])

    def start(self, name: str, module: str, *args: str) -> subprocess.Popen:
        if name == "supervdsmd":
            prefix = ["unshare", "-m", "--propagation", "private",
                      "sh", "-c", self._fence(), "fence"]
        else:
            prefix = ["nsenter", "-t", str(self.procs["supervdsmd"].pid),
                      "-m", "--"]
        log = open(os.path.join(self.root, f"{name}.out"), "ab")
        proc = subprocess.Popen(
            [*prefix, PYTHON, "-m", module,
             "--config", self.conf_file, *args],
            env=self.env(), stdout=log, stderr=subprocess.STDOUT, cwd="/")
        log.close()
        self.procs[name] = proc
        return proc

    def _local_domain(self) -> str:
        """A real local storage domain, for calls to find."""
        sd_uuid = str(uuid.uuid4())
        with self.client() as client:
            client.call("StoragePool.connectStorageServer", {
                "domainType": 4, "storagepoolID": BLANK,
                "connectionParams": [{"id": str(uuid.uuid4()),
                                      "connection": self.local_dir}]})
            client.call("StorageDomain.create", {
                "storagedomainID": sd_uuid, "domainType": 4,
                "typeArgs": self.local_dir, "name": "fuzz", "domainClass": 1,
                "version": 5})
        return sd_uuid

    def known_values(self) -> dict[str, list[Any]]:
        """Real objects and plausible values, so that calls get past the
        schema into the subsystems."""
        sd = [self.sd_uuid, BLANK]
        return {"domainType": [4, 1, 6], "connection": [self.local_dir],
                "typeArgs": [self.local_dir], "bridge": ["fuzznet", "nic0"],
                "nics": [["nic0"], ["nic1"], "nic2"], "domainClass": [1, 2],
                "version": [5], "hostID": [1, 2], "level": ["DEBUG"],
                "storagedomainID": sd, "sdUUID": sd, "masterSdUUID": sd,
                "dstSdUUID": sd, "domains": [[self.sd_uuid]]}

    def client(self) -> StompClient:
        ctx = pki.client_context(self.pki.ca_cert, self.pki.client_cert("engine"),
                                 self.pki.client_key("engine"))
        return StompClient("127.0.0.1", self.port, ssl_context=ctx, timeout=60)

    def private_tmp(self) -> list[str]:
        """What is in the daemons' /tmp but the mount points of what they
        kept of the host's."""
        pid = self.procs["supervdsmd"].pid
        entries = os.listdir(f"/proc/{pid}/root/tmp")
        kept = {p.removeprefix("/tmp/").split("/")[0] for p in self.kept_in_tmp()}
        return sorted(set(entries) - kept)

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.procs['vdsmd'].pid}/fd"))

    def tracebacks(self) -> list[str]:
        """Traceback blocks in the agent's logs (each with what precedes)."""
        found = []
        for name in ("vdsm.log", "supervdsm.log", "vdsmd.out",
                     "supervdsmd.out"):
            for folder in (self.config.log_dir, self.root):
                path = os.path.join(folder, name)
                if not os.path.exists(path):
                    continue
                with open(path, errors="replace") as f:
                    lines = f.readlines()
                for i, line in enumerate(lines):
                    if "Traceback" in line:
                        found.append(f"{path}:{i + 1}\n"
                                     + "".join(lines[max(0, i - 2):i + 25]))
        return found

    def alive(self) -> bool:
        if any(p.poll() is not None for p in self.procs.values()):
            return False
        return self.proxy().ping()["status"]["code"] == 0

    def cleanup(self) -> None:
        for name in ("vdsmd", "supervdsmd"):
            self.stop(name)
        subprocess.run(["ip", "netns", "del", self.ns_name], check=False,
                       capture_output=True, timeout=10)
        super().cleanup()


class Driver:
    """Sends calls through both bindings and tallies the answers."""

    def __init__(self, agent: FuzzAgent, seed: int, *,
                 timeout: float = 60) -> None:
        self.agent = agent
        self.seed = seed
        self.timeout = timeout
        self.proxy = agent.proxy()
        self.stomp = agent.client()
        self.tally = Tally()

    def send(self, call: Call) -> None:
        try:
            answer = self._send(call)
        except (OverflowError, RecursionError, UnicodeEncodeError):
            self.tally.unsendable += 1  # the client library cannot encode it
            return
        except (ClientError, OSError, xmlrpc.client.ProtocolError) as e:
            self.tally.defects.append(f"{describe(self.seed, call)}: no answer"
                                      f" ({e})")
            self._reconnect()
            return
        code = answer_code(call.binding, answer)
        self.tally.codes[code] += 1
        self.tally.verbs[call.verb.name] += 1
        if code in DEFECT_CODES:
            self.tally.defects.append(f"{describe(self.seed, call)}: {answer}")
        if call.verb.name == "Host.setLogLevel":
            self.proxy.setLogLevel("DEBUG")  # keep tracebacks in the log

    def _send(self, call: Call) -> Any:
        if call.binding == "xmlrpc":
            try:
                return getattr(self.proxy, call.method)(*xmlrpc_args(call.args))
            except xmlrpc.client.Fault as fault:
                return fault
        return self.stomp.call_raw(call.method, call.args,
                                   timeout=self.timeout)

    def _reconnect(self) -> None:
        self.stomp.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                self.proxy = self.agent.proxy()
                self.stomp = self.agent.client()
                return
            except (ClientError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def close(self) -> None:
        self.stomp.close()


def problems(agent: FuzzAgent, tally: Tally, *, fds_before: int,
             host_before: dict[str, Any]) -> list[str]:
    """Every way the run failed the pass criteria (empty: passed)."""
    found = list(tally.defects)
    try:
        if not agent.alive():
            found.append("a daemon died:\n" + agent.output("vdsmd"))
    except (OSError, xmlrpc.client.Error) as e:
        found.append(f"vdsmd does not answer ping: {e}")
    found += [f"traceback in the log: {t}" for t in agent.tracebacks()]
    if agent.private_tmp():
        found.append(f"left in /tmp: {agent.private_tmp()}")
    if host_state() != host_before:
        found.append(f"host changed: {host_before} -> {host_state()}")
    deadline = time.monotonic() + 10
    while agent.fds() > fds_before + 10 and time.monotonic() < deadline:
        time.sleep(0.5)
    if agent.fds() > fds_before + 10:
        found.append(f"vdsmd fds {fds_before} -> {agent.fds()}")
    return found
