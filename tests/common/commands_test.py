"""The subprocess helper, on real processes."""

from __future__ import annotations

import time

import pytest

from vdsm.common import commands


def test_success_and_output():
    result = commands.run(["sh", "-c", "echo out; echo err >&2"])
    assert (result.rc, result.out, result.err) == (0, "out\n", "err\n")


def test_nonzero_exit_raises_with_details():
    with pytest.raises(commands.CommandError) as e:
        commands.run(["sh", "-c", "echo bad >&2; exit 3"])
    assert e.value.rc == 3 and "bad" in e.value.err


def test_check_false_returns_rc():
    assert commands.run(["false"], check=False).rc == 1


def test_missing_program():
    with pytest.raises(commands.CommandError, match="could not be started"):
        commands.run(["/nonexistent/program"])


def test_timeout_kills_grandchildren_holding_the_pipes():
    start = time.monotonic()
    with pytest.raises(commands.CommandError, match="timed out"):
        commands.run(["sh", "-c", "sleep 30 & sleep 30"], timeout=0.5)
    assert time.monotonic() - start < 5


def test_stdin_data():
    assert commands.run(["cat"], data="hello").out == "hello"


def test_secrets_are_masked_in_the_rendering():
    assert commands.format_argv(["login", "pw123"], ["pw123"]) == "login ****"
