"""The registration loop: CA, certificate request, retries, install."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from vdsm.common import pki
from vdsm.config import Config
from vdsm.host import osinfo
from vdsm_reg import backoff, certs
from vdsm_reg.exchange import (
    HostIdentity,
    ManagerClient,
    NotApproved,
    Refused,
    RegistrationError,
)

log = logging.getLogger(__name__)

MARKER = "registration.json"


class GaveUp(Exception):
    """The retry time ran out before the manager approved the host."""


@dataclass(frozen=True)
class Settings:
    url: str
    fingerprint: str
    retry_initial: float
    retry_max: float
    retry_timeout: float
    request_timeout: float
    address: str

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        get = lambda key: config.get("registration", key)  # noqa: E731
        return cls(get("manager_url"), get("manager_fingerprint"),
                   get("retry_initial"), get("retry_max"),
                   get("retry_timeout"), get("request_timeout"),
                   get("host_address"))


def identity(config: Config, settings: Settings) -> HostIdentity:
    """Name, address and port the manager will reach the agent at, and the
    host UUID the agent reports (vdsm.id beside vdsm.conf first)."""
    id_file = osinfo.vdsm_id_path(config.files)
    address = (settings.address or config.get("addresses", "management_ip")
               or _route_address(settings.url))
    return HostIdentity(name=socket.getfqdn(), address=address,
                        port=config.get("addresses", "management_port"),
                        unique_id=osinfo.host_uuid(id_file=id_file))


def _route_address(url: str) -> str:
    """The local address the kernel would use towards the manager."""
    parsed = urllib.parse.urlsplit(url)
    family = socket.AF_INET6 if ":" in (parsed.hostname or "") else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect((parsed.hostname, parsed.port or 443))
        return s.getsockname()[0]


def already_registered(config: Config, settings: Settings) -> bool:
    path = os.path.join(config.state_dir, MARKER)
    try:
        with open(path) as f:
            done = json.load(f)
    except FileNotFoundError:
        return False
    return done.get("manager_url") == settings.url and \
        os.path.exists(config.host_cert)


def register(config: Config, settings: Settings, *,
             sleep: Callable[[float], None] = time.sleep) -> None:
    """Register until approved, then install CA and certificate.

    Raises Refused (the manager said no), certs.CertificateError (what it
    sent must not be installed) or GaveUp (retry_timeout ran out). Every
    failed attempt is logged with the delay before the next one.
    """
    paths = pki.PkiPaths(config.pki_dir)
    client = ManagerClient(settings.url, timeout=settings.request_timeout)
    host = identity(config, settings)
    key = certs.host_key(paths)
    csr = certs.make_csr(key, host.name, [host.name, host.address])
    deadline = (time.monotonic() + settings.retry_timeout
                if settings.retry_timeout else 0)
    delays = backoff.schedule(settings.retry_initial, settings.retry_max,
                              deadline)
    ca_pem: bytes | None = None
    attempt = 0
    while True:
        attempt += 1
        try:
            if ca_pem is None:
                fetched = client.fetch_ca()
                ca = certs.check_ca(fetched, settings.fingerprint)
                if not settings.fingerprint:
                    log.warning("trusting manager CA %s on first use "
                                "(no manager_fingerprint configured)",
                                certs.fingerprint(fetched))
                ca_pem = fetched
            signed = client.register(ca_pem, host, csr)
            certs.check_host_cert(signed, key, ca)
            break
        except Refused:
            raise
        except RegistrationError as e:
            level = logging.INFO if isinstance(e, NotApproved) else logging.WARNING
            delay = next(delays, None)
            if delay is None:
                raise GaveUp(f"not registered after {attempt} attempts: {e}") from e
            log.log(level, "registration attempt %d with %s failed: %s; "
                    "retrying in %.2fs", attempt, settings.url, e, delay)
            sleep(delay)
    certs.install(paths, ca_pem, signed)
    certs.write_file(os.path.join(config.state_dir, MARKER), json.dumps({
        "manager_url": settings.url, "ca": certs.fingerprint(ca_pem),
        "attempts": attempt}).encode(), 0o644)
    log.info("registered with %s after %d attempts as %s (%s); vdsmd must be "
             "restarted to serve the new certificate", settings.url, attempt,
             host.name, host.unique_id)
