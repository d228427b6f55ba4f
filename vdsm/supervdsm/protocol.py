"""The wire format between vdsmd and supervdsmd.

A connection carries a sequence of frames. A frame is a 4-byte big-endian
unsigned length followed by that many bytes of UTF-8 JSON (one object).
Frames larger than :data:`MAX_MESSAGE` are refused by both sides; JSON is
the only encoding (no pickle: a peer can never make the other side run
code by what it sends).

Request::

    {"id": 7, "op": "mount", "args": {"spec": "tmpfs", ...}}

Answer, with the request's id::

    {"id": 7, "result": <any JSON value>}
    {"id": 7, "error": {"name": "InvalidParameter", "message": "..."}}

``name`` is a classic error name (see :mod:`vdsm.supervdsm.errors`). An
error about the connection itself (peer refused, server busy, unreadable
frame) has ``"id": null`` and the server closes the connection after it.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

from vdsm.supervdsm.errors import ProtocolError

MAX_MESSAGE = 1024 * 1024
_HEADER = struct.Struct(">I")


class ConnectionClosed(EOFError):
    """The peer closed the connection before a whole frame arrived."""


def send_message(sock: socket.socket, message: dict[str, Any]) -> None:
    """Encode ``message`` as one frame and send it all.

    Raises ProtocolError when the encoded message exceeds MAX_MESSAGE or
    is not JSON-serializable; OSError from the socket propagates.
    """
    try:
        body = json.dumps(message, separators=(",", ":"),
                          allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise ProtocolError(f"message cannot be encoded as JSON: {e}") from None
    if len(body) > MAX_MESSAGE:
        raise ProtocolError(
            f"message of {len(body)} bytes exceeds the {MAX_MESSAGE} byte limit")
    sock.sendall(_HEADER.pack(len(body)) + body)


def recv_message(sock: socket.socket) -> dict[str, Any]:
    """Read one frame and return its JSON object.

    Raises ConnectionClosed on a clean EOF before the first header byte or
    in the middle of a frame, ProtocolError on an oversized or malformed
    frame; socket timeouts and OSError propagate.
    """
    header = _recv_exactly(sock, _HEADER.size)
    (size,) = _HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise ProtocolError(
            f"message of {size} bytes exceeds the {MAX_MESSAGE} byte limit")
    body = _recv_exactly(sock, size)
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ProtocolError(f"message is not valid JSON: {e}") from None
    if not isinstance(message, dict):
        raise ProtocolError("message is not a JSON object")
    return message


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    remaining = size
    while remaining:
        chunk = sock.recv(min(remaining, 65536))
        if not chunk:
            raise ConnectionClosed(
                "connection closed" if remaining == size and not chunks
                else "connection closed in the middle of a message")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def parse_request(message: dict[str, Any]) -> tuple[int | str, str, dict]:
    """Check a request's envelope; return (id, op, args).

    Raises ProtocolError when a key is missing or has the wrong type.
    """
    req_id = message.get("id")
    if isinstance(req_id, bool) or not isinstance(req_id, (int, str)):
        raise ProtocolError("request 'id' must be an integer or a string")
    op = message.get("op")
    if not isinstance(op, str) or not op:
        raise ProtocolError("request 'op' must be a non-empty string")
    args = message.get("args", {})
    if not isinstance(args, dict):
        raise ProtocolError("request 'args' must be an object")
    extra = set(message) - {"id", "op", "args"}
    if extra:
        raise ProtocolError(f"unexpected request keys: {sorted(extra)}")
    return req_id, op, args


def make_request(req_id: int | str, op: str, args: dict[str, Any]) -> dict:
    return {"id": req_id, "op": op, "args": args}


def make_result(req_id: int | str | None, result: Any) -> dict:
    return {"id": req_id, "result": result}


def make_error(req_id: int | str | None, name: str, message: str) -> dict:
    return {"id": req_id, "error": {"name": name, "message": message}}
