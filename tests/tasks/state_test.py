"""How internal task states look on the classic wire."""

from __future__ import annotations

import pytest

from vdsm.tasks.errors import TaskStateTransitionError
from vdsm.tasks.state import State, check_move, public_result, public_state


@pytest.mark.parametrize("state,wire_state,wire_result", [
    (State.INIT, "init", ""),
    (State.QUEUED, "running", ""),
    (State.RUNNING, "running", ""),
    (State.FINISHED, "finished", "success"),
    (State.ABORTING, "aborting", ""),
    (State.RECOVERING, "cleaning", ""),
    (State.RECOVERED, "finished", "cleanSuccess"),
    (State.FAILED, "finished", "cleanFailure"),
])
def test_public_view(state, wire_state, wire_result):
    assert public_state(state) == wire_state
    assert public_result(state) == wire_result


@pytest.mark.parametrize("current,new", [
    (State.INIT, State.QUEUED),
    (State.QUEUED, State.RUNNING),
    (State.QUEUED, State.ABORTING),
    (State.RUNNING, State.FINISHED),
    (State.RUNNING, State.ABORTING),
    (State.ABORTING, State.RECOVERING),
    (State.FINISHED, State.RECOVERING),
    (State.FAILED, State.RECOVERING),
    (State.RECOVERING, State.RECOVERED),
    (State.RECOVERING, State.FAILED),
])
def test_allowed_moves(current, new):
    check_move(current, new)


@pytest.mark.parametrize("current,new", [
    (State.INIT, State.RUNNING),
    (State.FINISHED, State.ABORTING),
    (State.RECOVERING, State.ABORTING),
    (State.RUNNING, State.RECOVERED),
    (State.FAILED, State.FINISHED),
])
def test_refused_moves(current, new):
    with pytest.raises(TaskStateTransitionError):
        check_move(current, new)
