"""Step results and the three ways they are shown.

The classic host bootstrap spoke to the engine in ``<BSTRAP .../>`` lines
on stdout, one per step; we keep that format so an engine can parse it.
People read the same results as plain text on stderr, and ``--json``
replaces the BSTRAP lines on stdout with one JSON document.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Iterable
from xml.sax.saxutils import quoteattr

OK = "OK"
WARN = "WARN"
FAIL = "FAIL"


@dataclass(frozen=True)
class StepResult:
    """What one bootstrap step found or did.

    ``changed`` says whether the step altered the host: a second run of a
    bootstrap that succeeded reports no changes at all.
    """

    component: str
    status: str
    message: str
    changed: bool = False

    @property
    def failed(self) -> bool:
        return self.status == FAIL


def ok(component: str, message: str, *, changed: bool = False) -> StepResult:
    return StepResult(component, OK, message, changed)


def warn(component: str, message: str, *, changed: bool = False) -> StepResult:
    return StepResult(component, WARN, message, changed)


def fail(component: str, message: str, *, changed: bool = False) -> StepResult:
    return StepResult(component, FAIL, message, changed)


def summary(results: Iterable[StepResult]) -> StepResult:
    """The closing RELEASE line: FAIL when any step failed."""
    results = list(results)
    failed = [r.component for r in results if r.failed]
    if failed:
        return fail("RELEASE", "failed steps: " + ", ".join(failed))
    changed = any(r.changed for r in results)
    return ok("RELEASE", "host configured" if changed else "already configured")


def _attr(value: str) -> str:
    # quoteattr picks double quotes when the value holds a single quote;
    # the classic format always uses single quotes, so escape them instead.
    text = quoteattr(value, {"'": "&apos;", '"': "&quot;"})
    return "'" + text[1:-1] + "'"


def bstrap_line(result: StepResult) -> str:
    """``<BSTRAP component='NAME' status='OK' message='...'/>``"""
    return (f"<BSTRAP component={_attr(result.component)} "
            f"status={_attr(result.status)} message={_attr(result.message)}/>")


def text_line(result: StepResult) -> str:
    mark = " (changed)" if result.changed else ""
    return f"[{result.status:>4}] {result.component}: {result.message}{mark}"


def to_json(results: Iterable[StepResult]) -> str:
    return json.dumps([asdict(r) for r in results], indent=2)
