"""The allowlist: the only things supervdsmd does for its callers.

An op is a small function decorated with :func:`operation`::

    @operation
    def set_ksm(ctx: OpContext, *, run: bool, pages_to_scan: int) -> None:
        '''What it does and why vdsmd cannot do it itself.'''

Its parameters after ``ctx`` are keyword-only and annotated with JSON types
(``str``, ``int``, ``float``, ``bool``, ``list[...]``, ``dict[str, ...]``,
``X | None``). :func:`dispatch` checks every request against that
signature (missing, unexpected and wrongly typed arguments are refused
before the function runs); the function then checks ranges and paths and
raises a :class:`~vdsm.common.errors.VdsmError` subclass on bad input.

Ops live in the package's ``ops_*.py`` modules (:data:`OP_MODULES`); a
subsystem adds its own privileged ops by writing such a module.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import pkgutil
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from vdsm.common.errors import InvalidParameter, MissingParameter
from vdsm.config import Config
from vdsm.supervdsm.errors import UnknownOperation

log = logging.getLogger(__name__)

def _op_modules() -> tuple[str, ...]:
    """Every ``ops_*`` module of this package, in name order.

    The allowlist is the set of @operation functions in those modules: a
    subsystem adds privileged ops by adding an ``ops_<subsystem>.py`` here.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    return tuple(f"{__package__}.{info.name}"
                 for info in sorted(pkgutil.iter_modules([here]),
                                    key=lambda i: i.name)
                 if info.name.startswith("ops_"))


OP_MODULES: tuple[str, ...] = _op_modules()

MAX_STRING = 4096


@dataclass(frozen=True)
class Peer:
    """Credentials of the process on the other end (from SO_PEERCRED)."""

    pid: int
    uid: int
    gid: int


@dataclass(frozen=True)
class OpContext:
    """What an op may know besides its arguments."""

    config: Config
    peer: Peer


@dataclass(frozen=True)
class Operation:
    name: str
    func: Callable[..., Any]
    params: dict[str, tuple[Any, bool]]  # name -> (type hint, required)
    secret_args: frozenset[str] = field(default_factory=frozenset)

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.func) or ""

    def loggable(self, args: dict[str, Any]) -> dict[str, Any]:
        """Arguments for the audit log, with secrets masked."""
        return {k: ("****" if k in self.secret_args else v)
                for k, v in args.items()}


_REGISTRY: dict[str, Operation] = {}


def operation(func: Callable[..., Any] | None = None, *, name: str | None = None,
              secret_args: Iterable[str] = ()) -> Any:
    """Register ``func`` as an op (under its own name unless ``name``).

    Raises TypeError at import time when the signature is not one
    dispatch can validate, ValueError when the name is taken.
    """
    def register(f: Callable[..., Any]) -> Callable[..., Any]:
        op_name = name or f.__name__
        if op_name in _REGISTRY and _REGISTRY[op_name].func is not f:
            raise ValueError(f"supervdsm op {op_name!r} registered twice")
        _REGISTRY[op_name] = Operation(op_name, f, _signature(f),
                                       frozenset(secret_args))
        return f

    return register(func) if func is not None else register


def _signature(func: Callable[..., Any]) -> dict[str, tuple[Any, bool]]:
    hints = typing.get_type_hints(func)
    params = list(inspect.signature(func).parameters.values())
    if not params or params[0].kind != inspect.Parameter.POSITIONAL_OR_KEYWORD:
        raise TypeError(f"{func.__name__}: first parameter must be the context")
    result = {}
    for p in params[1:]:
        if p.kind != inspect.Parameter.KEYWORD_ONLY:
            raise TypeError(f"{func.__name__}: {p.name} must be keyword-only")
        hint = hints.get(p.name)
        if hint is None or not _supported(hint):
            raise TypeError(f"{func.__name__}: {p.name} needs a JSON type hint")
        result[p.name] = (hint, p.default is inspect.Parameter.empty)
    return result


def _supported(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return all(_supported(a) for a in args)
    if origin is list:
        return len(args) == 1 and _supported(args[0])
    if origin is dict:
        return len(args) == 2 and args[0] is str and _supported(args[1])
    return hint in (str, int, float, bool, type(None))


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is list:
        return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            isinstance(k, str) and _matches(v, args[1]) for k, v in value.items())
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str) and "\0" not in value \
            and len(value) <= MAX_STRING
    return False


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint)


def load(modules: Iterable[str] = OP_MODULES) -> dict[str, Operation]:
    """Import the op modules; return the allowlist (name -> Operation)."""
    for module in modules:
        importlib.import_module(module)
    return dict(_REGISTRY)


def validate(op: Operation, args: dict[str, Any]) -> None:
    """Refuse missing, unexpected or mistyped arguments.

    Raises MissingParameter or InvalidParameter.
    """
    unexpected = sorted(set(args) - set(op.params))
    if unexpected:
        raise InvalidParameter(
            f"{op.name}: unexpected argument(s): {', '.join(unexpected)}")
    for pname, (hint, required) in op.params.items():
        if pname not in args:
            if required:
                raise MissingParameter(f"{op.name}: missing argument {pname!r}")
            continue
        if not _matches(args[pname], hint):
            raise InvalidParameter(
                f"{op.name}: argument {pname!r} must be of type "
                f"{_type_name(hint)}, got {type(args[pname]).__name__}")


def dispatch(ops: dict[str, Operation], name: str, args: dict[str, Any],
             ctx: OpContext) -> Any:
    """Validate and run one request; return the op's JSON-able result.

    Raises UnknownOperation for a name outside the allowlist, the errors
    of :func:`validate`, and whatever VdsmError the op raises.
    """
    op = ops.get(name)
    if op is None:
        raise UnknownOperation(f"Unknown supervdsm operation {name[:100]!r}")
    validate(op, args)
    log.info("op %s from pid=%s uid=%s: %s", name, ctx.peer.pid, ctx.peer.uid,
             op.loggable(args))
    return op.func(ctx, **args)
