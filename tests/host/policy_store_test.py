"""The accepted policy and parameters survive an agent restart: a real
in-process agent (policy subsystem, TLS XML-RPC) is given a policy and
parameters, stopped, and a new agent on the same root runs them; a stored
policy that no longer parses is logged and the default runs."""

from __future__ import annotations

import json
import logging
import os
from typing import Iterator

import pytest

from tests.agentproc import AgentRoot, in_process_agent
from vdsm.host.policy import rules
from vdsm.host.policy.store import FILE, PolicyStore
from vdsm.host.policy.subsystem import PolicySubsystem

POLICY = '(defparam ksmEnabled 0)\n(Host.Control "ksm_run" ksmEnabled)\n'


@pytest.fixture(scope="module")
def root() -> Iterator[AgentRoot]:
    # [policy] enabled = false (AgentRoot): the engine never touches KSM
    r = AgentRoot({("addresses", "management_port"): 0})
    try:
        yield r
    finally:
        r.cleanup()


def _engine_state(root: AgentRoot) -> tuple[str, dict]:
    with in_process_agent([PolicySubsystem], root) as agent:
        return agent.subsystems["policy"].engine.policy()


def test_policy_and_parameters_survive_a_restart(root):
    with in_process_agent([PolicySubsystem], root) as agent:
        assert agent.subsystems["policy"].engine.policy() == (
            rules.DEFAULT_POLICY, {})                # nothing stored yet
        for answer in (agent.proxy.setMOMPolicy(POLICY),
                       agent.proxy.setMOMPolicyParameters(
                           {"ksmEnabled": True, "pressure_threshold": 0.5})):
            assert answer["status"]["code"] == 0, answer
        bad = agent.proxy.setMOMPolicy("(defvar x")  # refused: not stored
        assert bad["status"]["code"] == 54, bad
    assert _engine_state(root) == (POLICY, {"ksmEnabled": 1,
                                            "pressure_threshold": 0.5})
    path = os.path.join(root.config.state_dir, FILE)
    assert not os.path.exists(path + ".tmp")


def test_stored_policy_that_no_longer_parses_runs_default(root, caplog):
    path = os.path.join(root.config.state_dir, FILE)
    with open(path, "w") as f:
        json.dump({"policy": "(explode 1)",
                   "parameters": {"a": 2, "bad name": 1}}, f)
    with caplog.at_level(logging.WARNING, logger="vdsm.host.policy.engine"):
        assert _engine_state(root) == (rules.DEFAULT_POLICY, {"a": 2})
    assert "stored policy" in caplog.text and "unknown function" in caplog.text
    assert "bad name" in caplog.text


@pytest.mark.parametrize("content", ["{not json", "[1, 2]",
                                     '{"policy": 5, "parameters": 3}'])
def test_unreadable_store_is_ignored(tmp_path, content):
    (tmp_path / FILE).write_text(content)
    assert PolicyStore(str(tmp_path)).load() == (None, {})


def test_store_round_trip(tmp_path):
    store = PolicyStore(str(tmp_path / "new"))
    assert store.load() == (None, {})
    store.save(None, {"x": 1})
    assert store.load() == (None, {"x": 1})
    store.save("(defvar a 1)", {})
    assert store.load() == ("(defvar a 1)", {})


def test_unwritable_store_logged_policy_still_in_force(tmp_path, caplog):
    from vdsm.host.policy.engine import PolicyEngine
    (tmp_path / "file").write_text("")      # a file where a dir should be
    engine = PolicyEngine(interval=15, tune_ksm=lambda **v: v,
                          store=PolicyStore(str(tmp_path / "file" / "dir")))
    with caplog.at_level(logging.ERROR, logger="vdsm.host.policy.engine"):
        engine.set_policy(POLICY)
    assert engine.policy()[0] == POLICY
    assert "not kept across restarts" in caplog.text
