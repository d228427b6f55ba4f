"""The HTTPS exchange with the manager (client side).

Two requests on ``<manager_url>/services/host-register?version=1``:

* ``command=get-pki-trust`` (GET): the manager's CA certificate, PEM. Asked
  before any trust exists, so the caller checks it (fingerprint) itself.
* ``command=register`` (POST, form-encoded ``name``, ``address``, ``port``,
  ``uniqueId``, ``csr``): 200 with the signed host certificate (PEM) when
  approved; 202 or 503 while the host waits for approval (retry); any other
  answer refuses the registration.
"""

from __future__ import annotations

import http.client
import logging
import ssl
import urllib.parse
from dataclasses import dataclass

log = logging.getLogger(__name__)

PATH = "/services/host-register"
PENDING = (202, 503)


class RegistrationError(Exception):
    """The manager could not be reached or answered something unusable."""


class NotApproved(RegistrationError):
    """The manager has the request but has not approved the host yet."""


class Refused(RegistrationError):
    """The manager refused the registration; retrying will not help."""


@dataclass(frozen=True)
class HostIdentity:
    name: str
    address: str
    port: int
    unique_id: str


class ManagerClient:
    """One manager; not thread-safe (one registration loop uses it)."""

    def __init__(self, url: str, *, timeout: float) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "https" or not parsed.hostname:
            raise ValueError(f"manager_url must be https://host[:port]: {url!r}")
        self._host = parsed.hostname
        self._port = parsed.port or 443
        self._prefix = parsed.path.rstrip("/")
        self._timeout = timeout

    def fetch_ca(self) -> bytes:
        """The CA PEM, over TLS that is not verified yet (nothing to verify
        against); the caller must check it before trusting it."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        status, body = self._request(ctx, "GET", "get-pki-trust")
        if status != 200:
            raise RegistrationError(f"get-pki-trust answered HTTP {status}")
        return body

    def register(self, ca_pem: bytes, host: HostIdentity,
                 csr_pem: bytes) -> bytes:
        """The signed certificate PEM. The manager is verified against the
        CA fetched before. Raises NotApproved, Refused, RegistrationError."""
        ctx = ssl.create_default_context(cadata=ca_pem.decode("ascii"))
        form = urllib.parse.urlencode({
            "name": host.name, "address": host.address,
            "port": str(host.port), "uniqueId": host.unique_id,
            "csr": csr_pem.decode("ascii")}).encode()
        status, body = self._request(ctx, "POST", "register", form)
        if status == 200:
            return body
        reason = body[:200].decode("utf-8", "replace").strip()
        if status in PENDING:
            raise NotApproved(f"HTTP {status}: {reason}")
        raise Refused(f"HTTP {status}: {reason}")

    def _request(self, ctx: ssl.SSLContext, method: str, command: str,
                 body: bytes | None = None) -> tuple[int, bytes]:
        query = urllib.parse.urlencode({"version": "1", "command": command})
        conn = http.client.HTTPSConnection(self._host, self._port,
                                           timeout=self._timeout, context=ctx)
        headers = {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, f"{self._prefix}{PATH}?{query}", body=body,
                         headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read(1024 * 1024)
        except (OSError, http.client.HTTPException) as e:
            raise RegistrationError(f"{command}: {e}") from e
        finally:
            conn.close()
