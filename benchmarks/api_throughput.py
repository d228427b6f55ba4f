"""API throughput: the agent's dispatcher vs a bare xmlrpc.server echo.

Both servers use the same mutual-TLS context and one connection per call
(HTTP/1.0), so the difference is what schema validation, dispatch,
logging and the envelope add. Prints calls/s and p50/p99 latency of
``ping`` and ``getVdsStats`` with 1 and 16 concurrent clients.

    .venv/bin/python benchmarks/api_throughput.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
import xmlrpc.client
import xmlrpc.server

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vdsm import config as vdsm_config  # noqa: E402
from vdsm.agent import Agent  # noqa: E402
from vdsm.common import pki  # noqa: E402


class _BareServer(xmlrpc.server.SimpleXMLRPCServer):
    """The floor: a threaded stdlib XML-RPC server answering from memory."""

    allow_reuse_address = True

    def __init__(self, ctx, stats):
        super().__init__(("127.0.0.1", 0), logRequests=False, allow_none=True)
        self._ctx = ctx
        self.register_function(lambda: {"status": {"code": 0,
                                                   "message": "Done"}}, "ping")
        self.register_function(lambda: {"status": {"code": 0,
                                                   "message": "Done"},
                                        "info": stats}, "getVdsStats")

    def process_request(self, request, client_address):
        threading.Thread(target=self._one, args=(request, client_address),
                         daemon=True).start()

    def _one(self, request, client_address):
        try:
            conn = self._ctx.wrap_socket(request, server_side=True)
            self.finish_request(conn, client_address)
            conn.close()
        except OSError:
            request.close()


def _run(port: int, paths: pki.PkiPaths, verb: str, clients: int,
         seconds: float) -> tuple[float, float, float, int]:
    ctx = pki.client_context(paths.ca_cert, paths.client_cert("engine"),
                             paths.client_key("engine"))
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker():
        proxy = xmlrpc.client.ServerProxy(f"https://127.0.0.1:{port}",
                                          context=ctx, allow_none=True)
        mine = []
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                answer = getattr(proxy, verb)()
                ok = answer["status"]["code"] == 0
            except (OSError, xmlrpc.client.Error):
                ok = False
            mine.append(time.perf_counter() - start)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    begin = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    wall = time.monotonic() - begin
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    return len(latencies) / wall, p50, p99, errors[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as root:
        values = vdsm_config.rooted(root)
        values[("addresses", "management_ip")] = "127.0.0.1"
        values[("addresses", "management_port")] = 0
        values[("rpc", "worker_threads")] = 16
        conf = vdsm_config.Config(values)
        paths = pki.PkiPaths(conf.pki_dir)
        pki.create_host_pki(paths, "localhost", clients=("engine",))
        agent = Agent(conf)
        agent.bind()
        agent.start()
        deadline = time.monotonic() + 10
        while not agent.host_stats.get() and time.monotonic() < deadline:
            time.sleep(0.1)
        agent.server.serve_in_thread()
        ctx = pki.server_context(paths.ca_cert, paths.host_cert, paths.host_key)
        bare = _BareServer(ctx, agent.host_stats.get())
        threading.Thread(target=bare.serve_forever, daemon=True).start()

        print(f"{'verb':<12} {'clients':>7} | {'agent calls/s':>13} "
              f"{'p50 ms':>7} {'p99 ms':>7} | {'bare calls/s':>12} "
              f"{'p50 ms':>7} {'p99 ms':>7} | {'agent/bare':>10}")
        for verb in ("ping", "getVdsStats"):
            for clients in (1, 16):
                a = _run(agent.server.port, paths, verb, clients, args.seconds)
                b = _run(bare.server_address[1], paths, verb, clients,
                         args.seconds)
                print(f"{verb:<12} {clients:>7} | {a[0]:>13.1f} {a[1]:>7.2f} "
                      f"{a[2]:>7.2f} | {b[0]:>12.1f} {b[1]:>7.2f} {b[2]:>7.2f} "
                      f"| {a[0] / b[0]:>10.2f}"
                      + (f"  errors agent={a[3]} bare={b[3]}"
                         if a[3] or b[3] else ""))
        bare.shutdown()
        agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
