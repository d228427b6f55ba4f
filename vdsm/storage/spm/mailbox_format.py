"""The pool mailbox on disk: the classic byte layout, as pure functions.

Two files of the master domain, ``dom_md/inbox`` (hosts -> SPM) and
``dom_md/outbox`` (SPM -> hosts), each cut into 4 KiB host mailboxes: host
id N owns the block at ``N * 4096``. Block 0 of the inbox is the event
block, as in the classic agent: a host that sends a request also writes
``b"\\0evt"`` and a random UUID there, and the SPM, which looks at that
one block often, reads the whole inbox at once instead of at its next
poll. A mailbox is 64 messages of 64 bytes;
the last message's place is reserved and its last 4 bytes hold the
checksum of the 4092 bytes before it, so 63 messages per host.

A message starts with its version byte; ``\\0`` means an empty message
and 64 bytes of ``\\1`` the "clean" marker of the handshake (see
:mod:`.mailbox`). An extend request is, in this order::

    b"1"           version                   1 byte
    b"xtnd"        operation                 4 bytes
    domain UUID    UUID int, little endian  16 bytes
    volume UUID    UUID int, little endian  16 bytes
    new size       MiB, 16 lowercase hex    16 bytes
    b"0" * 11      padding                  11 bytes

The SPM answers in the same message place of the host's outbox mailbox
with the request's first 37 bytes and the size it reached, 0 meaning the
extension failed. The message names no image: the SPM finds the volume by
its UUID in the domain.
"""

from __future__ import annotations

import dataclasses
import struct
import uuid

MiB = 1024 * 1024
MAILBOX_SIZE = 4096
MESSAGE_SIZE = 64
SLOTS_PER_MAILBOX = MAILBOX_SIZE // MESSAGE_SIZE
MESSAGES_PER_MAILBOX = SLOTS_PER_MAILBOX - 1
CHECKSUM_SIZE = 4
VERSION = b"1"
EXTEND_CODE = b"xtnd"
HEADER_SIZE = 1 + 4 + 16 + 16
SIZE_CHARS = 16
MAX_SIZE_MIB = 0xFFFFFFFF
EMPTY_MESSAGE = b"\0" * MESSAGE_SIZE
CLEAN_MESSAGE = b"\1" * MESSAGE_SIZE
EMPTY_MAILBOX = b"\0" * MAILBOX_SIZE
EVENT_CODE = b"\0evt"


class MalformedMessage(ValueError):
    """A message that is neither empty, clean nor a valid extend message."""


@dataclasses.dataclass(frozen=True)
class ExtendMessage:
    """An extend request, or an answer to one (``size_mib`` 0: failed)."""

    sd_uuid: str
    vol_uuid: str
    size_mib: int

    @property
    def size(self) -> int:
        return self.size_mib * MiB


def size_to_mib(size: int) -> int:
    """Bytes rounded up to whole MiB, as the classic host sent them."""
    if size < 0:
        raise ValueError(f"negative size {size}")
    mib = -(-size // MiB)
    if mib > MAX_SIZE_MIB:
        raise ValueError(f"size {size} is more than the mailbox can carry")
    return mib


def encode_extend(sd_uuid: str, vol_uuid: str, size_mib: int) -> bytes:
    """The 64 bytes of an extend request (or answer).

    Raises ValueError for a bad UUID or a size out of range.
    """
    if not 0 <= size_mib <= MAX_SIZE_MIB:
        raise ValueError(f"size {size_mib} MiB out of range")
    payload = (VERSION + EXTEND_CODE + _pack_uuid(sd_uuid) + _pack_uuid(vol_uuid)
               + b"%016x" % size_mib)
    return payload.ljust(MESSAGE_SIZE, b"0")


def decode_extend(message: bytes) -> ExtendMessage:
    """Parse an extend message; MalformedMessage if it is not one."""
    if len(message) != MESSAGE_SIZE:
        raise MalformedMessage(f"message of {len(message)} bytes")
    if message[:1] != VERSION:
        raise MalformedMessage(f"unknown message version {message[:1]!r}")
    if message[1:5] != EXTEND_CODE:
        raise MalformedMessage(f"unknown message type {message[1:5]!r}")
    size_text = message[HEADER_SIZE:HEADER_SIZE + SIZE_CHARS]
    try:
        size_mib = int(size_text, 16)
    except ValueError:
        raise MalformedMessage(f"bad size field {size_text!r}") from None
    return ExtendMessage(_unpack_uuid(message[5:21]), _unpack_uuid(message[21:37]),
                         size_mib)


def answers(request: bytes, reply: bytes) -> bool:
    """Whether ``reply`` is the SPM's answer to ``request``."""
    return (reply[:1] == VERSION and reply != CLEAN_MESSAGE
            and reply[:HEADER_SIZE] == request[:HEADER_SIZE])


def is_reply(message: bytes) -> bool:
    """Whether an outbox message holds an answer (not empty, not clean)."""
    return message[:1] != b"\0" and message != CLEAN_MESSAGE


def checksum(data: bytes) -> bytes:
    """The classic checksum: the byte sum, 4 bytes little endian."""
    return struct.pack("<L", sum(data) & 0xFFFFFFFF)


def build_mailbox(messages: list[bytes]) -> bytes:
    """A host mailbox (4 KiB) of up to 63 messages, checksum at the end."""
    if len(messages) > MESSAGES_PER_MAILBOX:
        raise ValueError(f"{len(messages)} messages, at most {MESSAGES_PER_MAILBOX}")
    body = b"".join(messages).ljust(MAILBOX_SIZE - CHECKSUM_SIZE, b"\0")
    return body + checksum(body)


def valid_mailbox(mailbox: bytes) -> bool:
    """Whether a host mailbox's checksum matches its content."""
    return (len(mailbox) == MAILBOX_SIZE
            and checksum(mailbox[:-CHECKSUM_SIZE]) == mailbox[-CHECKSUM_SIZE:])


def split_messages(mailbox: bytes) -> list[bytes]:
    """The 63 messages of a host mailbox."""
    return [mailbox[i * MESSAGE_SIZE:(i + 1) * MESSAGE_SIZE]
            for i in range(MESSAGES_PER_MAILBOX)]


def mailbox_offset(host_id: int) -> int:
    return host_id * MAILBOX_SIZE


def _pack_uuid(text: str) -> bytes:
    return uuid.UUID(text).int.to_bytes(16, "little")


def _unpack_uuid(data: bytes) -> str:
    return str(uuid.UUID(int=int.from_bytes(data, "little")))


def encode_event(event: uuid.UUID | None = None) -> bytes:
    """A whole event block: the code and a UUID (new each time, so that of
    two hosts writing at once the last one still reads as new)."""
    event = event or uuid.uuid4()
    return (EVENT_CODE + event.bytes).ljust(MAILBOX_SIZE, b"\0")


def decode_event(block: bytes) -> bytes | None:
    """The event's identity, or None when the block holds no event."""
    if len(block) < 20 or block[:4] != EVENT_CODE:
        return None
    return bytes(block[4:20])
