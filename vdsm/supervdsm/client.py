"""How vdsmd asks supervdsmd to do something privileged.

::

    client = SupervdsmClient(config.supervdsm_socket, timeout=60)
    client.call("mount", spec="tmpfs", target=..., vfs_type="tmpfs")

An error answer is raised as the VdsmError subclass of the same name (see
:func:`vdsm.supervdsm.errors.error_from_wire`), so it reaches the API
caller with the right code. The client keeps a few idle connections for
reuse and opens more when several threads call at once; it is
thread-safe. When supervdsmd restarts, the next call notices the dead
connection, waits (at most ``connect_timeout``) for the new daemon and
sends the request again, once. A request whose connection broke after it
was sent may therefore run twice if the old daemon had already started
it: ops should be safe to repeat.
"""

from __future__ import annotations

import itertools
import logging
import select
import socket
import threading
import time
from typing import Any

from vdsm.supervdsm import protocol
from vdsm.supervdsm.errors import (
    AccessDenied,
    ProtocolError,
    SupervdsmUnavailable,
    error_from_wire,
)

log = logging.getLogger(__name__)


class _Broken(Exception):
    """The connection died before an answer arrived (safe to retry once)."""


class SupervdsmClient:
    """A thread-safe caller of supervdsm ops over its Unix socket."""

    def __init__(self, socket_path: str, *, timeout: float = 60.0,
                 connect_timeout: float = 10.0, max_idle: int = 4) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self._lock = threading.Lock()
        self._idle: list[socket.socket] = []
        self._ids = itertools.count(1)

    def call(self, op: str, /, **args: Any) -> Any:
        """Run ``op`` in supervdsmd with keyword ``args``; return its result.

        Raises the op's error (a VdsmError subclass rebuilt from its name),
        AccessDenied when supervdsmd refuses this process, and
        SupervdsmUnavailable when it cannot be reached or does not answer
        within ``timeout`` seconds.
        """
        with self._lock:
            req_id = next(self._ids)
        request = protocol.make_request(req_id, op, args)
        sock = self._checkout()
        try:
            answer = self._exchange(sock, request)
        except _Broken as e:
            sock.close()
            log.info("supervdsm connection broken (%s); reconnecting", e)
            sock = self._connect()
            try:
                answer = self._exchange(sock, request)
            except _Broken as e2:
                sock.close()
                raise SupervdsmUnavailable(
                    f"supervdsm closed the connection during {op!r}: {e2}") \
                    from None
            except BaseException:
                sock.close()
                raise
        except BaseException:
            sock.close()
            raise
        return self._result(sock, answer, req_id)

    def ping(self) -> dict[str, int]:
        """supervdsmd's pid and uid; raises like call()."""
        return self.call("ping")

    def close(self) -> None:
        """Close the idle connections (the client stays usable)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for sock in idle:
            sock.close()

    def __enter__(self) -> SupervdsmClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _result(self, sock: socket.socket, answer: dict[str, Any],
                req_id: int) -> Any:
        if answer.get("id") != req_id:
            sock.close()
            error = answer.get("error")
            if answer.get("id") is None and isinstance(error, dict):
                raise error_from_wire(error.get("name"), error.get("message"))
            raise ProtocolError(f"answer id {answer.get('id')!r} does not match "
                                f"request id {req_id}")
        self._checkin(sock)
        if "error" in answer:
            error = answer["error"]
            if not isinstance(error, dict):
                raise ProtocolError("malformed error answer")
            raise error_from_wire(error.get("name"), error.get("message"))
        if "result" not in answer:
            raise ProtocolError("answer has neither result nor error")
        return answer["result"]

    def _exchange(self, sock: socket.socket, request: dict[str, Any]) -> dict:
        try:
            protocol.send_message(sock, request)
            return protocol.recv_message(sock)
        except (protocol.ConnectionClosed, BrokenPipeError,
                ConnectionResetError) as e:
            raise _Broken(str(e) or type(e).__name__) from None
        except TimeoutError:
            raise SupervdsmUnavailable(
                f"no answer from supervdsm within {self.timeout:g}s "
                f"to {request['op']!r}") from None

    def _checkout(self) -> socket.socket:
        while True:
            with self._lock:
                sock = self._idle.pop() if self._idle else None
            if sock is None:
                return self._connect()
            if _is_usable(sock):
                return sock
            log.debug("dropping a stale supervdsm connection")
            sock.close()

    def _checkin(self, sock: socket.socket) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(sock)
                return
        sock.close()

    def _connect(self) -> socket.socket:
        """A new connection; waits up to connect_timeout for the daemon."""
        deadline = time.monotonic() + self.connect_timeout
        delay = 0.05
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.socket_path)
                return sock
            except PermissionError as e:
                sock.close()
                raise AccessDenied(
                    f"cannot connect to {self.socket_path}: {e.strerror}") \
                    from None
            except (FileNotFoundError, ConnectionRefusedError) as e:
                sock.close()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SupervdsmUnavailable(
                        f"cannot connect to {self.socket_path}: {e.strerror}") \
                        from None
            except OSError as e:
                sock.close()
                raise SupervdsmUnavailable(
                    f"cannot connect to {self.socket_path}: {e}") from None
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.5)


def _is_usable(sock: socket.socket) -> bool:
    """An idle connection is usable when nothing (such as EOF) is pending."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable
