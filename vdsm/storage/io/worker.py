"""The storage I/O helper process (``python -m vdsm.storage.io.worker``).

Runs :data:`vdsm.storage.io.file_operations.OPERATIONS` for its parent, one thread
per request, so a request stuck on a dead server does not hold the others.
Frames on stdin/stdout are a 4-byte big-endian length and a JSON object:
request ``{"id", "op", "args"}``, answer ``{"id", "ok"}`` or
``{"id", "err": {"errno", "msg", "filename"}}``; bytes travel as
``{"__bytes__": base64}``. The process exits when its stdin closes
(the parent went away).
"""

from __future__ import annotations

import base64
import json
import os
import struct
import sys
import threading
from typing import Any, BinaryIO

from vdsm.storage.io.file_operations import OPERATIONS

HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024


def encode(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return value


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def write_frame(stream: BinaryIO, message: dict[str, Any]) -> None:
    data = json.dumps(encode(message)).encode("utf-8")
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: BinaryIO) -> dict[str, Any] | None:
    """The next message, or None at end of stream."""
    header = _read_exactly(stream, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes is too large")
    data = _read_exactly(stream, size)
    if data is None:
        return None
    return decode(json.loads(data))


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _handle(request: dict[str, Any], out: BinaryIO, lock: threading.Lock) -> None:
    answer: dict[str, Any] = {"id": request.get("id")}
    try:
        function = OPERATIONS[request["op"]]
        answer["ok"] = function(*request.get("args", []))
    except OSError as e:
        answer["err"] = {"errno": e.errno, "msg": e.strerror or str(e),
                         "filename": e.filename}
    except Exception as e:  # reported to the parent, which raises it
        answer["err"] = {"errno": None, "msg": f"{type(e).__name__}: {e}",
                         "filename": None}
    with lock:
        write_frame(out, answer)


def main() -> None:
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write on the protocol stream
    lock = threading.Lock()
    while True:
        request = read_frame(stdin)
        if request is None:
            os._exit(0)  # threads stuck in I/O must not keep us alive
        threading.Thread(target=_handle, args=(request, stdout, lock),
                         daemon=True).start()


if __name__ == "__main__":
    main()
