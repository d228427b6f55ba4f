"""The transfer helper process: one HTTP(S) GET into a file, or PUT from one.

Run by :mod:`vdsm.storage.transfer.runner` as ``python -m
vdsm.storage.transfer.http_helper get|put PATH`` so that a slow or hung
server blocks a child the agent can kill, never an agent thread. The URL
and the request headers (either may carry a ticket or a token) come as one
JSON line on stdin (``{"url": ..., "headers": {...}}``), never on the
command line, and every message names the URL without its query or user
(:func:`shown_url`). It reports on stdout, one JSON object a line:
``{"event": "size", "total": N}`` (a GET, once the size is known),
``{"event": "progress", "done": N, "total": M}``, ``{"event": "resume",
"offset": N}``, and last ``{"event": "done", ...}`` or ``{"event":
"error", "kind": "truncated"|"http"|"connection"|"refused", "message":
...}`` (exit status 0 or 2).

With ``--confirm-size`` a GET writes nothing before the agent answered
the size event with a ``go`` line on stdin (it grows a block volume's LV
first, or refuses the image: anything else ends the helper). With
``--device`` the target is a block device (an LV): it must already hold
the whole image, it is never truncated, and the size is verified by the
bytes written.

A GET whose connection breaks is retried from the offset reached with
``Range: bytes=N-`` when the server advertised ``Accept-Ranges: bytes``
(else it fails as truncated). The size is verified: the bytes written must
equal ``Content-Length`` (or the total of ``Content-Range``), and the file
is cut to that size. HTTPS uses the host's CA trust (or ``--cafile``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import ssl
import sys
import urllib.parse
from typing import Any

CHUNK = 4 * 1024 * 1024
BROKEN = (ConnectionError, http.client.IncompleteRead, http.client.RemoteDisconnected,
          socket.timeout, TimeoutError, http.client.BadStatusLine)


class TransferFailed(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def parse_content_range(value: str) -> tuple[int, int, int]:
    """``bytes a-b/total`` -> (a, b, total); ValueError otherwise (a total
    of ``*`` is refused: the size could not be verified)."""
    unit, _, spec = value.strip().partition(" ")
    span, _, total = spec.partition("/")
    first, _, last = span.partition("-")
    if unit != "bytes" or not total.isdigit():
        raise ValueError(f"unusable Content-Range {value!r}")
    return int(first), int(last), int(total)


def shown_url(url: str) -> str:
    """``url`` fit for a log line or an error message: no user or password
    and no query (a ticket or a token often travels there)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    query = "?(hidden)" if parts.query else ""
    return f"{parts.scheme}://{host}{parts.path}{query}"


def device_size(fd: int) -> int:
    """Bytes a file or block device holds (st_size is 0 for a device)."""
    return os.lseek(fd, 0, os.SEEK_END)


def connect(url: str, *, timeout: float, cafile: str | None
            ) -> tuple[http.client.HTTPConnection, str]:
    """A connection to ``url``'s server and the request target."""
    parts = urllib.parse.urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=cafile)
        return http.client.HTTPSConnection(parts.netloc, timeout=timeout,
                                           context=context), target
    if parts.scheme == "http":
        return http.client.HTTPConnection(parts.netloc, timeout=timeout), target
    raise TransferFailed("http", f"unsupported URL scheme {parts.scheme!r}")


class Progress:
    """Reports each whole percent reached (at most ~100 lines a transfer)."""

    def __init__(self) -> None:
        self.last = -1

    def report(self, done: int, total: int, *, force: bool = False) -> None:
        percent = 100 * done // total if total else 100
        if force or percent != self.last:
            self.last = percent
            emit("progress", done=done, total=total)


def _open_get(url: str, headers: dict[str, str], offset: int, *, timeout: float,
              cafile: str | None) -> tuple[http.client.HTTPConnection,
                                           http.client.HTTPResponse, int, int]:
    """GET from ``offset``: (conn, response, start offset, total size)."""
    conn, target = connect(url, timeout=timeout, cafile=cafile)
    request = dict(headers)
    if offset:
        request["Range"] = f"bytes={offset}-"
    conn.request("GET", target, headers=request)
    resp = conn.getresponse()
    if resp.status == 206:
        start, _, total = parse_content_range(resp.getheader("Content-Range", ""))
        return conn, resp, start, total
    if resp.status != 200:
        body = resp.read(512).decode("utf-8", "replace")
        conn.close()
        raise TransferFailed("http", f"GET {shown_url(url)}: HTTP {resp.status} "
                                     f"{resp.reason}: {body}")
    length = resp.getheader("Content-Length")
    if length is None or not length.isdigit():
        conn.close()
        raise TransferFailed("truncated", f"GET {shown_url(url)}: no Content-Length, "
                                          "the size cannot be verified")
    return conn, resp, 0, int(length)


def confirm_size(total: int) -> None:
    """Report the size and wait for the agent's ``go`` (stdin)."""
    emit("size", total=total)
    answer = sys.stdin.readline().strip()
    if answer != "go":
        raise TransferFailed("refused", f"the agent refused an image of {total} "
                                        f"bytes ({answer or 'no answer'})")


def download(url: str, path: str, headers: dict[str, str], *, retries: int,
             timeout: float, cafile: str | None, confirm: bool = False,
             device: bool = False) -> dict[str, int]:
    progress = Progress()
    offset, total, resumes = 0, -1, 0
    ranges = False
    shown = shown_url(url)
    fd = os.open(path, os.O_WRONLY if device else os.O_WRONLY | os.O_CREAT, 0o660)
    try:
        while True:
            try:
                conn, resp, start, size = _open_get(url, headers, offset,
                                                    timeout=timeout, cafile=cafile)
            except BROKEN as e:
                raise TransferFailed("connection", f"GET {shown}: {e!r}") from None
            if total not in (-1, size):
                raise TransferFailed("truncated", f"GET {shown}: size changed from "
                                                  f"{total} to {size}")
            if total == -1:
                if confirm:
                    confirm_size(size)
                if device and device_size(fd) < size:
                    raise TransferFailed("truncated", f"{path} holds "
                                         f"{device_size(fd)} bytes, the image "
                                         f"{size}")
            total = size
            ranges = ranges or resp.getheader("Accept-Ranges", "") == "bytes"
            offset = start          # 0 when the server ignored the Range
            try:
                while offset < total:
                    data = resp.read1(min(CHUNK, total - offset))
                    if not data:
                        raise http.client.IncompleteRead(b"", total - offset)
                    os.pwrite(fd, data, offset)
                    offset += len(data)
                    progress.report(offset, total)
                break
            except BROKEN as e:
                if not ranges or resumes >= retries:
                    raise TransferFailed(
                        "truncated", f"GET {shown}: connection lost after {offset} "
                                     f"of {total} bytes ({type(e).__name__})") from None
                resumes += 1
                emit("resume", offset=offset, total=total)
            finally:
                conn.close()
        if not device:
            os.ftruncate(fd, total)
        os.fsync(fd)
        written = offset if device else os.fstat(fd).st_size
    finally:
        os.close(fd)
    if written != total:
        raise TransferFailed("truncated", f"{path} has {written} bytes, expected "
                                          f"{total}")
    progress.report(total, total, force=True)
    return {"bytes": total, "total": total, "resumes": resumes}


def _send_chunk(conn: http.client.HTTPConnection, f: Any, offset: int,
                count: int) -> int:
    """Send ``count`` bytes of ``f`` from ``offset``: sendfile (no copy
    through Python) on plain HTTP, read and send under TLS. Raises
    ConnectionError when the file ends early or the peer goes away."""
    sock = conn.sock
    if sock is None:
        raise ConnectionError("not connected")
    if isinstance(sock, ssl.SSLSocket):
        f.seek(offset)
        data = f.read(count)
        sock.sendall(data)
        n = len(data)
    else:
        n = sock.sendfile(f, offset, count)
    if n == 0:
        raise ConnectionError(f"nothing sent at offset {offset}")
    return n


def upload(url: str, path: str, headers: dict[str, str], *, retries: int,
           timeout: float, cafile: str | None) -> dict[str, int]:
    """PUT the file; a broken connection restarts it from the start (a PUT
    has no standard way to resume)."""
    progress = Progress()
    with open(path, "rb") as f:
        total = device_size(f.fileno())      # a whole LV, as classic sent it
    shown = shown_url(url)
    attempt = 0
    while True:
        conn, target = connect(url, timeout=timeout, cafile=cafile)
        sent = 0
        try:
            conn.putrequest("PUT", target)
            for name, value in {**headers, "Content-Length": str(total)}.items():
                conn.putheader(name, value)
            conn.endheaders()
            with open(path, "rb") as f:
                while sent < total:
                    sent += _send_chunk(conn, f, sent, min(CHUNK, total - sent))
                    progress.report(sent, total)
            resp = conn.getresponse()
            body = resp.read(512).decode("utf-8", "replace")
        except BROKEN as e:
            if attempt >= retries:
                raise TransferFailed("truncated", f"PUT {shown}: connection lost "
                                                  f"after {sent} of {total} bytes "
                                                  f"({type(e).__name__})") from None
            attempt += 1
            emit("resume", offset=0, total=total)
            continue
        finally:
            conn.close()
        if resp.status not in (200, 201, 204):
            raise TransferFailed("http", f"PUT {shown}: HTTP {resp.status} "
                                         f"{resp.reason}: {body}")
        progress.report(total, total, force=True)
        return {"bytes": sent, "total": total, "resumes": attempt}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("op", choices=("get", "put"))
    parser.add_argument("path")
    parser.add_argument("--retries", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--cafile")
    parser.add_argument("--confirm-size", action="store_true")
    parser.add_argument("--device", action="store_true")
    args = parser.parse_args(argv)
    try:
        request = json.loads(sys.stdin.readline())
        url = str(request["url"])
        headers = {str(k): str(v) for k, v in request.get("headers", {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        emit("error", kind="connection", message=f"bad request on stdin: "
                                                 f"{type(e).__name__}")
        return 2
    try:
        if args.op == "get":
            result = download(url, args.path, headers, retries=args.retries,
                              timeout=args.timeout, cafile=args.cafile,
                              confirm=args.confirm_size, device=args.device)
        else:
            result = upload(url, args.path, headers, retries=args.retries,
                            timeout=args.timeout, cafile=args.cafile)
    except TransferFailed as e:
        emit("error", kind=e.kind, message=str(e))
        return 2
    except (OSError, ssl.SSLError, ValueError, http.client.HTTPException) as e:
        emit("error", kind="connection", message=f"{type(e).__name__}: {e}")
        return 2
    emit("done", **result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
