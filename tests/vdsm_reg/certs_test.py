"""Certificate checks: RSA and EC CAs, a forged signature, a non-CA."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from vdsm_reg import certs


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, public_key, issuer: str, signer, *, ca: bool) -> bytes:
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(subject))
            .issuer_name(_name(issuer)).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                           critical=True)
            .sign(signer, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def host_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("make_key", [
    lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    lambda: ec.generate_private_key(ec.SECP256R1())])
def test_signed_by_the_ca_verifies(host_key, make_key):
    ca_key = make_key()
    ca = certs.check_ca(_cert("ca", ca_key.public_key(), "ca", ca_key,
                              ca=True), "")
    signed = _cert("host", host_key.public_key(), "ca", ca_key, ca=False)
    certs.check_host_cert(signed, host_key, ca)
    impostor = ec.generate_private_key(ec.SECP256R1())   # same issuer name
    forged = _cert("host", host_key.public_key(), "ca", impostor, ca=False)
    with pytest.raises(certs.CertificateError, match="signature"):
        certs.check_host_cert(forged, host_key, ca)


def test_a_leaf_is_not_a_ca(host_key):
    with pytest.raises(certs.CertificateError, match="not a CA"):
        certs.check_ca(_cert("x", host_key.public_key(), "x", host_key,
                             ca=False), "")
    with pytest.raises(certs.CertificateError, match="not a PEM"):
        certs.check_ca(b"junk", "")
