"""The runs of benchmarks/migration.py: the rig, one guest per method and
case, the timed migrations. Every wait is bounded; everything started
here is stopped by pid (the rig's and the agents' own stop)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from datetime import datetime
from typing import Any

import libvirt
from lxml import etree

from tests.virt.harness import (
    BOOT_MARK,
    build_guest,
    destroy_quietly,
    read_console,
    vm_params,
    wait_for,
    wait_status,
)
from tests.virt.migrationrig import HostAgent
from tests.virt.twohosts import Host, TwoHosts
from vdsm.common import commands

# the agent's own defaults for what runs beside a migration (the test
# rig samples every 0.5 s), so the figures are the production agent's
PRODUCTION = {"vars__vm_sample_interval": 15.0,
              "vars__vm_sample_timeout": 2.0,
              "vars__guest_agent_interval": 60.0,
              "vars__migration_monitor_interval": 1.0}
log = logging.getLogger(__name__)

POLL = 0.1           # s between migrateStatus calls (the end is timed
                     # from the agent's log line, not from this)
EVENT_WAIT = 5.0     # s for libvirt's JOB_COMPLETED event after the end
_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


class JobEvents:
    """libvirt's JOB_COMPLETED events of both hosts, by domain UUID: the
    completed job's statistics (downtime, time_elapsed), which a transient
    domain that left its source can no longer be asked for."""

    def __init__(self, uris: list[str]) -> None:
        libvirt.virEventRegisterDefaultImpl()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="bench-libvirt-events")
        self._thread.start()
        # a periodic timer so that the loop sees _stop
        libvirt.virEventAddTimeout(200, lambda *_: None, None)
        self._cond = threading.Condition()
        self._stats: dict[str, dict[str, Any]] = {}
        self._conns = []
        for uri in uris:
            conn = libvirt.open(uri)
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
                self._completed, None)
            self._conns.append(conn)

    def _loop(self) -> None:
        while not self._stop:
            libvirt.virEventRunDefaultImpl()

    def _completed(self, _conn: Any, dom: libvirt.virDomain,
                   params: dict[str, Any], _opaque: Any) -> None:
        if params.get("operation") != libvirt.VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT:
            return
        with self._cond:
            self._stats[dom.UUIDString()] = {**params, "received": time.time()}
            self._cond.notify_all()

    def forget(self, vm_id: str) -> None:
        with self._cond:
            self._stats.pop(vm_id, None)

    def wait(self, vm_id: str) -> dict[str, Any] | None:
        with self._cond:
            self._cond.wait_for(lambda: vm_id in self._stats, EVENT_WAIT)
            return self._stats.pop(vm_id, None)

    def close(self) -> None:
        self._stop = True
        for conn in self._conns:
            conn.close()
        self._thread.join(2.0)


def agent_log(agent: HostAgent) -> str:
    """The agent's whole log (HostAgent.log gives only its tail)."""
    with open(os.path.join(agent.root.root, "vdsmd.out"), errors="replace") as f:
        return f.read()


def _log_time(line: str) -> float:
    stamp = _LOG_TIME.match(line)
    assert stamp, line
    return datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def first_log_time(text: str, needle: str, since: float) -> float | None:
    """The time of the first agent log line holding needle at or after
    since (the agent's log has millisecond timestamps)."""
    for line in text.splitlines():
        if needle in line and _LOG_TIME.match(line):
            when = _log_time(line)
            if when >= since - 0.001:
                return when
    return None


def _figures(run: dict[str, Any], stats: dict[str, Any] | None,
             ended: float) -> dict[str, Any]:
    """libvirt's figures, and ``tail_ms``: from the JOB_COMPLETED event
    (received here) to the end the caller saw."""
    if stats is None:
        run["error"] = "no JOB_COMPLETED event"
        return run
    run["tail_ms"] = round((ended - stats["received"]) * 1000, 1)
    run["downtime_ms"] = float(stats["downtime"])
    run["libvirt_ms"] = float(stats["time_elapsed"])
    run["own_ms"] = round(run["total_ms"] - run["libvirt_ms"], 1)
    run["setup_ms"] = float(stats.get("setup_time", 0))
    run["iterations"] = stats.get("memory_iteration")
    return run


class Rig:
    """Two hosts, their agents and the event listener, for all cases."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.hosts = TwoHosts()
        self.agents: list[HostAgent] = []
        self.events: JobEvents | None = None
        self.guest: dict[str, Any] = {}
        self.tmp = tempfile.mkdtemp(prefix="vdsm-migbench-")
        self.virsh_vms: list[str] = []

    def start(self) -> None:
        self.guest = build_guest()
        self.hosts.start()
        hooks = self.args.hooks
        a = HostAgent(self.hosts.a, record_hooks=hooks, **PRODUCTION)
        self.agents.append(a)
        self.agents.append(HostAgent(self.hosts.b, ca_from=a.root,
                                     record_hooks=hooks, **PRODUCTION))
        for agent in self.agents:
            agent.start()
        self.events = JobEvents([h.uri for h in self.hosts.hosts])

    def stop(self) -> None:
        try:
            if self.events is not None:
                self.events.close()
            for agent in self.agents:
                agent.stop()
                if self.args.logs:
                    os.makedirs(self.args.logs, exist_ok=True)
                    shutil.copy(os.path.join(agent.root.root, "vdsmd.out"),
                                os.path.join(self.args.logs,
                                             f"agent-{agent.host.name}.log"))
                agent.cleanup()
            for host in self.hosts.hosts:
                if host.libvirt is not None:
                    destroy_quietly(host.uri, self.virsh_vms)
        finally:
            self.hosts.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def case(self, mem: int, load: str) -> dict[str, list[dict[str, Any]]]:
        """The runs of one case by method: the agent with its default
        downtime schedule, the agent told to use the maximum downtime at
        once (as virsh does; the same guest, already warm), virsh."""
        extra = f" vdsm_dirty={self.args.dirty_mib}" if load == "dirty" else ""
        params = vm_params(self.guest, memSize=mem,
                           kernelArgs=self.guest["cmdline"] + extra)
        vm_id = params["vmId"]
        a = self.agents[0]
        assert a.proxy.create(params)["status"]["code"] == 0
        try:
            wait_status(a.proxy, vm_id, "Up", timeout=60)
            _wait_guest(a.root.config.log_dir, vm_id, load)
            xml = _domain_xml(self.hosts.a.uri, vm_id)
            flat = {"init": [{"name": "setDowntime",
                              "params": [str(self.args.downtime)]}],
                    "stalling": []}
            on = [0]    # index of the agent that has the VM
            methods = {"agent": self._agent_runs(vm_id, on, self.args.warmup,
                                                 None),
                       "agent_flat": self._agent_runs(vm_id, on, 0, flat)}
        finally:
            for agent in self.agents:
                agent.proxy.destroy(vm_id)
            for host in self.hosts.hosts:
                destroy_quietly(host.uri, [vm_id])
        methods["virsh"] = self._virsh_runs(xml, load)
        return methods

    # --- through the agent ---------------------------------------------
    def _agent_runs(self, vm_id: str, on: list[int], warmup: int,
                    schedule: dict[str, Any] | None) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = []
        for i in range(warmup + self.args.runs):
            src, dst = self.agents[on[0]], self.agents[1 - on[0]]
            run = self._agent_run(src, dst, vm_id, schedule)
            run["warmup"] = i < warmup
            runs.append(run)
            if run.get("error"):
                break   # the VM stays where it is; so do the next runs
            on[0] = 1 - on[0]
            wait_status(dst.proxy, vm_id, "Up", timeout=30)
            src.proxy.destroy(vm_id)    # as the engine does
        return runs

    def _agent_run(self, src: HostAgent, dst: HostAgent, vm_id: str,
                   schedule: dict[str, Any] | None) -> dict[str, Any]:
        assert self.events is not None
        self.events.forget(vm_id)
        request = {"vmId": vm_id, "dst": dst.dst, "method": "online",
                   "dstqemu": dst.host.address, "downtime": self.args.downtime,
                   "maxBandwidth": self.args.bandwidth}
        if schedule is not None:
            request["convergenceSchedule"] = schedule
        since = time.time()
        start = time.monotonic()
        answer = src.proxy.migrate(request)
        assert answer["status"]["code"] == 0, answer
        deadline = start + self.args.timeout
        while True:
            stats = src.proxy.migrateStatus(vm_id)["migrationStats"]
            if stats["phase"] in ("done", "failed"):
                break
            if time.monotonic() > deadline:
                src.proxy.migrateCancel(vm_id)
                wait_for(lambda: src.proxy.migrateStatus(vm_id)[
                    "migrationStats"]["phase"] == "failed", 30,
                    "the cancelled migration to end")
                return {"error": f"{src.host.name}->{dst.host.name} not done "
                                 f"in {self.args.timeout:g} s (progress "
                                 f"{stats.get('progress')}%), cancelled"}
            time.sleep(POLL)
        polled = time.monotonic() - start
        if stats["phase"] == "failed":
            return {"error": f"{src.host.name}->{dst.host.name} failed: "
                             f"{stats['status']['message']}"}
        text = agent_log(src)
        began = first_log_time(text, f"vm {vm_id}: migrating to", since)
        ended = first_log_time(text, f"vm {vm_id}: migrated to", since)
        if ended is None:
            ended = since + polled
        run: dict[str, Any] = {"total_ms": round((ended - since) * 1000, 1)}
        if began is not None:
            run["prepare_ms"] = round((began - since) * 1000, 1)
        return _figures(run, self.events.wait(vm_id), ended)

    # --- through virsh -------------------------------------------------
    def _virsh_runs(self, xml: str, load: str) -> list[dict[str, Any]]:
        vm_id = str(uuid.uuid4())
        # where read_console looks, with self.tmp as the log dir
        os.makedirs(os.path.join(self.tmp, "console"), exist_ok=True)
        console = os.path.join(self.tmp, "console", f"{vm_id}.log")
        path = os.path.join(self.tmp, f"{vm_id}.xml")
        with open(path, "w") as f:
            f.write(_virsh_xml(xml, vm_id, console))
        self.virsh_vms.append(vm_id)
        hosts = self.hosts.hosts
        _virsh(hosts[0], "create", path)
        runs = []
        try:
            _wait_guest(self.tmp, vm_id, load)
            for i in range(self.args.warmup + self.args.runs):
                run = self._virsh_run(hosts[i % 2], hosts[1 - i % 2], vm_id)
                run["warmup"] = i < self.args.warmup
                runs.append(run)
                if run.get("error"):
                    break
        finally:
            for host in hosts:
                destroy_quietly(host.uri, [vm_id])
        return runs

    def _virsh_run(self, src: Host, dst: Host, vm_id: str) -> dict[str, Any]:
        assert self.events is not None
        self.events.forget(vm_id)
        _virsh(src, "migrate-setmaxdowntime", vm_id, str(self.args.downtime))
        argv = ["migrate", "--live", "--p2p", "--bandwidth",
                str(self.args.bandwidth), vm_id, dst.tcp_uri,
                f"tcp://{dst.address}"]
        since = time.time()
        start = time.monotonic()
        try:
            _virsh(src, *argv, timeout=self.args.timeout)
        except commands.CommandError as e:
            if e.rc is not None:
                return {"error": f"{src.name}->{dst.name} failed: "
                                 f"{e.err.strip()}"}
            _abort(src.uri, vm_id)
            return {"error": f"{src.name}->{dst.name} not done in "
                             f"{self.args.timeout:g} s, domjobabort"}
        took = time.monotonic() - start
        run = {"total_ms": round(took * 1000, 1)}
        return _figures(run, self.events.wait(vm_id), since + took)


def _virsh(host: Host, *args: str, timeout: float = 30.0) -> None:
    """virsh against that host's libvirt through its Unix socket, from the
    root namespace as the agents (peer to peer: the source's libvirtd
    reaches the destination, virsh only talks to the source)."""
    commands.run(["virsh", "-q", "-c", host.uri, *args], timeout=timeout)


def _abort(uri: str, vm_id: str) -> None:
    conn = libvirt.open(uri)
    try:
        dom = conn.lookupByUUIDString(vm_id)
        try:
            dom.abortJob()
        except libvirt.libvirtError as e:
            log.warning("cannot abort the migration of %s: %s", vm_id, e)
        wait_for(lambda: dom.jobInfo()[0] == libvirt.VIR_DOMAIN_JOB_NONE, 30,
                 "the aborted virsh migration to end")
    finally:
        conn.close()


def _domain_xml(uri: str, vm_id: str) -> str:
    conn = libvirt.open(uri)
    try:
        return conn.lookupByUUIDString(vm_id).XMLDesc(
            libvirt.VIR_DOMAIN_XML_MIGRATABLE)
    finally:
        conn.close()


def _virsh_xml(xml: str, vm_id: str, console: str) -> str:
    """The agent's domain XML as another domain: own UUID, name and
    console log, no agent metadata."""
    root = etree.fromstring(xml)
    root.find("uuid").text = vm_id
    root.find("name").text = f"bench-virsh-{vm_id[:8]}"
    for meta in root.findall("metadata"):
        root.remove(meta)
    for logfile in root.iter("log"):
        logfile.set("file", console)
    return etree.tostring(root, encoding="unicode")


def _wait_guest(log_dir: str, vm_id: str, load: str) -> None:
    mark = "dirtying" if load == "dirty" else BOOT_MARK
    wait_for(lambda: mark in read_console(log_dir, vm_id), 90,
             f"the guest to print {mark!r}", interval=0.5)
