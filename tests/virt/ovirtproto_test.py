"""The oVirt guest agent line protocol: parsing and folding into stats
keys (pure; the real channel is exercised in ovirtagent_test.py)."""

from __future__ import annotations

import json

import pytest

from vdsm.virt import ovirtproto
from vdsm.virt.domxml import misc, parse
from vdsm.virt.domxml.base import to_string


def test_encode_names_the_command_on_one_line():
    line = ovirtproto.encode("login", {"username": "u@d", "password": "p"})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"__name__": "login", "username": "u@d",
                                "password": "p"}
    assert json.loads(ovirtproto.encode("lock-screen")) == {"__name__": "lock-screen"}


def test_parse_line_and_bad_lines():
    assert ovirtproto.parse_line(b'{"__name__": "host-name", "name": "g1"}') == \
        ("host-name", {"name": "g1"})
    for bad in (b"not json", b"[1, 2]", b'{"name": "x"}', b'{"__name__": 3}'):
        with pytest.raises(ovirtproto.ProtocolError):
            ovirtproto.parse_line(bad)


def test_parse_line_replaces_bad_utf8_and_xml_control_chars():
    name, args = ovirtproto.parse_line(
        b'{"__name__": "active-user", "name": "a\\u0001b\xff"}')
    assert name == "active-user"
    assert args["name"] == "a\ufffdb\ufffd"


def test_line_buffer_joins_chunks_and_drops_overlong_lines():
    buf = ovirtproto.LineBuffer(limit=16)
    assert buf.feed(b'{"a"') == []
    assert buf.feed(b': 1}\n{"b": 2}\n\n{"c"') == [b'{"a": 1}', b'{"b": 2}']
    assert buf.feed(b"x" * 20) == []          # past the limit: dropped
    assert buf.feed(b'yy\n{"d": 4}\n') == [b'{"d": 4}']
    assert buf.dropped == 1


def test_heartbeat_memory_and_api_version():
    facts: dict = {}
    version = ovirtproto.apply(facts, "heartbeat", {
        "free-ram": "512", "apiVersion": 7,
        "memory-stat": {"mem_total": 1000, "mem_unused": 400, "majflt": 3}})
    assert version == 3     # capped at what we speak
    assert facts == {"memUsage": 512, "guestAgentAPIVersion": 3,
                     "memoryStats": {"mem_total": "1000", "mem_unused": "400",
                                     "mem_free": "400", "majflt": "3"}}
    assert ovirtproto.apply(facts, "heartbeat", {"free-ram": 1}) is None
    assert facts["guestAgentAPIVersion"] == 0   # an old agent: version 0


def test_session_user_apps_and_guest_facts():
    facts: dict = {}
    messages = [
        ("active-user", {"name": "alice"}),
        ("session-logon", {}), ("session-lock", {}),
        ("applications", {"applications": ["ovirt-guest-agent-1.0"]}),
        ("host-name", {"name": "g1"}), ("fqdn", {"fqdn": "g1.example"}),
        ("os-version", {"version": "6.1"}),
        ("network-interfaces", {"interfaces": [
            {"name": "eth0", "hw": "00:1a:4a:00:00:01", "inet": ["10.0.0.2"]},
            {"name": "eth1", "hw": "00:1a:4a:00:00:02", "inet": ["10.0.1.2"],
             "inet6": ["fe80::1"]}]}),
        ("disks-usage", {"disks": [{"path": "/", "fs": "ext4", "total": 10,
                                    "used": 4}]}),
        ("session-startup", {}), ("some-future-message", {"x": 1}),
    ]
    for name, args in messages:
        assert ovirtproto.apply(facts, name, args) is None
    assert facts["username"] == "alice"
    assert facts["session"] == "Locked"
    assert facts["appsList"] == ["ovirt-guest-agent-1.0"]
    assert (facts["guestName"], facts["guestFQDN"], facts["guestOs"]) == \
        ("g1", "g1.example", "6.1")
    assert facts["guestIPs"] == "10.0.0.2 10.0.1.2"
    assert facts["netIfaces"][0]["inet6"] == []
    assert facts["disksUsage"] == [{"path": "/", "fs": "ext4", "total": "10",
                                    "used": "4"}]


def test_known_message_without_its_keys_is_a_protocol_error():
    facts: dict = {"username": "bob"}
    for name, args in (("heartbeat", {}), ("active-user", {}),
                       ("heartbeat", {"free-ram": "lots"}),
                       ("disks-usage", {"disks": [{"path": "/"}]})):
        with pytest.raises(ovirtproto.ProtocolError):
            ovirtproto.apply(facts, name, args)


def test_channel_socket_path_in_and_out_of_the_domain_xml():
    el = misc.channel_element({"name": "com.redhat.rhevm.vdsm"},
                              path="/run/vdsm/channels/x.com.redhat.rhevm.vdsm")
    xml = f"<domain><devices>{to_string(el)}</devices></domain>"
    assert parse.channel_path(xml, "com.redhat.rhevm.vdsm") == \
        "/run/vdsm/channels/x.com.redhat.rhevm.vdsm"
    assert parse.channel_path(xml, "org.qemu.guest_agent.0") is None
