"""supervdsmd: the root helper that runs allowlisted ops for vdsmd.

Listens on a Unix socket (mode 0660, group of the vdsm user), checks each
peer's kernel credentials, and serves every accepted connection in its own
thread (at most ``max_connections`` at once). The wire format is in
:mod:`vdsm.supervdsm.protocol`, the ops in :mod:`vdsm.supervdsm.ops`.
SIGTERM or SIGINT stops it: the socket and pid file are removed and
connection threads get a bounded time to finish.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import socket
import sys
import threading
import time
from typing import Sequence

from vdsm import config as vdsm_config
from vdsm.common.errors import InvalidConfiguration
from vdsm.supervdsm import ops, peers
from vdsm.supervdsm.connection import Connection

log = logging.getLogger(__name__)

PID_FILE = "supervdsmd.pid"
LOG_FILE = "supervdsm.log"


class ServerError(Exception):
    """supervdsmd cannot start (socket in use, bad path, ...)."""


class Server:
    """The listening socket and its connection threads.

    ``stop()`` is safe to call from a signal handler or another thread;
    everything else belongs to the thread that calls ``serve()``.
    """

    def __init__(self, config: vdsm_config.Config, *, socket_path: str,
                 policy: peers.AccessPolicy, allowlist: dict[str, ops.Operation],
                 max_connections: int = 32, shutdown_timeout: float = 5.0) -> None:
        self.config = config
        self.socket_path = socket_path
        self.policy = policy
        self.allowlist = allowlist
        self.shutdown_timeout = shutdown_timeout
        self.pid_file = os.path.join(config.run_dir, PID_FILE)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._stopping = threading.Event()
        self._stop_reason = ""
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._connections: dict[threading.Thread, Connection] = {}

    def bind(self) -> None:
        """Create the socket (0660, vdsm's group) and the pid file.

        Raises ServerError when another supervdsmd answers on the socket or
        the path is taken by something that is not a socket.
        """
        os.makedirs(self.config.run_dir, mode=0o755, exist_ok=True)
        os.makedirs(os.path.dirname(self.socket_path), mode=0o755, exist_ok=True)
        _remove_stale_socket(self.socket_path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            listener.bind(self.socket_path)
        except OSError as e:
            listener.close()
            raise ServerError(f"cannot bind {self.socket_path}: {e}") from None
        finally:
            os.umask(old_umask)
        if self.policy.gid is not None:
            os.chown(self.socket_path, -1, self.policy.gid)
        os.chmod(self.socket_path, 0o660)
        listener.listen(64)
        self._listener = listener
        with open(self.pid_file, "w") as f:
            f.write(f"{os.getpid()}\n")
        log.info("listening on %s (group gid=%s), pid %s", self.socket_path,
                 self.policy.gid, os.getpid())

    def serve(self) -> None:
        """Accept connections until stop() is called."""
        assert self._listener is not None, "bind() first"
        while not self._stopping.is_set():
            ready, _, _ = select.select([self._listener, self._wake_r], [], [], 1.0)
            if self._listener in ready and not self._stopping.is_set():
                self._accept()
        log.info("shutting down (%s)", self._stop_reason)

    def stop(self, reason: str = "stop requested") -> None:
        """Ask serve() to return; safe in a signal handler (does not log)."""
        self._stop_reason = reason
        self._stopping.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass  # the wake-up buffer is full: serve() wakes up anyway

    def close(self) -> None:
        """Remove socket and pid file, end connections, join threads (bounded)."""
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
            _unlink(self.socket_path)
            _unlink(self.pid_file)
        with self._lock:
            items = list(self._connections.items())
        for _, conn in items:
            conn.interrupt()
        deadline = time.monotonic() + self.shutdown_timeout
        for thread, _ in items:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("connection thread %s still busy at shutdown",
                            thread.name)
        self._wake_r.close()
        self._wake_w.close()
        log.info("supervdsmd stopped")

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            sock, _ = self._listener.accept()
        except OSError as e:
            log.warning("accept failed: %s", e)
            return
        try:
            conn = Connection(sock, self.config, self.policy, self.allowlist)
        except OSError as e:
            log.warning("cannot read peer credentials: %s", e)
            sock.close()
            return
        if not self._slots.acquire(blocking=False):
            log.warning("too many connections; refusing %s", conn.peer)
            conn.refuse("ResourceUnavailable", "supervdsm is busy; try again")
            conn.sock.close()
            return
        thread = threading.Thread(target=self._run, args=(conn,),
                                  name=f"svdsm-{conn.peer.pid}", daemon=True)
        with self._lock:
            self._connections[thread] = conn
        thread.start()

    def _run(self, conn: Connection) -> None:
        try:
            conn.serve(self._stopping)
        finally:
            with self._lock:
                self._connections.pop(threading.current_thread(), None)
            self._slots.release()


def _remove_stale_socket(path: str) -> None:
    if not os.path.lexists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2.0)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        log.info("removing stale socket %s", path)
        os.unlink(path)
        return
    except OSError as e:
        raise ServerError(f"{path} exists and is not a usable socket: {e}") \
            from None
    finally:
        probe.close()
    raise ServerError(f"another supervdsmd is serving {path}")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        log.debug("%s already removed", path)


def setup_logging(log_dir: str, level: str) -> None:
    """Log to <log_dir>/supervdsm.log (a stand-in until logging is unified)."""
    os.makedirs(log_dir, mode=0o755, exist_ok=True)
    logging.basicConfig(
        filename=os.path.join(log_dir, LOG_FILE), level=level.upper(),
        format="%(asctime)s %(levelname)-7s (%(threadName)s) %(name)s: "
               "%(message)s")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="supervdsmd", description="Privileged helper of vdsmd.")
    parser.add_argument("--config", help="configuration file "
                        f"(default: ${vdsm_config.ENV_CONF} or "
                        f"{vdsm_config.DEFAULT_CONF})")
    parser.add_argument("--sockfile", help="socket path (overrides config)")
    parser.add_argument("--vdsm-user", help="user allowed besides root "
                        "(default: [vars] vdsm_user)")
    parser.add_argument("--group", help="group owning the socket, whose "
                        "members are allowed (default: the user's group)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``supervdsmd``: serve until SIGTERM/SIGINT, then exit 0."""
    args = parse_args(argv)
    try:
        config = vdsm_config.load(args.config)
    except InvalidConfiguration as e:
        print(f"supervdsmd: {e.message}", file=sys.stderr)
        return 2
    setup_logging(config.log_dir, config.get("logging", "level"))
    if os.geteuid() != 0:
        log.warning("not running as root: privileged ops will fail")
    user = args.vdsm_user or config.get("vars", "vdsm_user")
    server = Server(config,
                    socket_path=args.sockfile or config.supervdsm_socket,
                    policy=peers.policy_for(user, args.group),
                    allowlist=ops.load())
    try:
        server.bind()
    except ServerError as e:
        log.error("cannot start: %s", e)
        print(f"supervdsmd: {e}", file=sys.stderr)
        return 1
    for signo in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signo, lambda n, _frame: server.stop(signal.Signals(n).name))
    try:
        server.serve()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    # Run the importable module's main, so loggers carry its real name
    # rather than "__main__".
    from vdsm.supervdsm.server import main as _main
    sys.exit(_main())
