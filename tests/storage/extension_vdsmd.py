"""vdsmd with the storage subsystem and a stand-in for the VM volume monitor.

Run as ``python -m tests.storage.extension_vdsmd --config FILE``. Until a
test can run a VM on this agent, the test asks for thin volume extensions
the way the VM side does: inside the agent process, through the storage
service's ``request_volume_extension``. It writes one JSON line
``{"sd", "sp", "img", "vol", "size"}`` to ``<run_dir>/extension-probe.sock``
and reads one back: ``{"size", "error", "seconds"}`` once this host sees
the new size (the callback ran), or the reason it will not.
Test-only: nothing of this is in the product.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import sys
import threading
import time
from typing import Any

from vdsm import agent, daemon

STORAGE = "vdsm.storage.subsystem:StorageSubsystem"
PROBE = "tests.storage.extension_vdsmd:ExtensionProbe"
SOCKET_NAME = "extension-probe.sock"
ANSWER_TIMEOUT = 120.0

log = logging.getLogger(__name__)


def socket_path(run_dir: str) -> str:
    return os.path.join(run_dir, SOCKET_NAME)


def request_extension(run_dir: str, sd: str, sp: str, img: str, vol: str,
                      size: int, timeout: float = ANSWER_TIMEOUT + 10
                      ) -> dict[str, Any]:
    """Ask the agent under ``run_dir`` for one extension; its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(socket_path(run_dir))
        line = json.dumps({"sd": sd, "sp": sp, "img": img, "vol": vol, "size": size})
        sock.sendall(line.encode() + b"\n")
        with sock.makefile("rb") as f:
            return json.loads(f.readline())


class ExtensionProbe:
    """A subsystem serving the probe socket; one thread per request."""

    name = "extension_probe"

    def __init__(self, owner: agent.Agent) -> None:
        self.agent = owner
        self.path = socket_path(owner.config.run_dir)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        self._sock.listen(16)
        self._thread = threading.Thread(target=self._serve, name="extension-probe",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._sock is not None:
            # close() alone does not wake a thread blocked in accept()
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass        # never connected: nothing to wake
            self._sock.close()
        if self._thread is not None:
            self._thread.join(5)

    def _serve(self) -> None:
        assert self._sock is not None
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return      # closed by stop()
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as f:
            args = json.loads(f.readline())
            f.write(json.dumps(self._extend(args)).encode() + b"\n")
            f.flush()

    def _extend(self, args: dict[str, Any]) -> dict[str, Any]:
        service = self.agent.subsystems["storage"].service  # type: ignore[attr-defined]
        done: queue.Queue = queue.Queue()
        start = time.monotonic()
        try:
            service.request_volume_extension(args["sd"], args["sp"], args["img"],
                                             args["vol"], int(args["size"]), done.put)
            result = done.get(timeout=ANSWER_TIMEOUT)
        except queue.Empty:
            return {"size": 0, "error": "no answer", "seconds": ANSWER_TIMEOUT}
        except Exception as e:  # the test hears why
            log.info("extension request refused: %s", e)
            return {"size": 0, "error": f"{type(e).__name__}: {e}",
                    "seconds": time.monotonic() - start}
        return {"size": result.size, "error": result.error,
                "seconds": time.monotonic() - start}


if __name__ == "__main__":
    agent.DEFAULT_SUBSYSTEMS = (STORAGE, PROBE)
    sys.exit(daemon.main())
