"""The life cycle of a task and how it looks to the classic API.

Internally a task moves through more states than the wire admits; the
classic status (``taskState`` / ``taskResult``) folds them into the five
public states and the four results the engine knows.
"""

from __future__ import annotations

import enum

from vdsm.tasks.errors import TaskStateTransitionError


class State(enum.StrEnum):
    INIT = "init"
    QUEUED = "queued"          # waiting for a worker
    RUNNING = "running"        # the job runs
    FINISHED = "finished"      # the job succeeded
    ABORTING = "aborting"      # stopped or failed; rollback comes next
    RECOVERING = "recovering"  # rollback steps run
    RECOVERED = "recovered"    # rollback succeeded
    FAILED = "failed"          # rollback failed or was impossible


DONE = frozenset({State.FINISHED, State.RECOVERED, State.FAILED})

# What a state is allowed to follow: new state -> the states it may come from.
_SOURCES: dict[State, frozenset[State]] = {
    State.INIT: frozenset(),
    State.QUEUED: frozenset({State.INIT}),
    State.RUNNING: frozenset({State.QUEUED}),
    State.FINISHED: frozenset({State.RUNNING}),
    State.ABORTING: frozenset({State.QUEUED, State.RUNNING}),
    # From a done state when a finished task is reverted.
    State.RECOVERING: frozenset({State.ABORTING} | DONE),
    State.RECOVERED: frozenset({State.RECOVERING}),
    State.FAILED: frozenset({State.RECOVERING}),
}

_PUBLIC_STATE = {
    State.INIT: "init",
    State.QUEUED: "running",
    State.RUNNING: "running",
    State.FINISHED: "finished",
    State.ABORTING: "aborting",
    State.RECOVERING: "cleaning",
    State.RECOVERED: "finished",
    State.FAILED: "finished",
}

_PUBLIC_RESULT = {
    State.FINISHED: "success",
    State.RECOVERED: "cleanSuccess",
    State.FAILED: "cleanFailure",
}


def check_move(current: State, new: State) -> None:
    """Raise TaskStateTransitionError unless ``current -> new`` is allowed."""
    if current not in _SOURCES[new]:
        raise TaskStateTransitionError(f"from {current} to {new}")


def public_state(state: State) -> str:
    """The classic ``taskState``: init/running/finished/aborting/cleaning."""
    return _PUBLIC_STATE[state]


def public_result(state: State) -> str:
    """The classic ``taskResult``: '' until done, then the outcome."""
    return _PUBLIC_RESULT.get(state, "")
