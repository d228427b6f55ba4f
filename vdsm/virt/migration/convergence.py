"""When to raise the downtime and when to give a migration up.

Pure policy, fed with the migration's job statistics at each look: a look
that finds less data remaining than ever before is progress; a look that
finds QEMU in a later pass over memory without a new low is stalled, and
the schedule's stalling steps fire in order as the count of stalled looks
since the last progress reaches their limit (a limit of -1
fires once every other step has). Beside the schedule, two hard limits
abort: no progress for ``progress_timeout`` seconds, and a total time past
the budget. Downtime values never exceed the maximum the caller allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

from vdsm.virt.migration.params import Action, Schedule

ABORT_STALLED = "stalled"
ABORT_TIMEOUT = "timeout"


@dataclass(frozen=True)
class Decision:
    actions: tuple[Action, ...] = ()
    abort: str | None = None     # ABORT_STALLED / ABORT_TIMEOUT / "schedule"
    message: str = ""


class Convergence:
    def __init__(self, schedule: Schedule, *, max_downtime: int,
                 progress_timeout: float, time_budget: float | None,
                 started: float) -> None:
        self.schedule = schedule
        self.max_downtime = max_downtime
        self.progress_timeout = progress_timeout
        self.time_budget = time_budget
        self.started = started
        self.lowmark: int | None = None
        self.last_progress = started
        self.stalled_looks = 0
        self._next_step = 0
        self._iteration = 0
        self.downtime: int | None = None

    def _clamp(self, action: Action) -> Action:
        if action.name == "setDowntime" and action.value is not None:
            value = min(action.value, self.max_downtime)
            self.downtime = value
            return Action(action.name, value)
        return action

    def initial(self) -> tuple[Action, ...]:
        return tuple(self._clamp(a) for a in self.schedule.init)

    def observe(self, now: float, remaining: int,
                iteration: int | None = None) -> Decision:
        """One look: ``remaining`` bytes still to send at ``now``, in QEMU's
        memory pass ``iteration`` (None when unknown: every look counts)."""
        if self.lowmark is None or remaining < self.lowmark:
            self.lowmark = remaining
            self.last_progress = now
            self.stalled_looks = 0
        elif iteration is None or iteration > self._iteration:
            # a whole new pass over memory without a new low: stalled
            self.stalled_looks += 1
        if iteration is not None:
            self._iteration = iteration
        elapsed = now - self.started
        if self.time_budget and elapsed > self.time_budget:
            return Decision(abort=ABORT_TIMEOUT, message=(
                f"Migration took {elapsed:.0f} s, over its budget of "
                f"{self.time_budget:.0f} s"))
        if now - self.last_progress > self.progress_timeout:
            return Decision(abort=ABORT_STALLED, message=(
                f"Migration made no progress for {now - self.last_progress:.0f}"
                f" s ({remaining} bytes remaining)"))
        if not self.stalled_looks:
            return Decision()
        return self._stalling()

    def _stalling(self) -> Decision:
        steps = self.schedule.stalling
        fired: list[Action] = []
        while self._next_step < len(steps):
            step = steps[self._next_step]
            if step.limit >= 0 and self.stalled_looks < step.limit:
                break
            if step.limit < 0 and fired:
                break   # a -1 step comes at a later look than the others
            self._next_step += 1
            if step.action.name == "abort":
                return Decision(tuple(fired), abort="schedule", message=(
                    f"Migration aborted by its convergence schedule after "
                    f"{self.stalled_looks} stalled look(s)"))
            fired.append(self._clamp(step.action))
        return Decision(tuple(fired))
