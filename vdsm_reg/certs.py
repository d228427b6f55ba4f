"""Certificate request, checks and the atomic install into the trust store.

The host key stays where the agent keeps it; only a certificate that
matches that key and chains to the manager's CA replaces the old one.
"""

from __future__ import annotations

import hashlib
import logging
import os

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from vdsm.common import fileutils, pki

log = logging.getLogger(__name__)


class CertificateError(Exception):
    """A certificate that must not be installed (wrong key, wrong CA)."""


def host_key(paths: pki.PkiPaths) -> rsa.RSAPrivateKey:
    """The agent's host key; made (mode 0600) only when there is none."""
    if not os.path.exists(paths.host_key):
        log.info("no host key at %s: creating one", paths.host_key)
        key = rsa.generate_private_key(public_exponent=65537,
                                       key_size=pki.KEY_BITS)
        write_file(paths.host_key, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()), 0o600)
    with open(paths.host_key, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)  # type: ignore[return-value]


def make_csr(key: rsa.RSAPrivateKey, name: str, alt_names: list[str]) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
    sans = [x509.DNSName(n) for n in dict.fromkeys(alt_names) if n]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans),
                                        critical=False)
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def fingerprint(pem: bytes) -> str:
    """SHA-256 of the certificate's DER, as AA:BB:... (what admins compare)."""
    der = x509.load_pem_x509_certificate(pem).public_bytes(
        serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def check_ca(pem: bytes, expected_fingerprint: str) -> x509.Certificate:
    """Raises CertificateError unless ``pem`` is a CA certificate and, when
    a fingerprint is configured, has that fingerprint."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as e:
        raise CertificateError(f"manager CA is not a PEM certificate: {e}") from e
    if expected_fingerprint:
        got = fingerprint(pem)
        want = expected_fingerprint.upper().replace("-", ":")
        if got != want:
            raise CertificateError(
                f"manager CA fingerprint {got} is not the configured {want}")
    try:
        constraints = cert.extensions.get_extension_for_class(
            x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise CertificateError("manager CA certificate is not a CA")
    return cert


def check_host_cert(pem: bytes, key: rsa.RSAPrivateKey,
                    ca: x509.Certificate) -> x509.Certificate:
    """Raises CertificateError unless the certificate carries our public key
    and its signature verifies with the CA's key."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as e:
        raise CertificateError(f"signed certificate is not PEM: {e}") from e
    ours = key.public_key().public_numbers()
    theirs = cert.public_key()
    if not isinstance(theirs, rsa.RSAPublicKey) or \
            theirs.public_numbers() != ours:
        raise CertificateError("signed certificate does not match the host key")
    if cert.issuer != ca.subject:
        raise CertificateError("signed certificate was not issued by the CA")
    ca_key = ca.public_key()
    algorithm = cert.signature_hash_algorithm
    try:
        if isinstance(ca_key, rsa.RSAPublicKey):
            ca_key.verify(cert.signature, cert.tbs_certificate_bytes,
                          padding.PKCS1v15(), algorithm)  # type: ignore[arg-type]
        elif isinstance(ca_key, ec.EllipticCurvePublicKey):
            ca_key.verify(cert.signature, cert.tbs_certificate_bytes,
                          ec.ECDSA(algorithm))  # type: ignore[arg-type]
        else:
            raise CertificateError(f"unsupported CA key type "
                                   f"{type(ca_key).__name__}")
    except (InvalidSignature, TypeError, ValueError) as e:
        raise CertificateError(f"signature does not verify with the CA: {e}") from e
    return cert


def install(paths: pki.PkiPaths, ca_pem: bytes, cert_pem: bytes) -> None:
    """Replace the trust store's CA and host certificate, each by rename.

    The previous files are kept as ``*.pem.prev``. Call only with checked
    PEMs: the old certificate stays in place until then.
    """
    for path, pem in ((paths.ca_cert, ca_pem), (paths.host_cert, cert_pem)):
        if os.path.exists(path):
            _keep(path)
        write_file(path, pem, 0o644)
        log.info("installed %s", path)


def _keep(path: str) -> None:
    """A copy of the current file beside it (the live one stays until the
    rename that replaces it)."""
    with open(path, "rb") as src:
        data = src.read()
    write_file(path + ".prev", data, 0o644)


def write_file(path: str, data: bytes, mode: int) -> None:
    """Write beside, fsync, rename: readers see the old or the new file."""
    fileutils.write_atomic(path, data, mode)
