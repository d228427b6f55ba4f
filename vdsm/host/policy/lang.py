"""The policy language: a small Lisp-like syntax (a subset of MOM's).

A policy is a sequence of expressions::

    # comment to the end of the line
    (defvar pressure_threshold 0.20)       numbers, "strings", names
    (if (< host_free_percent pressure_threshold) (shrink g) 0)
    { (set a 1) (set b 2) }                a block: the last value

Parsing gives plain :class:`Node` trees with their line numbers; nothing
here evaluates anything. Malformed text raises :class:`PolicySyntaxError`
naming the line and the reason, so a refused policy says where it broke.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_TEXT = 256 * 1024  # characters: a policy is a page or two, not a dump
MAX_DEPTH = 64         # nesting of parentheses and braces


class PolicySyntaxError(ValueError):
    """The policy text cannot be parsed; ``line`` is 1-based."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Symbol:
    name: str
    line: int


@dataclass(frozen=True)
class Call:
    """``(head args...)``; ``block`` marks ``{...}`` (evaluate in order)."""

    items: tuple[Node, ...]
    line: int
    block: bool = False


Node = int | float | str | Symbol | Call

_TOKEN = re.compile(r"""
    (?P<space>[ \t\r]+) | (?P<newline>\n) | (?P<comment>\#[^\n]*)
  | (?P<open>[({]) | (?P<close>[)}])
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<atom>[^\s(){}"\#]+)
""", re.VERBOSE)

_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_OPERATORS = frozenset({"+", "-", "*", "/", "<", ">", "<=", ">=", "==", "!="})


def parse(text: str) -> list[Node]:
    """The expressions of ``text``; raises PolicySyntaxError."""
    if len(text) > MAX_TEXT:
        raise PolicySyntaxError(1, f"policy longer than {MAX_TEXT} characters")
    stack: list[tuple[str, int, list[Node]]] = []
    top: list[Node] = []
    line = 1
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            if text[pos] == '"':
                raise PolicySyntaxError(line, "string not closed on its line")
            raise PolicySyntaxError(line, f"unexpected character {text[pos]!r}")
        pos = m.end()
        kind, value = m.lastgroup, m.group()
        if kind == "newline":
            line += 1
        elif kind in ("space", "comment"):
            continue
        elif kind == "open":
            if len(stack) >= MAX_DEPTH:
                raise PolicySyntaxError(line, f"nested deeper than {MAX_DEPTH}")
            stack.append((value, line, []))
        elif kind == "close":
            if not stack:
                raise PolicySyntaxError(line, f"unmatched {value!r}")
            opener, start, items = stack.pop()
            if (opener == "(") != (value == ")"):
                raise PolicySyntaxError(
                    line, f"{value!r} closes {opener!r} opened on line {start}")
            if opener == "(" and not items:
                raise PolicySyntaxError(start, "empty expression ()")
            node = Call(tuple(items), start, block=opener == "{")
            (stack[-1][2] if stack else top).append(node)
        else:
            atom = _atom(kind, value, line)
            (stack[-1][2] if stack else top).append(atom)
    if stack:
        opener, start, _ = stack[-1]
        raise PolicySyntaxError(start, f"{opener!r} is never closed")
    return top


def _atom(kind: str | None, value: str, line: int) -> Node:
    if kind == "string":
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if _NUMBER.match(value):
        number = float(value)
        return int(value) if number.is_integer() and "." not in value \
            and "e" not in value.lower() else number
    if value in _OPERATORS or _NAME.match(value):
        return Symbol(value, line)
    raise PolicySyntaxError(line, f"bad name {value!r}")
