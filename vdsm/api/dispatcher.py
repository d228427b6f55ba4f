"""Transport-independent dispatch: validate, call, wrap in the envelope.

A binding (XML-RPC now, JSON-RPC later) hands in a verb name, its
arguments and who called; it gets back the classic answer struct
``{'status': {'code', 'message'}, <payload key>: value}``. This is the one
place that turns exceptions into answers: expected errors (VdsmError) are
logged in one line, unexpected ones with their traceback, and both become
coded answers, so a failing verb never takes the server down.

Handlers are objects whose snake_case methods are named after the verb
(``Host.getCapabilities`` -> ``get_capabilities``) and take the parameters
as snake_case keywords (``vmID`` -> ``vm_id``). A namespace may have several
handler objects (each subsystem serves its own ``Host`` verbs); the first
that has the method serves the verb.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

from vdsm.api import codes
from vdsm.api.schema import Schema, Verb
from vdsm.common import secrets
from vdsm.common.errors import InvalidParameter, MethodNotImplemented, VdsmError

log = logging.getLogger(__name__)

Envelope = dict[str, Any]


class UnknownVerb(Exception):
    """No such verb in the schema; bindings answer it in their own way."""

    def __init__(self, name: str) -> None:
        self.verb = name
        super().__init__(f'method "{name}" is not supported')


@dataclass(frozen=True)
class CallContext:
    client: str = "local"
    transport: str = "direct"
    flow_id: str | None = None  # the engine's correlation id, logged

    @property
    def who(self) -> str:
        """The client (and flow id) as log lines show them."""
        if self.flow_id:
            return f"{self.client} flow_id={self.flow_id[:64]}"
        return self.client


# Observer of every answered call: (ctx, verb, wire code, elapsed seconds).
DoneCallback = Callable[[CallContext, Verb, int, float], None]


def snake_case(name: str) -> str:
    """vmID -> vm_id, getCapabilities -> get_capabilities, sdUUID -> sd_uuid."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return name.lower()


def status(name: str, message: str | None = None) -> dict[str, Any]:
    code, default = codes.CODES.get(name, codes.CODES["GeneralException"])
    return {"code": code, "message": message or default}


def error_code(error: BaseException) -> int:
    """The wire code of an exception (tasks report it in their status)."""
    if isinstance(error, VdsmError):
        return codes.CODES.get(error.name, codes.CODES["GeneralException"])[0]
    return codes.CODES["GeneralException"][0]


def success(verb: Verb, value: Any) -> Envelope:
    answer: Envelope = {"status": {"code": codes.SUCCESS[0],
                                   "message": codes.SUCCESS[1]}}
    if verb.payload == "*":
        # classic multi-key answers (getStoragePoolInfo, prepareImage, ...)
        # carry their payload's keys beside status
        answer.update(value)
    elif verb.payload:
        answer[verb.payload] = value
    return answer


class Dispatcher:
    """Calls verbs on namespace handlers. Thread-safe if the handlers are.

    ``on_done`` (also settable before serving, e.g. by the metrics) sees
    every answered call; its errors are logged, never answered.
    """

    def __init__(self, schema: Schema,
                 handlers: dict[str, object | list[object]], *,
                 on_call: Callable[[CallContext, Verb], None] | None = None,
                 on_done: DoneCallback | None = None) -> None:
        self.schema = schema
        self._handlers: dict[str, list[object]] = {
            ns: list(h) if isinstance(h, list) else [h]
            for ns, h in handlers.items()}
        self._on_call = on_call
        self.on_done = on_done

    def has_verb(self, name: str) -> bool:
        return self.schema.get(name) is not None

    def call_positional(self, name: str, args: list[Any] | tuple[Any, ...],
                        ctx: CallContext = CallContext()) -> Envelope:
        """A classic flat call: positional arguments in classic order."""
        verb = self._verb(name)
        start = time.monotonic()
        try:
            named = verb.bind_positional(args)
        except VdsmError as e:
            return self._failed(verb, ctx, start, e)
        return self._call(verb, named, ctx, start)

    def call_named(self, name: str, args: dict[str, Any],
                   ctx: CallContext = CallContext()) -> Envelope:
        """A namespaced call with named arguments (the JSON-RPC style)."""
        verb = self._verb(name)
        return self._call(verb, args, ctx, time.monotonic())

    def _verb(self, name: str) -> Verb:
        verb = self.schema.get(name)
        if verb is None:
            raise UnknownVerb(name)
        return verb

    def _call(self, verb: Verb, args: dict[str, Any], ctx: CallContext,
              start: float) -> Envelope:
        try:
            check_depth(args, verb.label)
            args = verb.validate(args)
            handler = self._handler(verb)
            if self._on_call:
                self._on_call(ctx, verb)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("[%s] calling %s with %s", ctx.who, verb.name,
                          _masked(verb, args))
            value = handler(**{snake_case(k): v for k, v in args.items()})
        except VdsmError as e:
            return self._failed(verb, ctx, start, e)
        except Exception:
            log.exception("[%s] %s failed unexpectedly", ctx.who, verb.name)
            answer = {"status": status("UnexpectedError")}
            self._log_done(verb, ctx, start, answer)
            return answer
        answer = success(verb, value)
        self._log_done(verb, ctx, start, answer)
        return answer

    def add_handlers(self, namespace: str, handler: object) -> None:
        """Register one more handler object for a namespace (at start-up)."""
        self._handlers.setdefault(namespace, []).append(handler)

    def _handler(self, verb: Verb) -> Callable[..., Any]:
        name = snake_case(verb.method)
        for target in self._handlers.get(verb.namespace, ()):
            method = getattr(target, name, None)
            if method is not None:
                return method
        raise MethodNotImplemented(
            f"Not implemented: {verb.name} is not available on this host")

    def _failed(self, verb: Verb, ctx: CallContext, start: float,
                error: VdsmError) -> Envelope:
        answer = {"status": status(error.name, error.message)}
        self._log_done(verb, ctx, start, answer)
        return answer

    def _log_done(self, verb: Verb, ctx: CallContext, start: float,
                  answer: Envelope) -> None:
        elapsed = time.monotonic() - start
        code = answer["status"]["code"]
        if self.on_done is not None:
            try:
                self.on_done(ctx, verb, code, elapsed)
            except Exception:
                log.exception("call observer failed on %s", verb.name)
        if code == 0:
            log.info("[%s] %s %s succeeded in %.3f s", ctx.who,
                     ctx.transport, verb.label, elapsed)
        else:
            log.info("[%s] %s %s failed (code=%s, %s) in %.3f s", ctx.who,
                     ctx.transport, verb.label, code,
                     answer["status"]["message"], elapsed)


MAX_DEPTH = 64


def check_depth(value: Any, where: str, limit: int = MAX_DEPTH) -> None:
    """Refuse arguments nested deeper than ``limit`` (lists and structs).

    Iterative on purpose: a recursive walk (repr, validation, a log line)
    of a value nested 50,000 levels raises RecursionError.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise InvalidParameter(f"Invalid parameter: {where}: arguments "
                                   f"nested deeper than {limit} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)


def _masked(verb: Verb, args: dict[str, Any]) -> dict[str, Any]:
    """Arguments for a log line: secret parameters and secret-keyed values
    inside structs and lists masked."""
    return {k: (secrets.MASK if (p := verb.param(k)) and p.secret
                else secrets.masked(v)) for k, v in args.items()}
