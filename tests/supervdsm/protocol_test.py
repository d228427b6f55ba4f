"""Framing and envelope checks of the supervdsm wire format."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from vdsm.supervdsm import protocol
from vdsm.supervdsm.errors import ProtocolError


@pytest.fixture
def pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.settimeout(5)
    b.settimeout(5)
    yield a, b
    a.close()
    b.close()


def test_round_trip(pair):
    a, b = pair
    request = protocol.make_request(1, "ping", {"x": [1, "two", None]})
    protocol.send_message(a, request)
    assert protocol.recv_message(b) == request
    assert protocol.parse_request(request) == (1, "ping", {"x": [1, "two", None]})


def test_large_message_in_many_chunks(pair):
    a, b = pair
    message = protocol.make_result(3, "x" * (protocol.MAX_MESSAGE - 100))
    sender = threading.Thread(target=protocol.send_message, args=(a, message))
    sender.start()
    assert protocol.recv_message(b) == message
    sender.join(5)


def test_oversized_message_refused_by_sender(pair):
    a, _ = pair
    with pytest.raises(ProtocolError, match="exceeds"):
        protocol.send_message(a, {"blob": "x" * protocol.MAX_MESSAGE})


def test_oversized_header_refused_by_receiver(pair):
    a, b = pair
    a.sendall(struct.pack(">I", protocol.MAX_MESSAGE + 1))
    with pytest.raises(ProtocolError, match="exceeds"):
        protocol.recv_message(b)


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_malformed_body_refused(pair, body):
    a, b = pair
    a.sendall(struct.pack(">I", len(body)) + body)
    with pytest.raises(ProtocolError):
        protocol.recv_message(b)


def test_eof_is_connection_closed(pair):
    a, b = pair
    a.sendall(struct.pack(">I", 10) + b"{}")
    a.shutdown(socket.SHUT_WR)
    with pytest.raises(protocol.ConnectionClosed, match="middle"):
        protocol.recv_message(b)


def test_unencodable_message_refused(pair):
    a, _ = pair
    with pytest.raises(ProtocolError, match="JSON"):
        protocol.send_message(a, {"x": object()})
    with pytest.raises(ProtocolError, match="JSON"):
        protocol.send_message(a, {"x": float("nan")})


@pytest.mark.parametrize("message", [
    {"op": "ping", "args": {}},
    {"id": True, "op": "ping", "args": {}},
    {"id": 1.5, "op": "ping", "args": {}},
    {"id": 1, "op": "", "args": {}},
    {"id": 1, "op": 3, "args": {}},
    {"id": 1, "op": "ping", "args": []},
    {"id": 1, "op": "ping", "args": {}, "extra": 1},
])
def test_bad_envelope_refused(message):
    with pytest.raises(ProtocolError):
        protocol.parse_request(message)


def test_args_default_to_empty():
    assert protocol.parse_request({"id": "a", "op": "ping"}) == ("a", "ping", {})
