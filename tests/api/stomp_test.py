"""STOMP frame codec: framing, escaping, heart-beats and limits."""

from __future__ import annotations

import pytest

from vdsm.api import stomp
from vdsm.api.stomp import Frame, FrameError, Parser


def test_round_trip_with_escaped_headers():
    frame = Frame("SEND", {"destination": "a:b\nc\\d\re", "x": "1"}, b"{}\0x")
    data = frame.encode()
    assert b"destination:a\\cb\\nc\\\\d\\re\n" in data
    assert b"content-length:4\n" in data
    [back] = Parser().feed(data)
    assert back.headers == {**frame.headers, "content-length": "4"}
    assert (back.command, back.body) == (frame.command, frame.body)


def test_connect_headers_are_not_escaped():
    data = b"CONNECT\naccept-version:1.2\nhost:a\\c\n\n\0"
    [frame] = Parser().feed(data)
    assert frame.headers["host"] == "a\\c"


def test_frames_split_anywhere_and_heartbeats_between():
    one = Frame("SEND", {"destination": "q"}, b"abc").encode()
    two = Frame("SUBSCRIBE", {"destination": "q", "id": "1"}).encode()
    stream = b"\n\r\n" + one + b"\n" + two
    parser = Parser()
    frames = []
    for i in range(len(stream)):
        frames += parser.feed(stream[i:i + 1])
    assert [f.command for f in frames] == ["SEND", "SUBSCRIBE"]
    assert frames[0].body == b"abc"
    assert parser.heartbeats == 3


def test_body_up_to_nul_without_content_length():
    [frame] = Parser().feed(b"SEND\ndestination:q\n\nhello\0")
    assert frame.body == b"hello"


def test_content_length_carries_nul_bytes():
    [frame] = Parser().feed(b"SEND\ncontent-length:3\n\na\0b\0")
    assert frame.body == b"a\0b"


def test_first_repeated_header_wins():
    [frame] = Parser().feed(b"SEND\nfoo:1\nfoo:2\n\n\0")
    assert frame.headers["foo"] == "1"


def test_crlf_line_ends():
    [frame] = Parser().feed(b"SEND\r\ndestination:q\r\n\r\nx\0")
    assert frame.headers == {"destination": "q"} and frame.body == b"x"


@pytest.mark.parametrize("data, why", [
    (b"BOGUS\n\n\0", "unknown command"),
    (b"SEND\nno-colon\n\n\0", "without ':'"),
    (b"SEND\nx:a\\tb\n\n\0", "undefined escape"),
    (b"SEND\ncontent-length:abc\n\n\0", "bad content-length"),
    (b"SEND\ncontent-length:2\n\nabc\0", "not followed by NUL"),
    (b"SEND\ncontent-length:99999999\n\n", "exceeds the limit"),
    (b"\xff\xfe\n\n\0", "ASCII"),
])
def test_malformed(data, why):
    with pytest.raises(FrameError, match=why):
        Parser(max_body_bytes=1024).feed(data)


def test_header_limit_without_end_of_headers():
    parser = Parser(max_header_bytes=100)
    with pytest.raises(FrameError, match="headers exceed"):
        parser.feed(b"SEND\n" + b"x:" + b"y" * 200)


def test_body_limit_without_content_length():
    parser = Parser(max_body_bytes=10)
    with pytest.raises(FrameError, match="exceeds"):
        parser.feed(b"SEND\n\n" + b"z" * 50)


def test_header_count_limit():
    data = b"SEND\n" + b"".join(b"h%d:v\n" % i for i in range(70)) + b"\n\0"
    with pytest.raises(FrameError, match="more than 64 headers"):
        Parser().feed(data)


def test_server_commands_parser_refuses_client_commands():
    with pytest.raises(FrameError):
        Parser(commands=stomp.SERVER_COMMANDS).feed(b"SEND\n\n\0")


def test_heartbeat_header():
    assert stomp.parse_heartbeat("0,24000") == (0, 24000)
    assert stomp.parse_heartbeat(None) == (0, 0)
    with pytest.raises(FrameError):
        stomp.parse_heartbeat("fast")


def test_error_frame():
    frame = stomp.error_frame("bad: thing", receipt_id="r1")
    [back] = Parser(commands=stomp.SERVER_COMMANDS).feed(frame.encode())
    assert back.headers["message"] == "bad: thing"
    assert back.headers["receipt-id"] == "r1"
