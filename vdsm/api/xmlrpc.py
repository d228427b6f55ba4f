"""The classic XML-RPC binding: bytes of a methodCall in, a methodResponse out.

Transport-free: the API server (:mod:`vdsm.api.server`) reads whole HTTP
requests and runs this in a worker. Verbs take positional arguments in
classic order and answer the classic envelope; integers beyond 32 bits
travel as strings, as the classic agent sends them.
"""

from __future__ import annotations

import logging
import xmlrpc.client
from typing import Any

from vdsm.api.dispatcher import CallContext, Dispatcher, UnknownVerb

log = logging.getLogger(__name__)

INT32_MIN = -(2 ** 31)
INT32_MAX = 2 ** 31 - 1


def wire_safe(value: Any) -> Any:
    """Make a value XML-RPC can carry: big integers become strings.

    The classic agent sends sizes and counters beyond 32 bits as decimal
    strings; clients convert them back.
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if INT32_MIN <= value <= INT32_MAX:
            return value
        return str(value)
    if isinstance(value, dict):
        return {str(k): wire_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [wire_safe(v) for v in value]
    return value


def _fault(code: int, message: str) -> bytes:
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, message),
                               methodresponse=True, allow_none=True).encode()


class XmlRpcBinding:
    """Serve a Dispatcher over XML-RPC. Thread-safe."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher

    def handle(self, body: bytes, ctx: CallContext) -> bytes:
        try:
            params, method = xmlrpc.client.loads(body, use_builtin_types=True)
        except Exception as e:  # noqa: BLE001 - any parse failure is the client's
            log.info("[%s] malformed XML-RPC request: %s", ctx.client,
                     str(e)[:200])
            return _fault(1, f"Malformed XML-RPC request: "
                          f"{type(e).__name__}: {str(e)[:200]}")
        if not isinstance(method, str):
            return _fault(1, "Malformed XML-RPC request: no method name")
        if method.startswith("system."):
            return self._system(method, params)
        try:
            answer = self._dispatcher.call_positional(method, params, ctx)
        except UnknownVerb as e:
            log.info("[%s] unknown verb %r", ctx.client, method[:100])
            return _fault(1, str(e))
        try:
            return xmlrpc.client.dumps((wire_safe(answer),), methodresponse=True,
                                       allow_none=True).encode()
        except (TypeError, OverflowError) as e:
            log.error("[%s] cannot encode the answer of %s: %s", ctx.client,
                      method, e)
            return _fault(16, f"Unexpected exception: cannot encode answer: {e}")

    def _system(self, method: str, params: tuple[Any, ...]) -> bytes:
        schema = self._dispatcher.schema
        if method == "system.listMethods":
            names = schema.names() + ["system.listMethods", "system.methodHelp"]
            value: Any = names
        elif method == "system.methodHelp" and len(params) == 1:
            verb = schema.get(str(params[0]))
            value = verb.description if verb else ""
        else:
            return _fault(1, f'method "{method[:100]}" is not supported')
        return xmlrpc.client.dumps((value,), methodresponse=True).encode()
