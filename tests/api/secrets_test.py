"""Secrets never reach a log or a file: known secrets sent through every verb
that takes one, over both bindings, to the real daemons logging at DEBUG;
then every file under the agent's root is searched for them."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.agentproc import AgentRoot
from tests.supervdsm.helpers import ensure_vdsm_user
from vdsm.common import pki
from vdsm_cli.jsonrpc_client import JsonRpcError, StompClient

BLANK = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def agent():
    ensure_vdsm_user()
    root = AgentRoot({("logging", "level"): "DEBUG"})
    root.start_supervdsmd()
    root.start_vdsmd()
    yield root
    root.cleanup()


def _iscsi(secret: str) -> dict:
    return {"id": str(uuid.uuid4()), "connection": "127.0.0.1", "port": "3260",
            "iqn": "iqn.2026-11.test:secrets", "user": "chapuser",
            "password": secret}


def _files_with(root: str, secrets: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for top, _, files in os.walk(root):
        for name in files:
            path = os.path.join(top, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            hits = [s for s in secrets if s.encode() in data]
            if hits:
                found[path] = hits
    return found


def test_no_secret_in_any_log_or_file(agent):
    secrets = [f"S3cr3t-{i}-{uuid.uuid4().hex[:8]}" for i in range(8)]
    proxy = agent.proxy()
    ctx = pki.client_context(agent.pki.ca_cert, agent.pki.client_cert("engine"),
                             agent.pki.client_key("engine"))
    vm_id = str(uuid.uuid4())
    # XML-RPC
    proxy.connectStorageServer(3, BLANK, [_iscsi(secrets[0])])
    proxy.validateStorageServerConnection(3, BLANK, [_iscsi(secrets[1])])
    listed = proxy.getStorageConnectionsList()
    assert not any(s in str(listed) for s in secrets)
    proxy.disconnectStorageServer(3, BLANK, [_iscsi(secrets[2])])
    assert proxy.setVmTicket(vm_id, secrets[3], 60)["status"]["code"] == 1
    # JSON-RPC
    with StompClient("127.0.0.1", agent.port, ssl_context=ctx) as c:
        for method, secret in (("StoragePool.connectStorageServer", secrets[4]),
                               ("StoragePool.validateStorageServerConnection",
                                secrets[5]),
                               ("StoragePool.disconnectStorageServer", secrets[6])):
            c.call_raw(method, {"domainType": 3, "storagepoolID": BLANK,
                                "connectionParams": [_iscsi(secret)]})
        with pytest.raises(JsonRpcError):
            c.call("VM.setTicket", {"vmID": vm_id, "password": secrets[7],
                                    "ttl": 60})
    assert proxy.ping()["status"]["code"] == 0
    logs = [f for f in os.listdir(agent.config.log_dir) if f.endswith(".log")]
    assert logs  # something was logged, at DEBUG
    with open(os.path.join(agent.config.log_dir, "vdsm.log")) as f:
        assert "connectStorageServer" in f.read()
    assert _files_with(agent.root, secrets) == {}
