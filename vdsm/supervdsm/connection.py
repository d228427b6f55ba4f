"""One client connection of supervdsmd: check the peer, then answer requests.

Requests on a connection are answered one at a time, in order. Every
failure becomes an error answer here, in one place: an expected
:class:`VdsmError` gets one log line and its own name and message; any
other exception (a bug) gets a traceback in the log and a short
``UnexpectedError`` on the wire.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from vdsm.common.errors import VdsmError
from vdsm.config import Config
from vdsm.supervdsm import ops, peers, protocol
from vdsm.supervdsm.errors import ProtocolError, UnexpectedError

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 300.0
DRAIN_TIMEOUT = 1.0


class Connection:
    """A connected peer. serve() runs in the connection's own thread."""

    def __init__(self, sock: socket.socket, config: Config,
                 policy: peers.AccessPolicy,
                 allowlist: dict[str, ops.Operation]) -> None:
        self.sock = sock
        self.config = config
        self.policy = policy
        self.allowlist = allowlist
        self.peer = peers.peer_credentials(sock)

    def serve(self, stopping: threading.Event) -> None:
        """Answer requests until EOF, an idle timeout, an error, or stopping."""
        try:
            if not self.policy.allows(self.peer):
                log.warning("refused connection from pid=%s uid=%s gid=%s",
                            self.peer.pid, self.peer.uid, self.peer.gid)
                self.refuse("AccessDenied",
                            f"uid {self.peer.uid} is not allowed to use supervdsm")
                return
            log.debug("accepted connection from %s", self.peer)
            ctx = ops.OpContext(config=self.config, peer=self.peer)
            self.sock.settimeout(IDLE_TIMEOUT)
            while not stopping.is_set():
                if not self._serve_one(ctx):
                    return
        finally:
            self.sock.close()

    def _serve_one(self, ctx: ops.OpContext) -> bool:
        """Read and answer one request; False when the connection is done."""
        try:
            message = protocol.recv_message(self.sock)
            req_id, op, args = protocol.parse_request(message)
        except protocol.ConnectionClosed:
            return False
        except ProtocolError as e:
            log.warning("bad request from %s: %s", self.peer, e.message)
            self.refuse(e.name, e.message)
            return False
        except TimeoutError:
            log.debug("closing idle connection from %s", self.peer)
            return False
        except OSError as e:
            log.debug("connection from %s broken: %s", self.peer, e)
            return False
        answer = self._answer(req_id, op, args, ctx)
        try:
            try:
                protocol.send_message(self.sock, answer)
            except ProtocolError as e:
                log.error("op %s returned an unsendable result: %s", op, e.message)
                error = UnexpectedError(f"supervdsm op {op!r} returned a bad result")
                protocol.send_message(
                    self.sock, protocol.make_error(req_id, error.name, error.message))
        except OSError as e:
            log.warning("cannot answer %s: %s", self.peer, e)
            return False
        return True

    def _answer(self, req_id: int | str, op: str, args: dict[str, Any],
                ctx: ops.OpContext) -> dict[str, Any]:
        try:
            result = ops.dispatch(self.allowlist, op, args, ctx)
        except VdsmError as e:
            log.info("op %.100s from uid=%s failed: %s: %s", op, self.peer.uid,
                     e.name, e.message)
            return protocol.make_error(req_id, e.name, e.message)
        except Exception:
            log.exception("op %s failed unexpectedly", op)
            error = UnexpectedError(
                f"internal error in supervdsm op {op!r}; see supervdsm.log")
            return protocol.make_error(req_id, error.name, error.message)
        return protocol.make_result(req_id, result)

    def refuse(self, name: str, message: str) -> None:
        """Send a connection-level error and let the peer read it.

        Our write side is shut down and pending input drained (bounded)
        so the peer gets the answer rather than a reset. Does not close.
        """
        try:
            protocol.send_message(self.sock, protocol.make_error(None, name, message))
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + DRAIN_TIMEOUT
            while (left := deadline - time.monotonic()) > 0:
                self.sock.settimeout(left)
                if not self.sock.recv(65536):
                    break
        except OSError as e:
            log.debug("peer %s gone while refused: %s", self.peer, e)

    def interrupt(self) -> None:
        """Wake serve() from a blocking read (used at shutdown)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError as e:
            log.debug("connection from %s already closed: %s", self.peer, e)
