"""The source agent's client to the destination agent.

The destination is called over its public API (classic XML-RPC), with this
host's own certificate: agents trust each other through the data center's
CA exactly as they trust the engine. Every call is bounded by a timeout;
a peer that cannot be reached is NoConnectionToPeer (10).
"""

from __future__ import annotations

import http.client
import logging
import ssl
import xmlrpc.client
from dataclasses import dataclass
from typing import Any

from vdsm.common import pki
from vdsm.common.errors import VdsmError

log = logging.getLogger(__name__)


class NoConnectionToPeer(VdsmError):
    name = "NoConnectionToPeer"
    default_message = "Could not connect to peer VDS"


class PeerError(VdsmError):
    """The peer answered a call with an error status (code kept)."""

    name = "MigrationError"
    default_message = "Fatal error during migration"

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class PeerCredentials:
    ca_cert: str = ""
    cert: str = ""
    key: str = ""
    use_tls: bool = True

    def context(self) -> ssl.SSLContext | None:
        if not self.use_tls:
            return None
        return pki.client_context(self.ca_cert, self.cert, self.key)


class _Transport(xmlrpc.client.Transport):
    def __init__(self, context: ssl.SSLContext | None, timeout: float) -> None:
        super().__init__()
        self._context = context
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        if self._connection and host == self._connection[0]:
            return self._connection[1]
        chost, self._extra_headers, _ = self.get_host_info(host)
        if self._context is None:
            conn: http.client.HTTPConnection = http.client.HTTPConnection(
                chost, timeout=self._timeout)
        else:
            conn = http.client.HTTPSConnection(chost, timeout=self._timeout,
                                               context=self._context)
        self._connection = host, conn
        return conn


class Peer:
    """One destination agent; ``call`` answers the payload or raises."""

    def __init__(self, host: str, port: int, creds: PeerCredentials,
                 timeout: float) -> None:
        self.address = f"{host}:{port}"
        netloc = f"[{host}]:{port}" if ":" in host else self.address
        scheme = "https" if creds.use_tls else "http"
        self._proxy = xmlrpc.client.ServerProxy(
            f"{scheme}://{netloc}", allow_none=True,
            transport=_Transport(creds.context(), timeout))

    def call(self, verb: str, *args: Any) -> dict[str, Any]:
        try:
            answer = getattr(self._proxy, verb)(*args)
        except (OSError, http.client.HTTPException,
                xmlrpc.client.ProtocolError) as e:
            raise NoConnectionToPeer(f"Could not connect to peer VDS "
                                     f"{self.address}: {e}") from None
        except xmlrpc.client.Fault as e:
            raise PeerError(f"peer {self.address} failed {verb}: "
                            f"{e.faultString}", 12) from None
        status = answer.get("status", {}) if isinstance(answer, dict) else {}
        code = status.get("code", 0)
        if code:
            raise PeerError(status.get("message", "error"), code)
        return answer

    def close(self) -> None:
        self._proxy("close")()
