"""The host's trust store: created by vdsm.common.pki, checked, made
readable by the vdsm user.

pki writes every key 0600 root. vdsmd reads its key after dropping to the
vdsm user, so host and client keys become 0640 root:<vdsm group> in a
0750 keys directory; the CA key stays root's alone. Existing certificates
are never reissued, but one that does not chain to the CA, has expired
or does not match its key is reported (remove it and re-run to reissue).
"""

from __future__ import annotations

import datetime
import logging
import os
import stat
from typing import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding

from vds_bootstrap import report
from vds_bootstrap.host_setup import Account
from vds_bootstrap.report import StepResult
from vdsm.common import pki

log = logging.getLogger(__name__)


def _load_cert(path: str) -> x509.Certificate:
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def verify_pair(ca: x509.Certificate, cert_path: str, key_path: str) -> str | None:
    """None when the certificate is sound, else what is wrong with it."""
    name = os.path.basename(cert_path)
    try:
        cert = _load_cert(cert_path)
        with open(key_path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    except (OSError, ValueError) as e:
        return f"{name}: unreadable: {e}"
    if cert.issuer != ca.subject:
        return f"{name}: not issued by the CA"
    try:
        ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                               padding.PKCS1v15(), cert.signature_hash_algorithm)
    except InvalidSignature:
        return f"{name}: signature does not verify with the CA key"
    if cert.not_valid_after < datetime.datetime.utcnow():
        return f"{name}: expired on {cert.not_valid_after:%Y-%m-%d}"
    if cert.public_key().public_numbers() != key.public_key().public_numbers():
        return f"{name}: does not match {os.path.basename(key_path)}"
    return None


def _ensure_mode(path: str, mode: int, uid: int, gid: int) -> bool:
    st = os.stat(path)
    changed = False
    if stat.S_IMODE(st.st_mode) != mode:
        os.chmod(path, mode)
        changed = True
    if (st.st_uid, st.st_gid) != (uid, gid):
        os.chown(path, uid, gid)
        changed = True
    return changed


def share_keys(paths: pki.PkiPaths, clients: Sequence[str],
               account: Account) -> bool:
    """Give the vdsm group read access to the keys vdsmd uses."""
    changed = _ensure_mode(os.path.dirname(paths.host_key), 0o750, 0,
                           account.gid)
    for key in [paths.host_key, *(paths.client_key(c) for c in clients)]:
        changed |= _ensure_mode(key, 0o640, 0, account.gid)
    changed |= _ensure_mode(os.path.dirname(paths.ca_key), 0o700, 0, 0)
    changed |= _ensure_mode(paths.ca_key, 0o600, 0, 0)
    return changed


def ensure_pki(pki_dir: str, *, hostname: str | None, clients: Sequence[str],
               account: Account | None) -> StepResult:
    """CA, host and client certificates, checked and readable by vdsm."""
    paths = pki.PkiPaths(pki_dir)
    try:
        made = pki.create_host_pki(paths, hostname, tuple(clients))
        created = [{"ca": "CA"}.get(name, name) for name, new in made.items()
                   if new]
        ca = _load_cert(paths.ca_cert)
        pairs = [(paths.host_cert, paths.host_key)]
        pairs += [(paths.client_cert(c), paths.client_key(c)) for c in clients]
        problems = [p for p in (verify_pair(ca, c, k) for c, k in pairs) if p]
        shared = False
        if account is not None and os.geteuid() == 0:
            shared = share_keys(paths, clients, account)
    except (OSError, ValueError) as e:
        return report.fail("PKI", f"{pki_dir}: {e}")
    changed = bool(created) or shared
    if problems:
        return report.fail("PKI", "; ".join(problems), changed=changed)
    names = ", ".join(["CA", "host", *clients])
    text = (f"created {', '.join(created)} in {pki_dir}" if created
            else f"certificates present ({names}) in {pki_dir}")
    if shared:
        text += "; key permissions set"
    if account is None:
        return report.warn("PKI", f"{text}; keys readable by root only",
                           changed=changed)
    return report.ok("PKI", text, changed=changed)
