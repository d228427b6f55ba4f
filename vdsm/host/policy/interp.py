"""Interpreting a parsed policy: arithmetic, comparisons, conditionals,
variables, functions and loops over guests. Never Python's ``eval``.

Special forms: ``defvar`` (a variable in the current scope),
``defparam`` (a tunable: its default unless a parameter of that name was
given, see ``Host.setMOMPolicyParameters``), ``set``
(change an existing one), ``if``, ``and``/``or`` (short-circuit), ``def``
(a function), ``with`` (``(with Guests g body...)``: body once per item),
and ``{...}`` blocks. Builtins: ``+ - * / < > <= >= == != not abs min max
valid debug``. ``a.b`` reads attribute ``b`` of entity ``a``;
``(a.M args)`` calls method ``M`` of entity ``a`` (see :mod:`entities`).

:func:`check` refuses, before a policy is accepted, calls of names that are
neither builtins nor defined, and special forms of the wrong shape. A cycle
is bounded (:data:`MAX_STEPS`, :data:`MAX_CALL_DEPTH`); errors at run time
raise :class:`PolicyRuntimeError` with the line. Not thread-safe: one
interpreter runs one cycle at a time.
"""

from __future__ import annotations

import logging
import operator
from typing import Any, Callable

from vdsm.host.policy.lang import Call, Node, PolicySyntaxError, Symbol

log = logging.getLogger(__name__)

MAX_STEPS = 1_000_000
MAX_CALL_DEPTH = 32


class PolicyRuntimeError(RuntimeError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def _divide(a: Any, b: Any) -> Any:
    if b == 0:
        raise ZeroDivisionError("division by zero")
    return a / b


def _minus(*args: Any) -> Any:
    if len(args) == 1:
        return -args[0]
    if len(args) != 2:
        raise TypeError("- takes one or two arguments")
    return args[0] - args[1]


def _fold(func: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    def apply(*args: Any) -> Any:
        if not args:
            raise TypeError("needs at least one argument")
        result = args[0]
        for value in args[1:]:
            result = func(result, value)
        return result
    return apply


def _binary(func: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    def apply(*args: Any) -> Any:
        if len(args) != 2:
            raise TypeError("takes two arguments")
        result = func(*args)
        return int(result) if isinstance(result, bool) else result
    return apply


def _debug(*args: Any) -> int:
    log.debug("policy: %s", " ".join(str(a) for a in args))
    return 0


BUILTINS: dict[str, Callable[..., Any]] = {
    "+": _fold(operator.add), "*": _fold(operator.mul), "-": _minus,
    "/": _binary(_divide),
    "<": _binary(operator.lt), ">": _binary(operator.gt),
    "<=": _binary(operator.le), ">=": _binary(operator.ge),
    "==": _binary(operator.eq), "!=": _binary(operator.ne),
    "not": lambda x: int(not truth(x)), "abs": abs,
    "min": lambda *a: min(a), "max": lambda *a: max(a),
    "valid": lambda *a: int(all(v is not None for v in a)),
    "debug": _debug,
}

# special form -> (minimum, maximum) number of arguments (None: any)
SPECIAL: dict[str, tuple[int, int | None]] = {
    "defvar": (2, 2), "defparam": (2, 2), "set": (2, 2), "if": (2, 3), "and": (1, None),
    "or": (1, None), "def": (3, None), "with": (3, None),
}


def truth(value: Any) -> bool:
    return value is not None and value != 0 and value != ""


class Function:
    def __init__(self, name: str, params: list[str], body: tuple[Node, ...]):
        self.name, self.params, self.body = name, params, body


class Scope:
    def __init__(self, parent: Scope | None = None) -> None:
        self.vars: dict[str, Any] = {}
        self.parent = parent

    def find(self, name: str) -> Scope | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.vars:
                return scope
            scope = scope.parent
        return None


def check(program: list[Node]) -> None:
    """Refuse what would fail on every run; raises PolicySyntaxError."""
    defined = {n.items[1].name for n in _calls(program)
               if _head(n) == "def" and len(n.items) > 1
               and isinstance(n.items[1], Symbol)}
    for node in _calls(program):
        head = _head(node)
        if node.block:
            continue
        if head is None:
            raise PolicySyntaxError(node.line, "a call must start with a name")
        if head in SPECIAL:
            _check_special(node, head)
        elif head not in BUILTINS and head not in defined and "." not in head:
            raise PolicySyntaxError(node.line, f"unknown function {head!r}")


def _check_special(node: Call, head: str) -> None:
    low, high = SPECIAL[head]
    count = len(node.items) - 1
    if count < low or (high is not None and count > high):
        raise PolicySyntaxError(node.line, f"{head} takes {low}"
                                + ("" if high == low else "+" if high is None
                                   else f"..{high}") + f" arguments, got {count}")
    if head in ("defvar", "defparam", "set", "def", "with"):
        target = node.items[2 if head == "with" else 1]
        if not isinstance(target, Symbol) or "." in target.name:
            raise PolicySyntaxError(node.line, f"{head} needs a plain name")
    if head == "def":
        params = node.items[2]
        if not isinstance(params, Call) or params.block or not all(
                isinstance(p, Symbol) and "." not in p.name for p in params.items):
            raise PolicySyntaxError(node.line, "def needs a (parameter list)")


def _calls(nodes: tuple[Node, ...] | list[Node]) -> list[Call]:
    found: list[Call] = []
    for node in nodes:
        if isinstance(node, Call):
            found.append(node)
            # a def's parameter list is not a call
            rest = node.items[3:] if _head(node) == "def" else node.items
            found.extend(_calls(rest))
    return found


def _head(node: Call) -> str | None:
    if node.items and isinstance(node.items[0], Symbol):
        return node.items[0].name
    return None


class Interpreter:
    """Runs a checked program against the given global values."""

    def __init__(self, program: list[Node], *, checked: bool = False) -> None:
        """``checked``: the program already passed :func:`check` (a policy
        accepted once is not checked again every cycle)."""
        if not checked:
            check(program)
        self.program = program
        self.functions: dict[str, Function] = {}
        self._steps = 0
        self._depth = 0
        self._root = Scope()

    def run(self, values: dict[str, Any]) -> Scope:
        """Evaluate the whole program once; return its global scope.

        Raises PolicyRuntimeError (with the line) on the first error.
        """
        scope = Scope()
        scope.vars.update(values)
        self._root = scope
        self.functions = {}
        self._steps = 0
        self._depth = 0
        for node in self.program:
            self.eval(node, scope)
        return scope

    def eval(self, node: Node, scope: Scope) -> Any:
        self._steps += 1
        if self._steps > MAX_STEPS:
            raise PolicyRuntimeError(_line(node), f"more than {MAX_STEPS} steps")
        if isinstance(node, Symbol):
            return self._lookup(node, scope)
        if not isinstance(node, Call):
            return node
        if node.block:
            result: Any = 0
            for item in node.items:
                result = self.eval(item, scope)
            return result
        head = _head(node)
        assert head is not None  # check() refused it
        try:
            if head in SPECIAL:
                return getattr(self, f"_form_{head}")(node, scope)
            args = [self.eval(a, scope) for a in node.items[1:]]
            if head in BUILTINS:
                return BUILTINS[head](*args)
            if head in self.functions:
                return self._call(self.functions[head], args, node)
            target, _, method = head.rpartition(".")
            entity = self._lookup(Symbol(target, node.line), scope)
            return entity.call(method, args)
        except PolicyRuntimeError:
            raise
        except (TypeError, ValueError, ZeroDivisionError, AttributeError,
                KeyError) as e:
            raise PolicyRuntimeError(node.line, f"({head} ...): {e}") from None

    def _lookup(self, sym: Symbol, scope: Scope) -> Any:
        name, *attrs = sym.name.split(".")
        found = scope.find(name)
        if found is None:
            raise PolicyRuntimeError(sym.line, f"undefined variable {name!r}")
        value = found.vars[name]
        for attr in attrs:
            if not hasattr(value, "get_attr"):
                raise PolicyRuntimeError(sym.line, f"{name!r} has no attributes")
            value = value.get_attr(attr)
        return value

    def _call(self, func: Function, args: list[Any], node: Call) -> Any:
        if len(args) != len(func.params):
            raise PolicyRuntimeError(node.line, f"{func.name} takes "
                                     f"{len(func.params)} arguments, got {len(args)}")
        if self._depth >= MAX_CALL_DEPTH:
            raise PolicyRuntimeError(node.line, "functions nested too deep")
        scope = Scope(self._root)
        scope.vars.update(zip(func.params, args, strict=True))
        self._depth += 1
        try:
            result: Any = 0
            for item in func.body:
                result = self.eval(item, scope)
            return result
        finally:
            self._depth -= 1

    # --- special forms ----------------------------------------------------
    def _form_defvar(self, node: Call, scope: Scope) -> Any:
        value = self.eval(node.items[2], scope)
        scope.vars[node.items[1].name] = value  # type: ignore[union-attr]
        return value

    def _form_defparam(self, node: Call, scope: Scope) -> Any:
        name = node.items[1].name  # type: ignore[union-attr]
        if name in self._root.vars:   # given as a parameter
            return self._root.vars[name]
        value = self.eval(node.items[2], scope)
        scope.vars[name] = value
        return value

    def _form_set(self, node: Call, scope: Scope) -> Any:
        name = node.items[1].name  # type: ignore[union-attr]
        found = scope.find(name)
        if found is None:
            raise PolicyRuntimeError(node.line, f"set of undefined {name!r}")
        value = self.eval(node.items[2], scope)
        found.vars[name] = value
        return value

    def _form_if(self, node: Call, scope: Scope) -> Any:
        if truth(self.eval(node.items[1], scope)):
            return self.eval(node.items[2], scope)
        return self.eval(node.items[3], scope) if len(node.items) > 3 else 0

    def _form_and(self, node: Call, scope: Scope) -> Any:
        value: Any = 1
        for item in node.items[1:]:
            value = self.eval(item, scope)
            if not truth(value):
                return 0
        return value

    def _form_or(self, node: Call, scope: Scope) -> Any:
        for item in node.items[1:]:
            value = self.eval(item, scope)
            if truth(value):
                return value
        return 0

    def _form_def(self, node: Call, scope: Scope) -> Any:
        name = node.items[1].name  # type: ignore[union-attr]
        params = [p.name for p in node.items[2].items]  # type: ignore[union-attr]
        self.functions[name] = Function(name, params, node.items[3:])
        return 0

    def _form_with(self, node: Call, scope: Scope) -> Any:
        items = self.eval(node.items[1], scope)
        if not isinstance(items, (list, tuple)):
            raise PolicyRuntimeError(node.line, "with needs a collection")
        name = node.items[2].name  # type: ignore[union-attr]
        result: Any = 0
        for item in items:
            inner = Scope(scope)
            inner.vars[name] = item
            for body in node.items[3:]:
                result = self.eval(body, inner)
        return result


def _line(node: Node) -> int:
    return getattr(node, "line", 0)
