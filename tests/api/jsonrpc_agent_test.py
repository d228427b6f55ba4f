"""JSON-RPC over STOMP against the real vdsmd (and supervdsmd) processes,
over mutual TLS, the way the engine and vdsm-client call it; and every
verb of the schema reachable through both bindings."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import uuid

import pytest

from tests.agentproc import REPO, AgentRoot
from tests.supervdsm.helpers import ensure_vdsm_user
from vdsm.agent import Agent
from vdsm.api import schema
from vdsm.common import pki
from vdsm_cli.jsonrpc_client import JsonRpcError, StompClient

BLANK = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def agent():
    user = ensure_vdsm_user()
    root = AgentRoot()
    root.start_supervdsmd()
    root.start_vdsmd()
    root.local_dir = os.path.join(root.root, "local-domain")
    os.makedirs(root.local_dir)
    pw = pwd.getpwnam(user)
    os.chown(root.local_dir, pw.pw_uid, pw.pw_gid)
    yield root
    root.cleanup()


@pytest.fixture
def client(agent):
    ctx = pki.client_context(agent.pki.ca_cert, agent.pki.client_cert("engine"),
                             agent.pki.client_key("engine"))
    with StompClient("127.0.0.1", agent.port, ssl_context=ctx, timeout=30) as c:
        yield c


def test_ping2(client):
    assert client.call("Host.ping2") is True
    assert client.call("Host.confirmConnectivity") is True


def test_capabilities_and_stats(client, agent):
    caps = client.call("Host.getCapabilities")
    assert int(caps["cpuThreads"]) == os.cpu_count()
    assert set(caps) == set(agent.proxy().getVdsCapabilities()["info"])
    stats = client.call("Host.getStats")
    assert 0.0 <= float(stats["cpuIdle"]) <= 100.0
    assert "network" in stats and "storageDomains" in stats


def test_vm_list_and_stats(client):
    assert client.call("Host.getVMList") == []
    assert client.call("Host.getVMList", {"fullStatus": "false"}) == []
    assert client.call("Host.getAllVmStats") == []


def test_unknown_vm_is_code_1(client):
    with pytest.raises(JsonRpcError) as e:
        client.call("VM.getStats", {"vmID": str(uuid.uuid4())})
    assert e.value.code == 1
    assert e.value.message.startswith("Virtual machine does not exist")


def test_unknown_task_is_401(client):
    with pytest.raises(JsonRpcError) as e:
        client.call("Task.getStatus", {"taskID": str(uuid.uuid4())})
    assert e.value.code == 401


def test_unknown_method_and_bad_params(client):
    with pytest.raises(JsonRpcError) as e:
        client.call("Host.noSuchThing")
    assert e.value.code == -32601
    with pytest.raises(JsonRpcError) as e:
        client.call("VM.getStats", {"vmID": "not-a-uuid"})
    assert e.value.code == 91


def test_storage_verbs_on_a_real_local_domain(client, agent):
    con_id, sd_uuid = str(uuid.uuid4()), str(uuid.uuid4())
    # every value as a string, the way vdsm-client sends them
    statuses = client.call("StoragePool.connectStorageServer", {
        "domainType": "4", "storagepoolID": BLANK,
        "connectionParams": [{"id": con_id, "connection": agent.local_dir}]})
    assert statuses == [{"id": con_id, "status": 0}]
    assert client.call("StorageDomain.create", {
        "storagedomainID": sd_uuid, "domainType": "4", "typeArgs": agent.local_dir,
        "name": "jsonrpc local", "domainClass": "1", "version": "5"}) is True
    info = client.call("StorageDomain.getInfo", {"storagedomainID": sd_uuid})
    assert info["name"] == "jsonrpc local"
    assert info["type"] == "LOCALFS"
    assert sd_uuid in client.call("Host.getStorageDomains")
    with pytest.raises(JsonRpcError) as e:
        client.call("StorageDomain.getInfo", {"storagedomainID": str(uuid.uuid4())})
    assert e.value.code == 358


def test_raw_one_element_batch(client):
    answer = client.call_raw("Host.ping2", {})
    assert answer == {"jsonrpc": "2.0", "id": answer["id"], "result": True}


# --- every verb through both bindings ---------------------------------------
VERBS = schema.load().verbs


def test_every_verb_reaches_the_dispatcher_on_both_bindings(client, agent):
    """An unknown extra parameter is refused by the schema (91) only once the
    binding has found the verb: an unknown verb would be -32601 / a Fault."""
    proxy = agent.proxy()
    for verb in VERBS:
        with pytest.raises(JsonRpcError) as e:
            client.call(verb.name, {"noSuchParameter": "x"})
        assert e.value.code == 91, (verb.name, e.value)
        too_many = ["x"] * (len(verb.classic_params) + 1)
        for name in filter(None, (verb.classic, verb.name)):
            answer = proxy.__getattr__(name)(*too_many)
            assert answer["status"]["code"] == 91, (name, answer)


def test_every_verb_has_a_handler():
    root = AgentRoot()
    try:
        agent = Agent(root.config)  # every default subsystem, not started
        missing = []
        for verb in VERBS:
            try:
                agent.dispatcher._handler(verb)
            except Exception as e:  # noqa: BLE001 - collected and reported
                missing.append(f"{verb.name}: {e}")
        assert not missing, "\n".join(missing)
    finally:
        root.cleanup()



def _vdsclient(agent, *args: str, jsonrpc: bool) -> subprocess.CompletedProcess:
    options = ("--jsonrpc",) if jsonrpc else ()
    return subprocess.run(
        [sys.executable, "-m", "vdsm_cli.vdsclient", "--config", agent.conf_file,
         *options, "-s", f"0:{agent.port}", *args],
        capture_output=True, text=True, timeout=60, cwd=REPO, env=agent.env())


def test_vdsclient_jsonrpc_answers_as_xmlrpc(client, agent):
    sd_uuid = str(uuid.uuid4())
    local = os.path.join(agent.local_dir, "vdsclient")
    os.makedirs(local)
    os.chown(local, *_vdsm_ids())
    client.call("StoragePool.connectStorageServer", {
        "domainType": 4, "storagepoolID": BLANK,
        "connectionParams": [{"id": str(uuid.uuid4()), "connection": local}]})
    client.call("StorageDomain.create", {
        "storagedomainID": sd_uuid, "domainType": 4, "typeArgs": local,
        "name": "vdsclient local", "domainClass": 1, "version": 5})
    for argv in (["ping"], ["getVdsCaps"], ["list"], ["list", "table"],
                 ["getAllVmStats"], ["getVmStats", str(uuid.uuid4())],
                 ["getTaskStatus", str(uuid.uuid4())],
                 ["getStorageDomainInfo", sd_uuid],
                 ["getStorageDomainInfo", str(uuid.uuid4())],
                 ["getConnectedStoragePoolsList"]):
        xml = _vdsclient(agent, *argv, jsonrpc=False)
        jsonrpc = _vdsclient(agent, *argv, jsonrpc=True)
        assert (jsonrpc.returncode, jsonrpc.stdout, jsonrpc.stderr) == \
            (xml.returncode, xml.stdout, xml.stderr), argv
    stats = _vdsclient(agent, "getVdsStats", jsonrpc=True)
    assert stats.returncode == 0 and "cpuIdle" in stats.stdout


def _vdsm_ids() -> tuple[int, int]:
    pw = pwd.getpwnam(ensure_vdsm_user())
    return pw.pw_uid, pw.pw_gid
