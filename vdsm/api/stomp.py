"""STOMP 1.2 frames: an incremental parser with limits, and the encoder.

Pure code (no sockets), shared by the server and our client. The parser
takes bytes as they arrive and yields whole frames; bare end-of-lines
between frames are heart-beats. A frame announces its body either with
``content-length`` (binary safe) or ends at the first NUL. Header values
are unescaped (``\\c \\n \\r \\\\``) except in CONNECT/CONNECTED, as the
spec says; the first of repeated headers wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Client commands a server accepts, and the ones a server sends.
CLIENT_COMMANDS = frozenset({
    "CONNECT", "STOMP", "SEND", "SUBSCRIBE", "UNSUBSCRIBE", "ACK", "NACK",
    "BEGIN", "COMMIT", "ABORT", "DISCONNECT"})
SERVER_COMMANDS = frozenset({"CONNECTED", "MESSAGE", "RECEIPT", "ERROR"})
_NO_ESCAPE = frozenset({"CONNECT", "CONNECTED"})

_ESCAPES = {b"\\\\": b"\\", b"\\c": b":", b"\\n": b"\n", b"\\r": b"\r"}


class FrameError(Exception):
    """The peer sent something that is not a valid frame: close after ERROR."""


@dataclass
class Frame:
    command: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def encode(self) -> bytes:
        """Wire bytes, with content-length always set."""
        escape = self.command not in _NO_ESCAPE
        lines = [self.command]
        for key, value in self.headers.items():
            if key == "content-length":
                continue
            if escape:
                key, value = _escape(key), _escape(value)
            lines.append(f"{key}:{value}")
        lines.append(f"content-length:{len(self.body)}")
        head = ("\n".join(lines) + "\n\n").encode("utf-8")
        return head + self.body + b"\0"


def _escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace("\n", "\\n")
            .replace("\r", "\\r").replace(":", "\\c"))


def _unescape(raw: bytes) -> bytes:
    if b"\\" not in raw:
        return raw
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i:i + 1] == b"\\":
            pair = raw[i:i + 2]
            if pair not in _ESCAPES:
                raise FrameError(f"undefined escape {pair!r} in a header")
            out += _ESCAPES[pair]
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return bytes(out)


class Parser:
    """Bytes in, frames out. Raises FrameError on anything malformed.

    ``max_header_bytes`` bounds the command line plus headers,
    ``max_body_bytes`` the body; ``commands`` is the set accepted.
    """

    def __init__(self, *, commands: frozenset[str] = CLIENT_COMMANDS,
                 max_header_bytes: int = 64 * 1024,
                 max_body_bytes: int = 10 * 1024 * 1024,
                 max_headers: int = 64) -> None:
        self._commands = commands
        self._max_header = max_header_bytes
        self._max_body = max_body_bytes
        self._max_headers = max_headers
        self._buf = bytearray()
        self._pending: Frame | None = None  # headers read, body awaited
        self._length: int | None = None
        self.heartbeats = 0

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def _next(self) -> Frame | None:
        if self._pending is None:
            # heart-beats (EOLs) between frames
            while self._buf[:1] in (b"\n", b"\r"):
                if self._buf[:2] == b"\r\n":
                    del self._buf[:2]
                elif self._buf[:1] == b"\r":
                    if len(self._buf) < 2:
                        return None
                    raise FrameError("a lone CR between frames")
                else:
                    del self._buf[:1]
                self.heartbeats += 1
            end = self._buf.find(b"\n\n")
            end_crlf = self._buf.find(b"\r\n\r\n")
            if end_crlf != -1 and (end == -1 or end_crlf < end):
                end, sep = end_crlf, 4
            else:
                sep = 2
            if end == -1:
                if len(self._buf) > self._max_header:
                    raise FrameError(
                        f"frame headers exceed {self._max_header} bytes")
                return None
            if end > self._max_header:
                raise FrameError(f"frame headers exceed {self._max_header} bytes")
            self._pending, self._length = self._head(bytes(self._buf[:end]))
            del self._buf[:end + sep]
        return self._body()

    def _head(self, raw: bytes) -> tuple[Frame, int | None]:
        lines = raw.replace(b"\r\n", b"\n").split(b"\n")
        try:
            command = lines[0].decode("ascii")
        except UnicodeDecodeError:
            raise FrameError("a frame command must be ASCII") from None
        if command not in self._commands:
            raise FrameError(f"unknown command {command[:32]!r}")
        if len(lines) - 1 > self._max_headers:
            raise FrameError(f"more than {self._max_headers} headers")
        escaped = command not in _NO_ESCAPE
        headers: dict[str, str] = {}
        for line in lines[1:]:
            key, colon, value = line.partition(b":")
            if not colon:
                raise FrameError(f"a header line without ':' in {command}")
            if escaped:
                key, value = _unescape(key), _unescape(value)
            try:
                k, v = key.decode("utf-8"), value.decode("utf-8")
            except UnicodeDecodeError:
                raise FrameError("headers must be UTF-8") from None
            headers.setdefault(k, v)
        length = None
        if "content-length" in headers:
            text = headers["content-length"].strip()
            if not text.isdigit():
                raise FrameError(f"bad content-length {text[:20]!r}")
            length = int(text)
            if length > self._max_body:
                raise FrameError(f"body of {length} bytes exceeds the limit "
                                 f"of {self._max_body}")
        return Frame(command, headers), length

    def _body(self) -> Frame | None:
        frame, length = self._pending, self._length
        assert frame is not None
        if length is not None:
            if len(self._buf) < length + 1:
                return None
            if self._buf[length] != 0:
                raise FrameError("frame body not followed by NUL")
            frame.body = bytes(self._buf[:length])
            del self._buf[:length + 1]
        else:
            end = self._buf.find(b"\0")
            if end == -1:
                if len(self._buf) > self._max_body:
                    raise FrameError(
                        f"body exceeds the limit of {self._max_body} bytes")
                return None
            frame.body = bytes(self._buf[:end])
            del self._buf[:end + 1]
        self._pending = self._length = None
        return frame

    @property
    def buffered(self) -> int:
        return len(self._buf)


def error_frame(message: str, *, receipt_id: str | None = None,
                detail: str = "") -> Frame:
    headers = {"message": message, "content-type": "text/plain"}
    if receipt_id:
        headers["receipt-id"] = receipt_id
    return Frame("ERROR", headers, (detail or message).encode())


def parse_heartbeat(value: str | None) -> tuple[int, int]:
    """``"cx,cy"`` -> (cx, cy) in ms; raises FrameError if malformed."""
    if not value:
        return 0, 0
    parts = value.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise FrameError(f"bad heart-beat header {value[:40]!r}")
    return int(parts[0]), int(parts[1])
