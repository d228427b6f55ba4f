"""The mailbox's on-disk format against literal classic bytes."""

from __future__ import annotations

import uuid

import pytest

from vdsm.storage.spm import mailbox_format as fmt

SD = "11111111-2222-3333-4444-555555555555"
VOL = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


def test_extend_message_classic_layout():
    message = fmt.encode_extend(SD, VOL, 0x1234)
    assert len(message) == 64
    assert message[:5] == b"1xtnd"
    # UUIDs as their 128-bit integer, little endian
    assert message[5:21] == bytes.fromhex("5555555555554444" "3333222211111111")
    assert message[5:21] == int(SD.replace("-", ""), 16).to_bytes(16, "little")
    assert message[21:37] == int(VOL.replace("-", ""), 16).to_bytes(16, "little")
    assert message[37:53] == b"0000000000001234"
    assert message[53:] == b"0" * 11


def test_extend_message_round_trip():
    decoded = fmt.decode_extend(fmt.encode_extend(SD, VOL, 3072))
    assert decoded == fmt.ExtendMessage(SD, VOL, 3072)
    assert decoded.size == 3072 * fmt.MiB


def test_sizes_round_up_to_mib_and_are_bounded():
    assert fmt.size_to_mib(0) == 0
    assert fmt.size_to_mib(1) == 1
    assert fmt.size_to_mib(fmt.MiB) == 1
    assert fmt.size_to_mib(fmt.MiB + 1) == 2
    with pytest.raises(ValueError):
        fmt.size_to_mib(-1)
    with pytest.raises(ValueError):
        fmt.size_to_mib((fmt.MAX_SIZE_MIB + 1) * fmt.MiB)
    with pytest.raises(ValueError):
        fmt.encode_extend(SD, VOL, fmt.MAX_SIZE_MIB + 1)
    with pytest.raises(ValueError):
        fmt.encode_extend("not-a-uuid", VOL, 1)


@pytest.mark.parametrize("message, reason", [
    (b"2" + fmt.encode_extend(SD, VOL, 1)[1:], "version"),
    (b"1evnt" + fmt.encode_extend(SD, VOL, 1)[5:], "type"),
    (fmt.encode_extend(SD, VOL, 1)[:37] + b"zz" * 8 + b"0" * 11, "size"),
    (fmt.encode_extend(SD, VOL, 1)[:63], "bytes"),
])
def test_malformed_messages_are_refused(message, reason):
    with pytest.raises(fmt.MalformedMessage, match=reason):
        fmt.decode_extend(message)


def test_answer_matches_its_request_only():
    request = fmt.encode_extend(SD, VOL, 10)
    assert fmt.answers(request, fmt.encode_extend(SD, VOL, 12))
    assert fmt.answers(request, fmt.encode_extend(SD, VOL, 0))  # failed
    assert not fmt.answers(request, fmt.encode_extend(VOL, SD, 10))
    assert not fmt.answers(request, fmt.CLEAN_MESSAGE)
    assert not fmt.answers(request, fmt.EMPTY_MESSAGE)
    assert fmt.is_reply(request)
    assert not fmt.is_reply(fmt.CLEAN_MESSAGE)
    assert not fmt.is_reply(fmt.EMPTY_MESSAGE)


def test_mailbox_checksum_is_the_byte_sum_little_endian():
    messages = [fmt.encode_extend(SD, VOL, 5), fmt.CLEAN_MESSAGE]
    box = fmt.build_mailbox(messages)
    assert len(box) == 4096
    body = box[:-4]
    assert int.from_bytes(box[-4:], "little") == sum(body)
    assert fmt.valid_mailbox(box)
    assert fmt.split_messages(box)[:3] == messages + [fmt.EMPTY_MESSAGE]
    assert len(fmt.split_messages(box)) == 63
    assert fmt.build_mailbox([]) == b"\0" * 4096  # empty: checksum 0


def test_corrupted_mailbox_fails_its_checksum():
    box = bytearray(fmt.build_mailbox([fmt.encode_extend(SD, VOL, 5)]))
    box[10] ^= 0xFF
    assert not fmt.valid_mailbox(bytes(box))
    assert not fmt.valid_mailbox(bytes(box[:100]))


def test_mailbox_holds_63_messages_at_most():
    with pytest.raises(ValueError):
        fmt.build_mailbox([fmt.CLEAN_MESSAGE] * 64)


def test_host_mailboxes_are_4k_blocks_by_host_id():
    assert fmt.mailbox_offset(1) == 4096
    assert fmt.mailbox_offset(250) == 250 * 4096
    assert fmt.mailbox_offset(250) + 4096 <= 1024 * 1024  # the dom_md file


def test_event_block_classic_layout_and_round_trip():
    event = uuid.UUID("0123456789abcdef0123456789abcdef")
    block = fmt.encode_event(event)
    assert len(block) == fmt.MAILBOX_SIZE
    assert block[:20] == b"\0evt" + event.bytes and block[20:] == b"\0" * 4076
    assert fmt.decode_event(block) == event.bytes
    assert fmt.decode_event(fmt.EMPTY_MAILBOX) is None
    assert fmt.encode_event() != fmt.encode_event()   # each event is new
