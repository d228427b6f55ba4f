"""What a policy reads and steers: the Host and each guest.

An entity exposes figures as attributes (``Host.mem_free``,
``guest.balloon_cur``) and three methods: ``(X.Stat "name")`` and
``(X.StatAvg "name")`` (the figure, or nothing when it is unknown: test it
with ``valid``) and ``(X.Control "name" value)``, which records a wish.
The engine applies the wishes after the whole policy ran, so a policy
that fails half way changes nothing. Only the names in ``controls`` may
be set: a misspelled control is an error, not a silent no-op.
"""

from __future__ import annotations

from typing import Any

HOST_CONTROLS = frozenset({"ksm_run", "ksm_pages_to_scan", "ksm_sleep_millisecs",
                           "ksm_merge_across_nodes"})
GUEST_CONTROLS = frozenset({"balloon_target", "io_tune"})


class Entity:
    """Figures to read and a record of the controls set (not thread-safe)."""

    def __init__(self, kind: str, figures: dict[str, Any],
                 controls: frozenset[str]) -> None:
        self.kind = kind
        self.figures = figures
        self.allowed = controls
        self.controls: dict[str, Any] = {}

    def get_attr(self, name: str) -> Any:
        if name not in self.figures:
            raise AttributeError(f"{self.kind} has no figure {name!r}")
        return self.figures[name]

    def call(self, method: str, args: list[Any]) -> Any:
        if method in ("Stat", "StatAvg"):
            if len(args) != 1 or not isinstance(args[0], str):
                raise TypeError(f"{method} takes one figure name")
            return self.figures.get(args[0])
        if method == "Control":
            if len(args) != 2 or args[0] not in self.allowed:
                raise ValueError(f"Control takes a name of "
                                 f"{', '.join(sorted(self.allowed))} and a value")
            if args[1] is None:
                raise ValueError(f"Control {args[0]}: no value")
            self.controls[args[0]] = args[1]
            return args[1]
        raise AttributeError(f"{self.kind} has no method {method!r}")

    def __str__(self) -> str:
        return f"{self.kind}({self.figures.get('id', '')})"


def host(figures: dict[str, Any]) -> Entity:
    return Entity("Host", figures, HOST_CONTROLS)


def guest(figures: dict[str, Any]) -> Entity:
    return Entity("guest", figures, GUEST_CONTROLS)
