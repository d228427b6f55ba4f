"""The soak's clients: many callers of mixed verbs in their own process.

    python -m tests.virt.soakload --port P --pki-dir DIR --vms ID,ID,...
        --agent-pid PID [--clients 50] [--calls 2000]

Half the clients speak XML-RPC over one kept-alive HTTPS connection each,
half JSON-RPC over STOMP (vdsm_cli's StompClient). Each makes ``--calls``
calls of a fixed random mix and checks every answer. The agent's RSS and
open fds are read from /proc at 10% and at 100% of the calls (with every
client still connected), so the clients' own growth never counts. Prints
one JSON object. Every call is bounded by a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
import xmlrpc.client
from typing import Any, Callable

from vdsm.common import pki
from vdsm_cli.jsonrpc_client import StompClient

CALL_TIMEOUT = 60.0
# (XML-RPC verb, JSON-RPC method, weight); capabilities only now and then
MIX = (("ping", "Host.ping2", 20), ("getVdsStats", "Host.getStats", 15),
       ("getAllVmStats", "Host.getAllVmStats", 15),
       ("getVmStats", "VM.getStats", 20), ("list", "Host.getVMList", 10),
       ("repoStats", "Host.getStorageRepoStats", 8),
       ("getAllTasksStatuses", "Host.getAllTasksStatuses", 9),
       ("getVdsCapabilities", "Host.getCapabilities", 1))


def agent_usage(pid: int) -> dict[str, int]:
    """The agent's resident memory (KiB), open fds and threads."""
    usage = {"fds": len(os.listdir(f"/proc/{pid}/fd"))}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == "VmRSS":
                usage["rss_kib"] = int(value.split()[0])
            elif key == "Threads":
                usage["threads"] = int(value)
    return usage


class _Bounded(xmlrpc.client.SafeTransport):
    """Keeps its HTTP/1.1 connection (counts the ones it opens); every
    socket operation bounded."""

    opened = 0

    def make_connection(self, host: Any) -> Any:
        before = self._connection[1]
        conn = super().make_connection(host)
        if conn is not before:
            conn.timeout = CALL_TIMEOUT
            _Bounded.opened += 1
        return conn


def _check(verb: str, answer: Any, vm_ids: list[str], vm_id: str) -> None:
    """Raises AssertionError when an answer is not the truth as we know it."""
    if verb == "getVmStats":
        assert answer[0]["vmId"] == vm_id, answer
    elif verb in ("getAllVmStats", "list"):
        assert set(vm_ids) <= {s["vmId"] for s in answer}, answer
    elif verb == "ping":
        assert answer in (True, None), answer
    else:
        assert isinstance(answer, (dict, list)), answer


def _xmlrpc(port: int, ctx: Any) -> tuple[Callable[..., Any], Callable[[], None]]:
    transport = _Bounded(context=ctx)
    proxy = xmlrpc.client.ServerProxy(f"https://127.0.0.1:{port}/RPC2",
                                      transport=transport, allow_none=True)
    payload = {"getVmStats": "statsList", "getAllVmStats": "statsList",
               "list": "vmList", "getVdsStats": "info", "repoStats": "info",
               "getVdsCapabilities": "info", "getAllTasksStatuses": "allTasksStatus"}

    def call(verb: str, method: str, vm_id: str) -> Any:
        args = (vm_id,) if verb == "getVmStats" else ()
        answer = getattr(proxy, verb)(*args)
        assert answer["status"]["code"] == 0, answer
        return answer.get(payload.get(verb, ""), True)
    return call, transport.close


def _jsonrpc(port: int, ctx: Any) -> tuple[Callable[..., Any], Callable[[], None]]:
    client = StompClient("127.0.0.1", port, ssl_context=ctx,
                         timeout=CALL_TIMEOUT)

    def call(verb: str, method: str, vm_id: str) -> Any:
        params = {"vmID": vm_id} if verb == "getVmStats" else {}
        return client.call(method, params)
    return call, client.close


class Load:
    """``clients`` threads of ``calls`` calls each, counted together."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.total = args.clients * args.calls
        self.vm_ids = args.vms.split(",")
        paths = pki.PkiPaths(args.pki_dir)
        self.ctx = pki.client_context(paths.ca_cert, paths.client_cert("engine"),
                                      paths.client_key("engine"))
        self.lock = threading.Lock()
        self.done = 0
        self.errors: list[str] = []
        self.error_count = 0
        self.at_10: dict[str, int] | None = None
        self.latencies: list[float] = []

    def _count(self, elapsed: float) -> None:
        with self.lock:
            self.done += 1
            self.latencies.append(elapsed)
            first = self.at_10 is None and self.done >= self.total // 10
            if first:
                self.at_10 = {}
        if first:
            self.at_10 = agent_usage(self.args.agent_pid)

    def _fail(self, what: str) -> None:
        with self.lock:
            self.error_count += 1
            if len(self.errors) < 10:
                self.errors.append(what)

    def client(self, index: int, call: Callable[..., Any],
               start: threading.Barrier) -> None:
        rng = random.Random(index)
        verbs = [(x, j) for x, j, w in MIX for _ in range(w)]
        start.wait(CALL_TIMEOUT)
        for _ in range(self.args.calls):
            verb, method = rng.choice(verbs)
            vm_id = rng.choice(self.vm_ids)
            began = time.monotonic()
            try:
                _check(verb, call(verb, method, vm_id), self.vm_ids, vm_id)
            except Exception as e:  # counted and reported, never hidden
                self._fail(f"client {index} {verb}: {type(e).__name__}: {e}"[:300])
            self._count(time.monotonic() - began)

    def run(self) -> dict[str, Any]:
        clients = [(_jsonrpc if i % 2 else _xmlrpc)(self.args.port, self.ctx)
                   for i in range(self.args.clients)]
        start = threading.Barrier(len(clients) + 1)
        threads = [threading.Thread(target=self.client, args=(i, call, start),
                                    daemon=True)
                   for i, (call, _) in enumerate(clients)]
        for t in threads:
            t.start()
        start.wait(CALL_TIMEOUT)
        began = time.monotonic()
        deadline = began + self.args.timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        seconds = time.monotonic() - began
        at_100 = agent_usage(self.args.agent_pid)   # every client connected
        stuck = sum(t.is_alive() for t in threads)
        for _, close in clients:
            close()
        return {"clients": self.args.clients, "calls": self.done,
                "planned": self.total, "seconds": round(seconds, 1),
                "calls_per_s": round(self.done / seconds, 1),
                **_percentiles(self.latencies), "stuck_clients": stuck,
                "xmlrpc_connections": _Bounded.opened,
                "errors": self.error_count, "first_errors": self.errors,
                "at_10": self.at_10, "at_100": at_100}


def _percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {}
    ordered = sorted(latencies)
    return {f"{name}_ms": round(1000 * ordered[min(len(ordered) - 1,
                                                    int(q * len(ordered)))], 1)
            for name, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pki-dir", required=True)
    parser.add_argument("--vms", required=True)
    parser.add_argument("--agent-pid", type=int, required=True)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=3600.0)
    print(json.dumps(Load(parser.parse_args(argv)).run()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
