"""Reaching the agent: address parsing, TLS setup, one XML-RPC call.

Every failure to talk to the agent (connection refused, a refused or
failed TLS handshake, a timeout, an HTTP error) becomes a TransportError
with one readable line; an XML-RPC Fault is the agent's answer and is left
to the caller.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import socket
import ssl
import xmlrpc.client
from dataclasses import dataclass
from typing import Any, Iterator

from vdsm.api.xmlrpc import wire_safe
from vdsm.common import pki
from vdsm_cli.errors import TransportError, UsageError

log = logging.getLogger(__name__)

LOCALHOST = "localhost"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: bool

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/RPC2"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_endpoint(text: str, *, default_port: int, tls: bool) -> Endpoint:
    """HOST, HOST:PORT, [V6]:PORT or a bare IPv6 address; ``0`` is localhost."""
    host, port = text, default_port
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise UsageError(f"bad address {text!r}: missing ']'")
        host, rest = text[1:end], text[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise UsageError(f"bad address {text!r}")
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _port(port_text, text)
    if host in ("", "0"):
        host = LOCALHOST
    return Endpoint(host, port, tls)


def _port(text: str, where: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"bad port in {where!r}")
    return int(text)


def tls_context(ca_cert: str, cert: str | None, key: str | None) -> ssl.SSLContext:
    """The client context; unreadable files are a TransportError."""
    for what, path in (("CA certificate", ca_cert), ("certificate", cert),
                       ("key", key)):
        if path is None:
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as e:
            raise TransportError(
                f"cannot read {what} {path}: {e.strerror} (give --cacert, "
                "--cert and --key, or run as a user who can read the "
                "host's trust store)") from None
    try:
        return pki.client_context(ca_cert, cert, key)
    except (ssl.SSLError, ValueError) as e:
        raise TransportError(f"bad TLS credentials ({cert}, {key}, {ca_cert}): "
                             f"{e}") from None


class _TimeoutMixin:
    timeout: float | None = None

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        conn = super().make_connection(host)  # type: ignore[misc]
        conn.timeout = self.timeout
        return conn


class _Transport(_TimeoutMixin, xmlrpc.client.Transport):
    pass


class _SafeTransport(_TimeoutMixin, xmlrpc.client.SafeTransport):
    pass


def make_proxy(endpoint: Endpoint, *, context: ssl.SSLContext | None,
               timeout: float | None) -> xmlrpc.client.ServerProxy:
    """A ServerProxy whose every socket operation ends within ``timeout``."""
    transport: xmlrpc.client.Transport
    if endpoint.tls:
        transport = _SafeTransport(context=context)
    else:
        transport = _Transport()
    transport.timeout = timeout  # type: ignore[attr-defined]
    log.debug("agent at %s, timeout %s s", endpoint.url, timeout)
    return xmlrpc.client.ServerProxy(endpoint.url, transport=transport,
                                     allow_none=True)


def call(proxy: xmlrpc.client.ServerProxy, endpoint: Endpoint, name: str,
         args: list[Any]) -> Any:
    """Call ``name``; big ints go as decimal strings, as the agent expects.

    Raises TransportError when the agent cannot be reached, and lets
    xmlrpc.client.Fault through.
    """
    with reaching(endpoint):
        return getattr(proxy, name)(*wire_safe(list(args)))


@contextlib.contextmanager
def reaching(endpoint: Endpoint) -> Iterator[None]:
    """Turn a failure to talk to ``endpoint`` into one TransportError line.

    Shared by both protocols, so XML-RPC and JSON-RPC report a refused
    connection, a TLS failure or a timeout in the same words. An XML-RPC
    Fault (an answer) passes through.
    """
    try:
        yield
    except xmlrpc.client.Fault:
        raise
    except xmlrpc.client.ProtocolError as e:
        raise TransportError(f"{endpoint}: HTTP error {e.errcode} "
                             f"{e.errmsg}") from None
    except ssl.SSLCertVerificationError as e:
        raise TransportError(f"{endpoint}: agent certificate not trusted: "
                             f"{e.verify_message}") from None
    except ssl.SSLError as e:
        raise TransportError(f"{endpoint}: TLS failed: {_ssl_reason(e)}"
                             f"{_tls_hint(endpoint)}") from None
    except TimeoutError:
        raise TransportError(f"{endpoint}: no answer within the timeout") from None
    except socket.gaierror as e:
        raise TransportError(f"{endpoint.host}: cannot resolve: "
                             f"{e.strerror}") from None
    except ConnectionRefusedError:
        raise TransportError(f"{endpoint}: connection refused (is vdsmd "
                             "running and listening there?)") from None
    except (http.client.RemoteDisconnected, ConnectionResetError,
            BrokenPipeError, ConnectionClosed) as e:
        raise TransportError(f"{endpoint}: connection closed by the agent "
                             f"({_describe(e)}){_tls_hint(endpoint)}") from None
    except (OSError, http.client.HTTPException) as e:
        raise TransportError(f"{endpoint}: {_describe(e)}") from None
    except xmlrpc.client.ResponseError as e:
        raise TransportError(f"{endpoint}: unreadable answer: {e}") from None


class ConnectionClosed(Exception):
    """The agent closed the connection before answering (any protocol)."""


def _ssl_reason(error: ssl.SSLError) -> str:
    return error.reason or str(error)


def _tls_hint(endpoint: Endpoint) -> str:
    if endpoint.tls:
        return "; was our certificate refused? (check --cert/--key)"
    return "; does the agent require TLS? (try -s)"


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
