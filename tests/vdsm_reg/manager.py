"""A test manager: the documented host-register exchange over HTTPS on
127.0.0.1 (OS-chosen port), signing requests with its own CA (test aid)."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import ssl
import tempfile
import threading
import urllib.parse
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from vdsm.common import pki


class Manager:
    """``refuse`` registrations are answered ``pending_status`` first; then
    each is signed (or answered ``final_status`` when that is set)."""

    def __init__(self) -> None:
        self.pki = pki.PkiPaths(tempfile.mkdtemp(prefix="test-manager-"))
        pki.create_ca(self.pki, "test-manager-ca")
        pki.issue_cert(self.pki, self.pki.host_cert, self.pki.host_key,
                       "manager", server=True, alt_names=["127.0.0.1"])
        with open(self.pki.ca_cert, "rb") as f:
            self.ca_pem = f.read()
        self.refuse = 0
        self.pending_status = 503
        self.final_status = 0
        self.wrong_key = False
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"manager": self})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                       handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.pki.host_cert, self.pki.host_key)
        self._server.socket = ctx.wrap_socket(self._server.socket,
                                              server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}/ovirt-engine"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def reset(self, **settings: Any) -> None:
        with self._lock:
            self.requests.clear()
            self.refuse, self.pending_status = 0, 503
            self.final_status, self.wrong_key = 0, False
            for name, value in settings.items():
                setattr(self, name, value)

    def registrations(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["command"] == "register"]

    def answer(self, command: str, form: dict[str, str]) -> tuple[int, bytes]:
        with self._lock:
            self.requests.append({"command": command, **form})
            if command == "get-pki-trust":
                return 200, self.ca_pem
            if command != "register":
                return 400, b"unknown command"
            if self.refuse > 0:
                self.refuse -= 1
                return self.pending_status, b"host is pending approval"
            if self.final_status:
                return self.final_status, b"registration rejected"
            return 200, self._sign(form["csr"].encode())

    def _sign(self, csr_pem: bytes) -> bytes:
        csr = x509.load_pem_x509_csr(csr_pem)
        with open(self.pki.ca_cert, "rb") as f:
            ca = x509.load_pem_x509_certificate(f.read())
        with open(self.pki.ca_key, "rb") as f:
            ca_key = serialization.load_pem_private_key(f.read(), None)
        public_key = csr.public_key()
        if self.wrong_key:   # a certificate for some other key
            public_key = ca_key.public_key()
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(csr.subject)
                .issuer_name(ca.subject).public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"),
                     x509.IPAddress(ipaddress.ip_address(
                         "127.0.0.1"))]), critical=False)
                .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
        return cert.public_bytes(serialization.Encoding.PEM)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


class _Handler(http.server.BaseHTTPRequestHandler):
    manager: Manager

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._reply({})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode()
        self._reply(dict(urllib.parse.parse_qsl(body)))

    def _reply(self, form: dict[str, str]) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path != "/ovirt-engine/services/host-register" or \
                query.get("version") != "1":
            status, body = 404, b"not found"
        else:
            status, body = self.manager.answer(query.get("command", ""), form)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass
