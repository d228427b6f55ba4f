"""Fixtures: the real schema served over TLS, and a vdsm.conf naming it."""

from __future__ import annotations

import os

import pytest

from vdsm import config as vdsm_config
from vdsm.api import schema

from .cli_agent import Host, Task, start_server, stop_server


@pytest.fixture(scope="module")
def host_handler() -> Host:
    return Host()


@pytest.fixture(scope="module")
def agent(pki_paths, host_handler):
    """The real schema served over TLS on a free port."""
    srv = start_server(pki_paths, schema.load(),
                       {"Host": host_handler, "Task": Task()})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def agent_conf(agent, pki_paths, tmp_path_factory) -> str:
    """A vdsm.conf naming the fixture trust store and the agent's port."""
    path = os.path.join(str(tmp_path_factory.mktemp("conf")), "vdsm.conf")
    vdsm_config.write(path, {
        ("vars", "trust_store_path"): pki_paths.root,
        ("addresses", "management_port"): agent.port,
    })
    return path
