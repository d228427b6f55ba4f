"""The XML-RPC binding over real TLS sockets, with a small handler set.

The handlers here are a unit-test aid; tests/daemon_test.py drives the
real agent process.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import xmlrpc.client

import pytest

from vdsm.api import schema
from vdsm.api.dispatcher import Dispatcher
from vdsm.api.server import ApiServer, Limits
from vdsm.api.xmlrpc import wire_safe
from vdsm.common import pki
from vdsm.common.errors import VdsmError

SCHEMA = schema.parse({"verbs": [
    {"name": "Host.ping", "classic": "ping", "params": []},
    {"name": "Host.getStats", "classic": "getVdsStats", "params": [],
     "payload": "info"},
    {"name": "VM.getStats", "classic": "getVmStats", "payload": "statsList",
     "params": [{"name": "vmID", "type": "uuid"}]},
    {"name": "Host.boom", "classic": "boom", "params": []},
    {"name": "Host.echo", "classic": "echo", "payload": "logged",
     "params": [{"name": "message", "type": "any"}]},
]})
VM_ID = "8a7c5e7b-1ef4-4d0a-9c34-51b7cba0a8a1"


class Host:
    def ping(self):
        return None

    def get_stats(self):
        return {"memAvailable": 1024, "rx": 2 ** 40}

    def boom(self):
        raise RuntimeError("internal detail that must not leak")

    def echo(self, message):
        return message


class Vm:
    def get_stats(self, vm_id):
        if vm_id != VM_ID:
            raise NoSuchVM()
        return [{"vmId": vm_id, "status": "Up"}]


class NoSuchVM(VdsmError):
    name = "NoSuchVM"
    default_message = "Virtual machine does not exist"


@pytest.fixture
def server(pki_paths):
    ctx = pki.server_context(pki_paths.ca_cert, pki_paths.host_cert,
                             pki_paths.host_key)
    dispatcher = Dispatcher(SCHEMA, {"Host": Host(), "VM": Vm()})
    srv = ApiServer(dispatcher, ("127.0.0.1", 0), ssl_context=ctx,
                       limits=Limits(workers=4, max_request_bytes=64 * 1024,
                                     request_timeout=5))
    srv.serve_in_thread()
    yield srv
    srv.shutdown()
    srv.server_close()


def proxy(server, paths, client="engine"):
    ctx = pki.client_context(paths.ca_cert, paths.client_cert(client),
                             paths.client_key(client))
    return xmlrpc.client.ServerProxy(f"https://127.0.0.1:{server.port}",
                                     context=ctx, allow_none=True)


def test_ping_envelope(server, pki_paths):
    assert proxy(server, pki_paths).ping() == {
        "status": {"code": 0, "message": "Done"}}


def test_payload_key_and_big_ints_as_strings(server, pki_paths):
    answer = proxy(server, pki_paths).getVdsStats()
    assert answer["info"] == {"memAvailable": 1024, "rx": str(2 ** 40)}


def test_namespaced_name_works_too(server, pki_paths):
    answer = getattr(proxy(server, pki_paths), "VM.getStats")(VM_ID)
    assert answer["statsList"][0]["vmId"] == VM_ID


def test_expected_error_gets_its_code(server, pki_paths):
    answer = proxy(server, pki_paths).getVmStats(
        "00000000-0000-0000-0000-000000000000")
    assert answer == {"status": {"code": 1,
                                 "message": "Virtual machine does not exist"}}


def test_unexpected_error_is_code_16_and_server_survives(server, pki_paths):
    client = proxy(server, pki_paths)
    answer = client.boom()
    assert answer["status"]["code"] == 16
    assert "internal detail" not in answer["status"]["message"]
    assert client.ping()["status"]["code"] == 0


def test_missing_parameter(server, pki_paths):
    status = proxy(server, pki_paths).getVmStats()["status"]
    assert status["code"] == 11
    assert "vmID" in status["message"]


def test_wrong_type(server, pki_paths):
    status = proxy(server, pki_paths).getVmStats(42)["status"]
    assert status["code"] == 91
    assert "vmID" in status["message"]


def test_too_many_arguments(server, pki_paths):
    status = proxy(server, pki_paths).ping("extra")["status"]
    assert status["code"] == 91


def test_unknown_verb_is_a_fault_then_next_call_works(server, pki_paths):
    client = proxy(server, pki_paths)
    with pytest.raises(xmlrpc.client.Fault) as e:
        client.noSuchVerb()
    assert "noSuchVerb" in e.value.faultString
    assert client.ping()["status"]["code"] == 0


def _post(server, paths, body: bytes, headers=None):
    ctx = pki.client_context(paths.ca_cert, paths.client_cert("engine"),
                             paths.client_key("engine"))
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx,
                                       timeout=10)
    conn.request("POST", "/RPC2", body=body,
                 headers=headers or {"Content-Type": "text/xml"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def test_malformed_xml_is_a_fault(server, pki_paths):
    status, data = _post(server, pki_paths, b"<methodCall><oops")
    assert status == 200
    with pytest.raises(xmlrpc.client.Fault) as e:
        xmlrpc.client.loads(data)
    assert "Malformed" in e.value.faultString
    assert proxy(server, pki_paths).ping()["status"]["code"] == 0


def test_request_size_limit(server, pki_paths):
    body = xmlrpc.client.dumps(("x" * 100_000,), "echo").encode()
    status, _ = _post(server, pki_paths, body)
    assert status == 413
    assert proxy(server, pki_paths).echo("small")["logged"] == "small"


def test_list_methods(server, pki_paths):
    methods = proxy(server, pki_paths).system.listMethods()
    assert {"ping", "getVdsStats", "Host.getStats", "getVmStats"} <= set(methods)


def test_client_without_certificate_refused(server, pki_paths):
    ctx = pki.client_context(pki_paths.ca_cert, None, None)
    client = xmlrpc.client.ServerProxy(f"https://127.0.0.1:{server.port}",
                                       context=ctx)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        client.ping()
    assert proxy(server, pki_paths).ping()["status"]["code"] == 0


def test_client_of_another_ca_refused(server, pki_paths, other_pki):
    # trusts our CA for the server, but presents a certificate of another CA
    ctx = pki.client_context(pki_paths.ca_cert,
                             other_pki.client_cert("intruder"),
                             other_pki.client_key("intruder"))
    client = xmlrpc.client.ServerProxy(f"https://127.0.0.1:{server.port}",
                                       context=ctx)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        client.ping()


def test_plain_tcp_client_refused(server):
    received = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"POST /RPC2 HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
        try:
            while chunk := s.recv(4096):
                received += chunk
        except ConnectionResetError:
            pass  # the server dropped the failed handshake: refused
    assert not received.startswith(b"HTTP/")


def test_concurrent_clients(server, pki_paths):
    results: list[int] = []
    errors: list[BaseException] = []

    def call():
        try:
            results.append(proxy(server, pki_paths).getVdsStats()["status"]["code"])
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert results == [0] * 50


def test_wire_safe():
    assert wire_safe({"a": [2 ** 31, -(2 ** 31) - 1, 5, True, None]}) == {
        "a": [str(2 ** 31), str(-(2 ** 31) - 1), 5, True, None]}


@pytest.fixture
def big_server(pki_paths):
    ctx = pki.server_context(pki_paths.ca_cert, pki_paths.host_cert,
                             pki_paths.host_key)
    srv = ApiServer(Dispatcher(SCHEMA, {"Host": Host(), "VM": Vm()}),
                    ("127.0.0.1", 0), ssl_context=ctx,
                    limits=Limits(workers=2, request_timeout=10))
    srv.serve_in_thread()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_deep_nesting_is_invalid_parameter(big_server, pki_paths):
    """A struct nested 50,000 levels: the classic invalid-parameter code,
    not a RecursionError answered as code 16."""
    server = big_server
    depth = 50_000
    body = ("<?xml version='1.0'?><methodCall><methodName>getVmStats"
            "</methodName><params><param><value>"
            + "<struct><member><name>a</name><value>" * depth
            + "<int>1</int>" + "</value></member></struct>" * depth
            + "</value></param></params></methodCall>").encode()
    status, data = _post(server, pki_paths, body)
    assert status == 200
    answer = xmlrpc.client.loads(data)[0][0]
    assert answer["status"]["code"] == 91
    assert "nested deeper" in answer["status"]["message"]
    assert proxy(server, pki_paths).ping()["status"]["code"] == 0
