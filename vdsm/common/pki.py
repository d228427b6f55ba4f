"""The agent's PKI: a self-signed CA, the host certificate, client certificates.

Certificates are made with ``cryptography``; TLS contexts with Python's
``ssl``. Both the API server and its clients require a certificate signed
by the trusted CA (mutual TLS).
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import socket
import ssl
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vdsm.common import fileutils

log = logging.getLogger(__name__)

KEY_BITS = 2048
VALID_DAYS = 3650


@dataclass(frozen=True)
class PkiPaths:
    """The classic trust store layout under one directory."""

    root: str

    @property
    def ca_cert(self) -> str:
        return os.path.join(self.root, "certs", "cacert.pem")

    @property
    def ca_key(self) -> str:
        return os.path.join(self.root, "private", "cakey.pem")

    @property
    def host_cert(self) -> str:
        return os.path.join(self.root, "certs", "vdsmcert.pem")

    @property
    def host_key(self) -> str:
        return os.path.join(self.root, "keys", "vdsmkey.pem")

    def client_cert(self, name: str) -> str:
        return os.path.join(self.root, "certs", f"{name}cert.pem")

    def client_key(self, name: str) -> str:
        return os.path.join(self.root, "keys", f"{name}key.pem")


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vdsm"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _write(path: str, data: bytes, mode: int) -> None:
    fileutils.write_atomic(path, data, mode)


def _write_key(path: str, key: rsa.RSAPrivateKey) -> None:
    _write(path, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), 0o600)


def _write_cert(path: str, cert: x509.Certificate) -> None:
    _write(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def create_ca(paths: PkiPaths, common_name: str = "vdsm-ca") -> bool:
    """Create the CA unless it exists. Returns True when one was made."""
    if os.path.exists(paths.ca_cert) and os.path.exists(paths.ca_key):
        return False
    key = _new_key()
    now = datetime.datetime.now(datetime.UTC)
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0),
                       critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True,
            content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(
            key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(paths.ca_key, key)
    _write_cert(paths.ca_cert, cert)
    log.info("created CA %s", paths.ca_cert)
    return True


def _load_ca(paths: PkiPaths) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    with open(paths.ca_cert, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(paths.ca_key, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    return cert, key  # type: ignore[return-value]


def issue_cert(paths: PkiPaths, cert_path: str, key_path: str,
               common_name: str, *, server: bool,
               alt_names: list[str] | None = None) -> bool:
    """Issue a certificate signed by the CA unless one already exists.

    Returns True when one was made. ``server`` selects the extended key
    usage (server auth for the host, client auth for engines and admins;
    the host certificate carries both so vdsClient can reuse it).
    """
    if os.path.exists(cert_path) and os.path.exists(key_path):
        return False
    ca_cert, ca_key = _load_ca(paths)
    key = _new_key()
    now = datetime.datetime.now(datetime.UTC)
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if server:
        usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
    sans: list[x509.GeneralName] = []
    for alt in alt_names or []:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(alt)))
        except ValueError:
            sans.append(x509.DNSName(alt))
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name)).issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca_key.public_key()), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans),
                                        critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_key(key_path, key)
    _write_cert(cert_path, cert)
    log.info("issued certificate %s for %s", cert_path, common_name)
    return True


def create_host_pki(paths: PkiPaths, hostname: str | None = None,
                    clients: tuple[str, ...] = ()) -> dict[str, bool]:
    """CA, host certificate and named client certificates; idempotent.

    Returns which pieces were created on this call.
    """
    hostname = hostname or socket.getfqdn()
    made = {"ca": create_ca(paths)}
    made["host"] = issue_cert(
        paths, paths.host_cert, paths.host_key, hostname, server=True,
        alt_names=sorted({hostname, "localhost", "127.0.0.1", "::1"}))
    for client in clients:
        made[client] = issue_cert(paths, paths.client_cert(client),
                                  paths.client_key(client), client,
                                  server=False)
    return made


def server_context(ca_cert: str, cert: str, key: str) -> ssl.SSLContext:
    """A TLS server context that refuses clients without a CA-signed cert."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(cafile=ca_cert)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(ca_cert: str, cert: str | None,
                   key: str | None) -> ssl.SSLContext:
    """A TLS client context that verifies the agent against the CA.

    Host names are not checked: engines address hosts by IP or by names the
    certificate may not carry; trust comes from the CA alone.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.load_verify_locations(cafile=ca_cert)
    ctx.verify_mode = ssl.CERT_REQUIRED
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx
