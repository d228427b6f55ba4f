"""vdsClient against a real TLS XML-RPC server built from the real schema."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import xmlrpc.client

from vdsm.api import schema
from vdsm.api.dispatcher import Dispatcher
from vdsm.api.server import ApiServer, Limits
from vdsm.common import commands, pki
from vdsm_cli import output
from vdsm_cli.vdsclient import main

from .cli_agent import BIG, TASK_ID, Host, start_server, stop_server

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_PYTHON = os.path.join(REPO, ".venv", "bin", "python")


def run(capsys, conf, *argv):
    rc = main(["-s", "--config", conf, *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_ping(capsys, agent_conf):
    rc, out, err = run(capsys, agent_conf, "0", "ping")
    assert (rc, out, err) == (0, "Done\n", "")


def test_explicit_port_and_namespaced_name(capsys, agent, pki_paths):
    rc = main(["-s", "--cacert", pki_paths.ca_cert,
               "--cert", pki_paths.client_cert("engine"),
               "--key", pki_paths.client_key("engine"),
               f"127.0.0.1:{agent.port}", "Host.ping"])
    assert rc == 0
    assert capsys.readouterr().out == "Done\n"


def test_payload_printed_readably(capsys, agent_conf):
    rc, out, err = run(capsys, agent_conf, "0", "getVdsCaps")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert "cpuCores         = 2" in lines
    assert "emulatedMachines = pc, q35" in lines
    assert "kvmEnabled       = true" in lines
    assert f"diskBytes        = {BIG}" in lines
    # nested structs indented, lists of structs as blocks
    assert lines[lines.index("numaNodes:") + 1:][:3] == [
        "    0:", "        cpus        = 0, 1", "        totalMemory = 24000"]
    assert lines[lines.index("nics:") + 1:][:4] == [
        "  - name  = eth0", "    speed = 1000",
        "  - name  = eth1", "    speed = 0"]


def test_json_equals_the_answer(capsys, agent, agent_conf, pki_paths):
    rc, out, _ = run(capsys, agent_conf, "--json", "0", "getVdsCapabilities")
    assert rc == 0
    ctx = pki.client_context(pki_paths.ca_cert, pki_paths.client_cert("engine"),
                             pki_paths.client_key("engine"))
    direct = xmlrpc.client.ServerProxy(f"https://127.0.0.1:{agent.port}",
                                       context=ctx).getVdsCapabilities()
    assert json.loads(out) == direct
    # beyond 32 bits the wire carries a decimal string; --json keeps it
    assert json.loads(out)["info"]["diskBytes"] == str(BIG)


def test_struct_of_structs(capsys, agent_conf):
    rc, out, _ = run(capsys, agent_conf, "0", "getAllTasksStatuses")
    assert rc == 0
    assert out.splitlines()[0] == f"{TASK_ID}:"
    assert "    taskState  = finished" in out.splitlines()


def test_arguments_reach_the_agent(capsys, agent_conf, host_handler):
    rc, out, _ = run(capsys, agent_conf, "0", "setLogLevel", "DEBUG", "vdsm.api")
    assert (rc, out) == (0, "Done\n")
    assert host_handler.log_levels[-1] == ("DEBUG", "vdsm.api")


def test_error_code_exit_1(capsys, agent_conf):
    rc, out, err = run(capsys, agent_conf, "0", "getTaskStatus",
                       "00000000-0000-0000-0000-000000000000")
    assert rc == 1
    assert out == ""
    assert err == ("ERROR (code 401): Task id unknown: "
                   "00000000-0000-0000-0000-000000000000\n")


def test_error_with_json_still_prints_the_answer(capsys, agent_conf):
    rc, out, err = run(capsys, agent_conf, "--json", "0", "getTaskStatus",
                       "not-a-uuid")
    assert rc == 1
    assert json.loads(out)["status"]["code"] == 91
    assert err.startswith("ERROR (code 91): ")


def test_not_implemented_verb(capsys, agent_conf):
    # getVdsHardwareInfo has no handler method here: the agent says so
    rc, _, err = run(capsys, agent_conf, "0", "getVdsHardwareInfo")
    assert rc == 1
    assert err.startswith("ERROR (code 44): ")


def test_unknown_verb_exit_2_with_close_matches(capsys, agent_conf):
    rc, out, err = run(capsys, agent_conf, "0", "getVdsCapabilites")
    assert rc == 2 and out == ""
    assert "unknown verb 'getVdsCapabilites'" in err
    assert "getVdsCapabilities" in err


def test_wrong_argument_count_exit_2(capsys, agent_conf):
    rc, _, err = run(capsys, agent_conf, "0", "getTaskStatus")
    assert rc == 2
    assert "taskID" in err


def test_fault_exit_1(capsys, agent, agent_conf):
    # a client whose schema knows a verb this agent does not: an XML-RPC Fault
    newer = schema.parse({"verbs": [
        {"name": "Host.fromTheFuture", "classic": "fromTheFuture", "params": []}]})
    rc = main(["-s", "--config", agent_conf, "0", "fromTheFuture"], schema=newer)
    err = capsys.readouterr().err
    assert rc == 1
    assert err.startswith("ERROR (fault 1): ") and "fromTheFuture" in err


def test_client_cert_of_other_ca_exit_3(capsys, agent, pki_paths, other_pki):
    rc = main(["-s", "--cacert", pki_paths.ca_cert,
               "--cert", other_pki.client_cert("intruder"),
               "--key", other_pki.client_key("intruder"),
               f"127.0.0.1:{agent.port}", "ping"])
    out, err = capsys.readouterr()
    assert rc == 3 and out == ""
    assert err.startswith(f"vdsClient: 127.0.0.1:{agent.port}: ")
    assert len(err.splitlines()) == 1


def test_agent_of_other_ca_not_trusted_exit_3(capsys, agent, pki_paths, other_pki):
    rc = main(["-s", "--cacert", other_pki.ca_cert,
               "--cert", other_pki.client_cert("intruder"),
               "--key", other_pki.client_key("intruder"),
               f"127.0.0.1:{agent.port}", "ping"])
    err = capsys.readouterr().err
    assert rc == 3
    assert "certificate not trusted" in err


def test_plain_http_without_s(capsys):
    # the classic form without -s: plain XML-RPC (the agent allows it on
    # loopback only)
    api = schema.load()
    srv = ApiServer(Dispatcher(api, {"Host": Host()}), ("127.0.0.1", 0),
                       ssl_context=None, limits=Limits(workers=1, request_timeout=5))
    srv.serve_in_thread()
    try:
        rc = main([f"0:{srv.port}", "getVdsStats"])
    finally:
        stop_server(srv)
    out = capsys.readouterr().out
    assert rc == 0
    assert out == f"cpuIdle = 99.5\nrxBytes = {BIG}\n"


def test_plain_http_to_tls_agent_exit_3(capsys, agent):
    rc = main([f"127.0.0.1:{agent.port}", "ping"])
    err = capsys.readouterr().err
    assert rc == 3
    assert "try -s" in err


def test_connection_refused_exit_3(capsys, agent_conf):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: refused
        rc = main(["-s", "--config", agent_conf, f"127.0.0.1:{port}", "ping"])
    err = capsys.readouterr().err
    assert rc == 3
    assert "connection refused" in err


def test_timeout_exit_3(capsys, agent_conf):
    # accepts into the backlog, never handshakes
    with socket.create_server(("127.0.0.1", 0)) as silent:
        start = time.monotonic()
        rc = main(["-s", "--config", agent_conf, "--timeout", "0.5",
                   f"127.0.0.1:{silent.getsockname()[1]}", "ping"])
        elapsed = time.monotonic() - start
    err = capsys.readouterr().err
    assert rc == 3
    assert "timeout" in err or "timed out" in err
    assert elapsed < 5


def test_unreadable_trust_store_exit_3(capsys, tmp_path):
    rc = main(["-s", "--cacert", str(tmp_path / "missing.pem"), "0", "ping"])
    err = capsys.readouterr().err
    assert rc == 3
    assert "missing.pem" in err


def test_custom_formatter_with_mode(capsys, monkeypatch, agent_conf):
    monkeypatch.setattr(output, "_formatters", {})

    def names_only(verb, answer, out):
        out.write(" ".join(sorted(answer[verb.payload])) + "\n")

    output.register("Host.getAllTasksStatuses", names_only, mode="ids")
    rc, out, _ = run(capsys, agent_conf, "0", "getAllTasksStatuses", "ids")
    assert (rc, out) == (0, TASK_ID + "\n")
    # without the mode word: the default printer
    rc, out, _ = run(capsys, agent_conf, "0", "getAllTasksStatuses")
    assert out.startswith(f"{TASK_ID}:\n")


def test_help_lists_every_schema_verb(capsys):
    for flag in ("--help", "-h"):
        assert main([flag]) == 0
        text = capsys.readouterr().out
        for verb in schema.load().verbs:
            names = f"{verb.classic}  {verb.name}" if verb.classic else verb.name
            assert any(x.startswith(f"  {names}") for x in text.splitlines())
        assert "Host:" in text and "Task:" in text
        assert "getVdsCapabilities  Host.getCapabilities (also getVdsCaps)" in text


def test_help_for_one_verb(capsys):
    assert main(["--help", "getTaskStatus"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: vdsClient [-s] HOST[:PORT] getTaskStatus <taskID>")
    assert "Task.getStatus" in text and "taskID (uuid)" in text
    assert "payload under 'taskStatus'" in text
    # the old client's form: VERB -h after the host
    assert main(["0", "getVdsCaps", "-h"]) == 0
    assert "namespaced name: Host.getCapabilities" in capsys.readouterr().out


def test_help_for_unknown_verb_exit_2(capsys):
    assert main(["--help", "nosuch"]) == 2
    assert "unknown verb" in capsys.readouterr().err


def test_no_arguments_exit_2_with_usage(capsys):
    assert main([]) == 2
    assert "usage: vdsClient" in capsys.readouterr().err


def test_real_process(agent, agent_conf):
    python = VENV_PYTHON if os.path.exists(VENV_PYTHON) else sys.executable
    result = commands.run(
        [python, "-m", "vdsm_cli.vdsclient", "-s", "--config", agent_conf,
         "0", "getVdsCaps"], timeout=60, cwd=REPO, check=False)
    assert result.rc == 0, result.err
    assert "cpuCores         = 2" in result.out.splitlines()
    result = commands.run(
        [python, "-m", "vdsm_cli.vdsclient", "-s", "--config", agent_conf,
         "0", "getTaskStatus", "00000000-0000-0000-0000-000000000000"],
        timeout=60, cwd=REPO, check=False)
    assert result.rc == 1
    assert result.err.startswith("ERROR (code 401)")


def test_struct_and_typed_arguments_end_to_end(capsys, pki_paths, tmp_path):
    api = schema.parse({"verbs": [
        {"name": "VM.create", "classic": "create", "cli": "keyvalue",
         "payload": "vmList", "params": [{"name": "vmParams", "type": "object"}]},
        {"name": "Host.echo", "classic": "echo", "payload": "echoed", "params": [
            {"name": "count", "type": "int"}, {"name": "flag", "type": "bool"},
            {"name": "names", "type": "list", "items": "string",
             "optional": True}]},
    ]})

    class Vm:
        def create(self, vm_params):
            return vm_params

    class Echo:
        def echo(self, count, flag, names=None):
            return {"count": count, "flag": flag, "names": names}

    srv = start_server(pki_paths, api, {"VM": Vm(), "Host": Echo()})
    try:
        base = ["-s", "--cacert", pki_paths.ca_cert,
                "--cert", pki_paths.client_cert("engine"),
                "--key", pki_paths.client_key("engine"),
                "--json", f"127.0.0.1:{srv.port}"]
        conf = tmp_path / "vm.conf"
        conf.write_text("# a VM\nvmId=1234\nmemSize = 128\ndisplay=vnc\n")
        rc = main(base + ["create", str(conf), "memSize=256",
                          'custom={"a": 1}'], schema=api)
        assert rc == 0
        assert json.loads(capsys.readouterr().out)["vmList"] == {
            "vmId": "1234", "memSize": "256", "display": "vnc",
            "custom": {"a": 1}}

        rc = main(base + ["echo", str(BIG), "True", "a,b"], schema=api)
        assert rc == 0
        assert json.loads(capsys.readouterr().out)["echoed"] == {
            "count": str(BIG), "flag": True, "names": ["a", "b"]}

        assert main(base + ["echo", "many", "true"], schema=api) == 2
        assert "not a decimal integer" in capsys.readouterr().err
    finally:
        stop_server(srv)
