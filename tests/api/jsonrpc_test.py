"""The JSON-RPC binding over a dispatcher: shapes, batches and error codes."""

from __future__ import annotations

import json

import pytest

from vdsm.api import schema
from vdsm.api.dispatcher import CallContext, Dispatcher
from vdsm.api.jsonrpc import JsonRpcBinding, notification
from vdsm.common.errors import VdsmError

SCHEMA = schema.parse({"verbs": [
    {"name": "Host.ping2", "params": []},
    {"name": "Host.getStats", "classic": "getVdsStats", "params": [],
     "payload": "info"},
    {"name": "VM.getStats", "classic": "getVmStats", "payload": "statsList",
     "params": [{"name": "vmID", "type": "uuid"}]},
    {"name": "Pool.getInfo", "classic": "getPoolInfo", "payload": "*",
     "params": []},
    {"name": "Host.sum", "classic": "sum", "payload": "total",
     "params": [{"name": "a", "type": "int"},
                {"name": "b", "type": "int", "optional": True, "default": 0},
                {"name": "verbose", "type": "bool", "optional": True}]},
    {"name": "Host.boom", "params": []},
    {"name": "Host.bytes", "payload": "raw", "params": []},
]})
VM_ID = "8a7c5e7b-1ef4-4d0a-9c34-51b7cba0a8a1"


class NoSuchVM(VdsmError):
    name = "NoSuchVM"
    default_message = "Virtual machine does not exist"


class Host:
    calls = 0

    def ping2(self):
        Host.calls += 1

    def get_stats(self):
        return {"cpuIdle": 99.0, "rxBytes": 2 ** 40}

    def sum(self, a, b, verbose):
        return {"value": a + b, "verbose": verbose}

    def boom(self):
        raise RuntimeError("secret internals")

    def bytes(self):
        return object()


class Vm:
    def get_stats(self, vm_id):
        raise NoSuchVM()


class Pool:
    def get_info(self):
        return {"info": {"name": "p"}, "dominfo": {}}


@pytest.fixture
def rpc():
    dispatcher = Dispatcher(SCHEMA, {"Host": Host(), "VM": Vm(), "Pool": Pool()})
    binding = JsonRpcBinding(dispatcher)

    def call(request):
        data = request if isinstance(request, bytes) else json.dumps(request).encode()
        answer = binding.handle(data, CallContext(client="test"))
        return None if answer is None else json.loads(answer)
    return call


def req(method, params=None, ident="1"):
    r = {"jsonrpc": "2.0", "method": method, "id": ident}
    if params is not None:
        r["params"] = params
    return r


def test_result_without_envelope(rpc):
    assert rpc(req("Host.ping2")) == {"jsonrpc": "2.0", "id": "1", "result": True}
    assert rpc(req("Host.getStats", {}))["result"] == {"cpuIdle": 99.0,
                                                       "rxBytes": 2 ** 40}
    assert rpc(req("Pool.getInfo"))["result"] == {"info": {"name": "p"},
                                                  "dominfo": {}}


def test_id_echoed_exactly(rpc):
    assert rpc(req("Host.ping2", ident=42))["id"] == 42
    assert rpc(req("Host.ping2", ident="a-b"))["id"] == "a-b"


def test_strings_accepted_for_int_and_bool(rpc):
    answer = rpc(req("Host.sum", {"a": "40", "b": "2", "verbose": "true"}))
    assert answer["result"] == {"value": 42, "verbose": True}


def test_one_element_batch_answers_a_batch(rpc):
    answer = rpc([req("Host.ping2", ident="x")])
    assert answer == [{"jsonrpc": "2.0", "id": "x", "result": True}]


def test_batch_with_notifications_and_errors(rpc):
    batch = [req("Host.ping2", ident="a"),
             {"jsonrpc": "2.0", "method": "Host.ping2"},
             req("No.such", ident="b")]
    answer = rpc(batch)
    assert [a["id"] for a in answer] == ["a", "b"]
    assert answer[1]["error"]["code"] == -32601


def test_only_notifications_answer_nothing(rpc):
    before = Host.calls
    assert rpc({"jsonrpc": "2.0", "method": "Host.ping2"}) is None
    assert rpc([{"jsonrpc": "2.0", "method": "Host.ping2"}]) is None
    assert Host.calls == before + 2


def test_classic_error_codes(rpc):
    error = rpc(req("VM.getStats", {"vmID": VM_ID}))["error"]
    assert error == {"code": 1, "message": "Virtual machine does not exist"}
    assert rpc(req("VM.getStats", {}))["error"]["code"] == 11
    assert rpc(req("VM.getStats", {"vmID": "nope"}))["error"]["code"] == 91
    assert rpc(req("VM.getStats", {"vmID": VM_ID, "x": 1}))["error"]["code"] == 91


def test_unexpected_error_hides_internals(rpc):
    error = rpc(req("Host.boom"))["error"]
    assert error["code"] == 16
    assert "secret" not in error["message"]


def test_positional_params(rpc):
    assert rpc(req("Host.sum", [1, 2]))["result"]["value"] == 3


@pytest.mark.parametrize("request_, code", [
    (b"{not json", -32700),
    (b"[" * 100000 + b"]" * 100000, -32700),
    (b"[]", -32600),
    (b"42", -32600),
    (json.dumps({"method": "Host.ping2", "id": "1"}).encode(), -32600),
    (json.dumps({"jsonrpc": "2.0", "method": 7, "id": "1"}).encode(), -32600),
    (json.dumps({"jsonrpc": "2.0", "method": "Host.ping2", "id": [1]}).encode(),
     -32600),
    (json.dumps(req("Host.ping2", "params")).encode(), -32602),
    (json.dumps(req("Nope.nope")).encode(), -32601),
    (json.dumps(req("Host.bytes")).encode(), -32603),
])
def test_jsonrpc_error_codes(rpc, request_, code):
    assert rpc(request_)["error"]["code"] == code


def test_notification_encoding():
    data = json.loads(notification("|virt|VM_status|x", {"x": {"status": "Up"}}))
    assert data == {"jsonrpc": "2.0", "method": "|virt|VM_status|x",
                    "params": {"x": {"status": "Up"}}}
    assert "id" not in data


def test_deep_nesting_is_invalid_parameter(rpc):
    nested: object = 1
    for _ in range(500):
        nested = {"a": nested}
    error = rpc(req("VM.getStats", {"vmID": nested}))["error"]
    assert error["code"] == 91
    assert "nested deeper than 64" in error["message"]


def test_secrets_never_logged_at_any_depth(caplog):
    caplog.set_level("DEBUG", logger="vdsm.api.dispatcher")
    api = schema.parse({"verbs": [
        {"name": "Host.connect", "classic": "connect", "params": [
            {"name": "connectionParams", "type": "list", "items": "object"},
            {"name": "token", "type": "string", "secret": True}]}]})

    class Target:
        def connect(self, connection_params, token):
            return None

    binding = JsonRpcBinding(Dispatcher(api, {"Host": Target()}))
    body = json.dumps(req("Host.connect", {
        "connectionParams": [{"id": "1", "user": "u", "password": "S3cr3t-A"},
                             {"id": "2", "nested": [{"Password": "S3cr3t-B"}]}],
        "token": "S3cr3t-C"})).encode()
    assert json.loads(binding.handle(body, CallContext()))["result"] is True
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "connectionParams" in text
    for secret in ("S3cr3t-A", "S3cr3t-B", "S3cr3t-C"):
        assert secret not in text
