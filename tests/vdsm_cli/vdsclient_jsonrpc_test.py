"""vdsClient --jsonrpc: the same verbs, output and exit codes as XML-RPC.

Every command runs twice against the same in-process TLS server (the API
port serves both protocols) and both runs must print the same thing.
"""

from __future__ import annotations

import json
import socket

import pytest

from vdsm.api import schema
from vdsm.api.dispatcher import Dispatcher
from vdsm.api.server import ApiServer, Limits
from vdsm_cli import jsonrpc_transport
from vdsm_cli.vdsclient import main

from .cli_agent import BIG, TASK_ID, Host, start_server, stop_server

ZERO = "00000000-0000-0000-0000-000000000000"


def both(capsys, *argv):
    """(rc, out, err) of XML-RPC and of JSON-RPC for one command line."""
    results = []
    for extra in ([], ["--jsonrpc"]):
        rc = main([*extra, *argv])
        out, err = capsys.readouterr()
        results.append((rc, out, err))
    return results


@pytest.mark.parametrize("verb_argv", [
    ["ping"],
    ["Host.ping"],
    ["getVdsCaps"],
    ["getVdsStats"],
    ["getAllTasksStatuses"],
    ["setLogLevel", "DEBUG", "vdsm.api"],
    ["getTaskStatus", TASK_ID],
])
def test_same_output(capsys, agent_conf, verb_argv):
    xml, jsonrpc = both(capsys, "-s", "--config", agent_conf, "0", *verb_argv)
    assert xml[0] == 0, xml
    assert jsonrpc == xml


@pytest.mark.parametrize("verb_argv, code", [
    (["getTaskStatus", ZERO], 401),           # the handler's error
    (["getTaskStatus", "not-a-uuid"], 91),    # refused by the schema
    (["getVdsHardwareInfo"], 44),             # no handler method here
    (["list", "table"], 44),                   # the test agent has no VMs
])
def test_same_error(capsys, agent_conf, verb_argv, code):
    xml, jsonrpc = both(capsys, "-s", "--config", agent_conf, "0", *verb_argv)
    assert xml[0] == 1 and xml[1] == ""
    assert xml[2].startswith(f"ERROR (code {code}): ")
    assert jsonrpc == xml


def test_same_json(capsys, agent_conf):
    for verb in ("ping", "getAllTasksStatuses", "getTaskStatus"):
        argv = [verb, TASK_ID] if verb == "getTaskStatus" else [verb]
        xml, jsonrpc = both(capsys, "-s", "--json", "--config", agent_conf,
                            "0", *argv)
        assert jsonrpc == xml
    xml, jsonrpc = both(capsys, "-s", "--json", "--config", agent_conf, "0",
                        "getTaskStatus", ZERO)
    assert jsonrpc == xml and xml[0] == 1
    assert json.loads(xml[1])["status"]["code"] == 401


def test_json_big_integers_as_sent(capsys, agent_conf):
    # XML-RPC carries integers beyond 32 bits as strings, JSON as numbers
    xml, jsonrpc = both(capsys, "-s", "--json", "--config", agent_conf, "0",
                        "getVdsStats")
    assert json.loads(xml[1])["info"]["rxBytes"] == str(BIG)
    assert json.loads(jsonrpc[1])["info"]["rxBytes"] == BIG
    # the readable output does not tell them apart
    xml, jsonrpc = both(capsys, "-s", "--config", agent_conf, "0", "getVdsStats")
    assert jsonrpc == xml


def test_envelope_of_each_payload_kind():
    api = schema.parse({"verbs": [
        {"name": "Host.a", "payload": "info", "params": []},
        {"name": "Host.b", "payload": "*", "params": []},
        {"name": "Host.c", "params": []},
    ]})
    done = {"code": 0, "message": "Done"}
    assert jsonrpc_transport.envelope(api.get("Host.a"), [1]) == {
        "status": done, "info": [1]}
    assert jsonrpc_transport.envelope(api.get("Host.b"), {"x": 1, "y": 2}) == {
        "status": done, "x": 1, "y": 2}
    assert jsonrpc_transport.envelope(api.get("Host.c"), True) == {"status": done}


def test_unknown_method_is_a_fault(capsys, agent_conf):
    newer = schema.parse({"verbs": [
        {"name": "Host.fromTheFuture", "classic": "fromTheFuture", "params": []}]})
    rc = main(["--jsonrpc", "-s", "--config", agent_conf, "0", "fromTheFuture"],
              schema=newer)
    err = capsys.readouterr().err
    assert rc == 1
    assert err == "ERROR (fault -32601): Method not found: Host.fromTheFuture\n"


def test_same_tls_refusal(capsys, agent, pki_paths, other_pki):
    # our client certificate is of another CA: the agent refuses it
    xml, jsonrpc = both(capsys, "-s", "--cacert", pki_paths.ca_cert,
                        "--cert", other_pki.client_cert("intruder"),
                        "--key", other_pki.client_key("intruder"),
                        f"127.0.0.1:{agent.port}", "ping")
    # which socket call notices the refusal first (a read, a write) is a
    # matter of timing, so the detail in parentheses may differ
    assert xml[0] == jsonrpc[0] == 3
    for _, out, err in (xml, jsonrpc):
        assert out == "" and len(err.splitlines()) == 1
        assert err.startswith(f"vdsClient: 127.0.0.1:{agent.port}: ")
        assert err.endswith("; was our certificate refused? "
                            "(check --cert/--key)\n")


def test_same_untrusted_agent(capsys, agent, other_pki):
    xml, jsonrpc = both(capsys, "-s", "--cacert", other_pki.ca_cert,
                        "--cert", other_pki.client_cert("intruder"),
                        "--key", other_pki.client_key("intruder"),
                        f"127.0.0.1:{agent.port}", "ping")
    assert xml[0] == 3 and "certificate not trusted" in xml[2]
    assert jsonrpc == xml


def test_same_refused_connection(capsys, agent_conf):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: refused
        xml, jsonrpc = both(capsys, "-s", "--config", agent_conf,
                            f"127.0.0.1:{port}", "ping")
    assert xml[0] == 3 and "connection refused" in xml[2]
    assert jsonrpc == xml


def test_same_timeout(capsys, agent_conf):
    # accepts into the backlog, never handshakes
    with socket.create_server(("127.0.0.1", 0)) as silent:
        xml, jsonrpc = both(capsys, "-s", "--config", agent_conf, "--timeout",
                            "0.5", f"127.0.0.1:{silent.getsockname()[1]}",
                            "ping")
    assert xml[0] == 3 and "no answer within the timeout" in xml[2]
    assert jsonrpc == xml


def test_plain_to_tls_agent_exit_3(capsys, agent):
    xml, jsonrpc = both(capsys, f"127.0.0.1:{agent.port}", "ping")
    assert xml[0] == jsonrpc[0] == 3
    for _, _, err in (xml, jsonrpc):
        assert err.startswith(f"vdsClient: 127.0.0.1:{agent.port}: ")
        assert "try -s" in err


def test_plain_without_s(capsys):
    srv = ApiServer(Dispatcher(schema.load(), {"Host": Host()}),
                    ("127.0.0.1", 0), ssl_context=None,
                    limits=Limits(workers=1, request_timeout=5))
    srv.serve_in_thread()
    try:
        xml, jsonrpc = both(capsys, f"0:{srv.port}", "getVdsStats")
    finally:
        stop_server(srv)
    assert xml == (0, f"cpuIdle = 99.5\nrxBytes = {BIG}\n", "")
    assert jsonrpc == xml


class Vms:
    VMS = [{"vmId": TASK_ID, "pid": "42", "vmName": "a", "status": "Up"}]

    def get_vm_list(self, full_status=False, vm_list=None, only_uuid=False):
        return [vm["vmId"] for vm in self.VMS] if only_uuid else self.VMS


def test_same_typed_args_and_modes(capsys, pki_paths):
    srv = start_server(pki_paths, schema.load(), {"Host": [Host(), Vms()]})
    try:
        base = ["-s", "--cacert", pki_paths.ca_cert,
                "--cert", pki_paths.client_cert("engine"),
                "--key", pki_paths.client_key("engine"), f"0:{srv.port}"]
        for argv in (["list", "table"], ["list", "ids"],
                     ["list", "true", TASK_ID, "false"],
                     ["list", "false", f"{TASK_ID},{ZERO}", "true"]):
            xml, jsonrpc = both(capsys, *base, *argv)
            assert xml[0] == 0 and TASK_ID in xml[1]
            assert jsonrpc == xml
    finally:
        stop_server(srv)


def test_help_names_the_option(capsys):
    assert main(["--help"]) == 0
    assert "--jsonrpc" in capsys.readouterr().out
