"""Exit codes to the classic answer, and running a real (script) agent."""

from __future__ import annotations

import os

import pytest

from vdsm.common.errors import UnsupportedFenceAgent
from vdsm.host.fencing import runner
from vdsm.host.fencing.agent_input import AgentInput
from vdsm.host.fencing.runner import AgentResult


def test_status_codes():
    on = runner.answer("status", AgentResult(0, "Status: ON", ""), timeout=5)
    assert on == {"status": {"code": 0, "message": "Done"}, "power": "on"}
    off = runner.answer("status", AgentResult(2, "Status: OFF", ""), timeout=5)
    assert off["power"] == "off" and off["status"]["code"] == 0
    failed = runner.answer("status", AgentResult(1, "", "Failed: x"), timeout=5)
    assert failed == {"status": {"code": 1, "message": "Failed: x"},
                      "power": "unknown"}


def test_power_actions():
    done = runner.answer("reboot", AgentResult(0, "Success", ""), timeout=5)
    assert done["operationStatus"] == "initiated" and done["status"]["code"] == 0
    failed = runner.answer("off", AgentResult(3, "", "weird"), timeout=5)
    assert failed["status"] == {"code": 1, "message": "weird"}


def test_timeout():
    answer = runner.answer("on", AgentResult(None, "", ""), timeout=7)
    assert answer["status"] == {"code": 1,
                                "message": "fence agent timed out after 7 s"}


def test_agent_output_is_masked():
    result = AgentResult(1, "passwd=leak\nFailed", "")
    assert "leak" not in result.message


def test_missing_agent_is_unsupported(tmp_path):
    with pytest.raises(UnsupportedFenceAgent):
        runner.agent_path(str(tmp_path), "nosuch")


def test_script_agent_reads_stdin_and_env(tmp_path):
    """A shell agent (not a fake of fence_ipmilan: that one is
    fencing_agent_test's) echoing what it got, and one that hangs."""
    agent = tmp_path / "fence_echo"
    agent.write_text('#!/bin/sh\ncat\necho "env=$IPMI_PASSWORD"\nexit 2\n')
    os.chmod(agent, 0o755)
    path = runner.agent_path(str(tmp_path), "echo")
    result = runner.run(path, AgentInput("action=status\n", {"IPMI_PASSWORD": "p"}),
                        timeout=10)
    assert (result.rc, result.out) == (2, "action=status\nenv=p\n")
    hung = tmp_path / "fence_hung"
    hung.write_text("#!/bin/sh\nsleep 30\n")
    os.chmod(hung, 0o755)
    result = runner.run(str(hung), AgentInput(""), timeout=0.5)
    assert result.rc is None
