"""The JSON-RPC 2.0 binding on the dispatcher (the engine's and vdsm-client's).

Bytes of a request (one object or a batch) in, bytes of the answer out
(None when every call was a notification). The classic envelope becomes
the JSON-RPC shape: the payload alone as ``result`` (``true`` for verbs
without one), or ``error: {code, message}`` with the classic code. The
JSON-RPC codes are used where the classic ones have nothing to say: an
unparsable body (-32700), a request that is not a call (-32600), an
unknown method (-32601), params that are neither an object nor an array
(-32602), an answer that cannot be encoded (-32603).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from vdsm.api.dispatcher import CallContext, Dispatcher, Envelope, UnknownVerb

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

MAX_BATCH = 1000


def _error(code: int, message: str, ident: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message},
            "id": ident}


def result_of(dispatcher: Dispatcher, name: str, answer: Envelope) -> Any:
    """The JSON-RPC result carried by a successful classic envelope."""
    verb = dispatcher.schema.get(name)
    payload = verb.payload if verb is not None else None
    if payload == "*":
        return {k: v for k, v in answer.items() if k != "status"}
    if payload:
        return answer.get(payload)
    return True


class JsonRpcBinding:
    """Serve a Dispatcher over JSON-RPC 2.0. Thread-safe."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher

    def handle(self, body: bytes, ctx: CallContext) -> bytes | None:
        request, error = self.parse(body, ctx)
        if error is not None:
            return error
        return self.answer(request, ctx)

    def parse(self, body: bytes, ctx: CallContext) -> tuple[Any, bytes | None]:
        """(the request, None) or (None, the encoded parse error)."""
        try:
            return json.loads(body), None
        except (ValueError, RecursionError) as e:
            log.info("[%s] unparsable JSON-RPC request: %s", ctx.client,
                     str(e)[:200])
            return None, _encode(_error(PARSE_ERROR,
                                        f"Parse error: {str(e)[:200]}"))

    def inline(self, request: Any) -> bool:
        """True if every call in ``request`` is to a verb the schema marks
        inline (answered from memory at once): no worker needed."""
        calls = request if isinstance(request, list) else [request]
        schema = self._dispatcher.schema
        for call in calls:
            if not isinstance(call, dict) or not isinstance(call.get("method"), str):
                return False
            verb = schema.get(call["method"])
            if verb is None or not verb.inline:
                return False
        return bool(calls)

    def answer(self, request: Any, ctx: CallContext) -> bytes | None:
        """The encoded answer to a parsed request (None: notifications only)."""
        if isinstance(request, list):
            if not request:
                return _encode(_error(INVALID_REQUEST,
                                      "Invalid request: empty batch"))
            if len(request) > MAX_BATCH:
                return _encode(_error(INVALID_REQUEST, "Invalid request: "
                                      f"a batch of more than {MAX_BATCH} calls"))
            answers = [a for a in (self._one(r, ctx) for r in request)
                       if a is not None]
            return _encode(answers) if answers else None
        answer = self._one(request, ctx)
        return _encode(answer) if answer is not None else None

    def _one(self, request: Any, ctx: CallContext) -> dict[str, Any] | None:
        if not isinstance(request, dict):
            return _error(INVALID_REQUEST, "Invalid request: not an object")
        ident = request.get("id")
        notification = "id" not in request
        method = request.get("method")
        params = request.get("params", {})
        if request.get("jsonrpc") != "2.0" or not isinstance(method, str) or \
                not isinstance(ident, (str, int, type(None))) or \
                isinstance(ident, bool):
            return _error(INVALID_REQUEST, "Invalid request: needs jsonrpc "
                          "'2.0', a method name and a string or number id",
                          ident if isinstance(ident, (str, int)) else None)
        if not isinstance(params, (dict, list)):
            answer = _error(INVALID_PARAMS, "Invalid params: must be an "
                            "object of named parameters", ident)
            return None if notification else answer
        try:
            if isinstance(params, dict):
                envelope = self._dispatcher.call_named(method, params, ctx)
            else:
                envelope = self._dispatcher.call_positional(method, params, ctx)
        except UnknownVerb:
            log.info("[%s] unknown JSON-RPC method %r", ctx.client, method[:100])
            answer = _error(METHOD_NOT_FOUND,
                            f"Method not found: {method[:100]}", ident)
            return None if notification else answer
        if notification:
            return None
        status = envelope["status"]
        if status["code"] != 0:
            return {"jsonrpc": "2.0", "id": ident,
                    "error": {"code": status["code"],
                              "message": status["message"]}}
        return {"jsonrpc": "2.0", "id": ident,
                "result": result_of(self._dispatcher, method, envelope)}


def _encode(answer: Any) -> bytes:
    try:
        return json.dumps(answer, separators=(",", ":")).encode()
    except (TypeError, ValueError) as e:
        log.error("cannot encode a JSON-RPC answer: %s", e)
        ident = answer.get("id") if isinstance(answer, dict) else None
        return json.dumps(_error(INTERNAL_ERROR,
                                 f"Internal error: {e}", ident)).encode()


def notification(method: str, params: dict[str, Any]) -> bytes:
    """An event as JSON-RPC: a request without id."""
    return json.dumps({"jsonrpc": "2.0", "method": method, "params": params},
                      separators=(",", ":"), default=str).encode()
