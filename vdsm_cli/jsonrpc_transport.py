"""vdsClient --jsonrpc: one call over STOMP/JSON-RPC, answered as XML-RPC would.

The verb is called by its namespaced name with its classic positional
arguments bound to their names (the schema's ``classic_params``), and the
JSON-RPC answer is turned back into the classic envelope, so printing and
exit codes are the same for both protocols:

- a result becomes ``{"status": {"code": 0, "message": "Done"}, <payload>:
  result}`` (for ``payload: "*"`` the result's keys beside ``status``; only
  ``status`` when the verb has no payload);
- an error with a verb code becomes ``{"status": {"code", "message"}}``;
- a JSON-RPC protocol error (-32768..-32000: unknown method, invalid
  request) is the counterpart of an XML-RPC Fault and raised as ``Fault``.

Values are kept as the agent sent them: JSON carries integers beyond 32
bits as numbers, where XML-RPC sends decimal strings.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from typing import Any, Iterator

from vdsm.api.dispatcher import success
from vdsm.api.schema import Verb
from vdsm_cli import transport
from vdsm_cli.jsonrpc_client import (
    ClientClosed,
    ClientError,
    JsonRpcError,
    StompClient,
)
from vdsm_cli.transport import Endpoint

log = logging.getLogger(__name__)

PROTOCOL_CODES = range(-32768, -32000 + 1)  # JSON-RPC 2.0 reserved codes


class Fault(Exception):
    """A JSON-RPC protocol error: the agent refused the request itself."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{message} (fault {code})")
        self.code = code
        self.message = message


def call(endpoint: Endpoint, verb: Verb, args: list[Any], *,
         context: ssl.SSLContext | None, timeout: float | None) -> dict[str, Any]:
    """The classic envelope of calling ``verb`` with positional ``args``.

    Raises TransportError when the agent cannot be reached (the words of
    the XML-RPC path), Fault for a JSON-RPC protocol error.
    """
    params = verb.bind_positional(args)
    log.debug("agent at %s (STOMP), timeout %s s", endpoint, timeout)
    with transport.reaching(endpoint), _unwrapped():
        client = StompClient(endpoint.host, endpoint.port, ssl_context=context,
                             timeout=timeout,  # type: ignore[arg-type]
                             connect_timeout=timeout)  # type: ignore[arg-type]
        try:
            result = client.call(verb.name, params)
        except JsonRpcError as e:
            if e.code in PROTOCOL_CODES:
                raise Fault(e.code, e.message) from None
            return {"status": {"code": e.code, "message": e.message}}
        finally:
            client.close()
    return envelope(verb, result)


def envelope(verb: Verb, result: Any) -> dict[str, Any]:
    """The classic success answer carrying a JSON-RPC ``result``."""
    if verb.payload == "*" and not isinstance(result, dict):
        result = {}
    return success(verb, result)


@contextlib.contextmanager
def _unwrapped() -> Iterator[None]:
    """Re-raise a client failure as what ended it, for transport.reaching.

    A closed connection with a socket error behind it becomes that error
    (a TLS alert, a reset); without one, transport.ConnectionClosed; a
    client timeout, TimeoutError.
    """
    try:
        yield
    except ClientError as e:
        if isinstance(e.__cause__, OSError):
            raise e.__cause__ from None
        if isinstance(e, ClientClosed):
            raise transport.ConnectionClosed(str(e)) from None
        raise TimeoutError(str(e)) from None
