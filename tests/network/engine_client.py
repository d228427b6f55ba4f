"""The engine's side of a connectivity check, run in its own namespace.

``ip netns exec ENGINE python -m tests.network.engine_client URL PKI_DIR
ACTION [JSON]`` prints one JSON answer:

- ``wait``: ping until the agent answers (30 s at most).
- ``setup JSON``: setupNetworks(*JSON) in one thread while another pings
  every 0.3 s on fresh connections, as the engine polls during a change;
  ``{"answer": ..., "pings_ok": n, "pings_failed": m}``.
- ``call VERB``: one call without arguments; its answer.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import xmlrpc.client
from typing import Any

from vdsm.common import pki


class _Transport(xmlrpc.client.SafeTransport):
    def __init__(self, context: Any, timeout: float) -> None:
        super().__init__(context=context)
        self._timeout = timeout

    def make_connection(self, host: Any) -> Any:
        conn = super().make_connection(host)
        conn.timeout = self._timeout
        return conn


def proxy(url: str, pki_dir: str, timeout: float) -> xmlrpc.client.ServerProxy:
    paths = pki.PkiPaths(pki_dir)
    ctx = pki.client_context(paths.ca_cert, paths.client_cert("engine"),
                             paths.client_key("engine"))
    return xmlrpc.client.ServerProxy(url, transport=_Transport(ctx, timeout),
                                     allow_none=True)


def _ping(url: str, pki_dir: str) -> bool:
    try:
        return proxy(url, pki_dir, 1.0).ping()["status"]["code"] == 0
    except (TimeoutError, OSError, xmlrpc.client.Error):
        return False


def main(argv: list[str]) -> int:
    url, pki_dir, action = argv[1:4]
    if action == "wait":
        deadline = time.monotonic() + 30
        while not _ping(url, pki_dir):
            if time.monotonic() > deadline:
                print(json.dumps({"error": "agent not reachable"}))
                return 1
            time.sleep(0.2)
        print(json.dumps({"ok": True}))
        return 0
    if action == "call":
        print(json.dumps(getattr(proxy(url, pki_dir, 30), argv[4])()))
        return 0
    args = json.loads(argv[4])
    result: dict[str, Any] = {}

    def setup() -> None:
        try:
            result["answer"] = proxy(url, pki_dir, 60).setupNetworks(*args)
        except (OSError, xmlrpc.client.Error) as e:
            result["error"] = str(e)

    thread = threading.Thread(target=setup)
    thread.start()
    ok = failed = 0
    deadline = time.monotonic() + 90
    while thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.3)
        if _ping(url, pki_dir):
            ok += 1
        else:
            failed += 1
    thread.join(5)
    result.update(pings_ok=ok, pings_failed=failed)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
