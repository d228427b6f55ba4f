"""vdsm-reg against a test manager that follows the documented exchange.

The end-to-end test runs the service as a process against an HTTPS manager
that refuses the first registrations, then starts vdsmd with what was
installed and checks the agent answers TLS with the manager-signed
certificate. The failure paths run the same loop in-process (cheaper).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.agentproc import PYTHON, REPO, AgentRoot, ensure_vdsm_user
from tests.vdsm_reg.manager import Manager
from vdsm import config as vdsm_config
from vdsm.common import pki
from vdsm.host import osinfo
from vdsm_reg import certs, register
from vdsm_reg.exchange import Refused

FAST = {("registration", "retry_initial"): 0.05,
        ("registration", "retry_max"): 0.2,
        ("registration", "retry_timeout"): 20.0,
        ("registration", "request_timeout"): 5.0}


@pytest.fixture(scope="module")
def manager():
    m = Manager()
    yield m
    m.close()


@pytest.fixture
def root(manager):
    r = AgentRoot({("registration", "manager_url"): manager.url, **FAST})
    yield r
    r.cleanup()


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _settings(root: AgentRoot, **values) -> register.Settings:
    for key, value in values.items():
        root.config.set("registration", key, value)
    return register.Settings.from_config(root.config)


def test_refused_then_accepted_installs_ca_and_cert(manager, root):
    manager.reset(refuse=3)
    old_cert = _read(root.pki.host_cert)
    old_key = _read(root.pki.host_key)
    start = time.monotonic()
    proc = subprocess.run(
        [PYTHON, "-m", "vdsm_reg", "--config", root.conf_file],
        env=root.env(), cwd=REPO, capture_output=True, text=True, timeout=60)
    print(f"vdsm-reg with 3 refusals: {time.monotonic() - start:.2f}s")
    assert proc.returncode == 0, proc.stderr

    # Three refusals, each logged with a growing (jittered, bounded) delay.
    delays = [float(d) for d in re.findall(r"retrying in ([0-9.]+)s",
                                           proc.stderr)]
    assert len(delays) == 3
    assert 0.025 <= delays[0] <= 0.05 and 0.1 <= delays[2] <= 0.2
    assert "pending approval" in proc.stderr
    assert "vdsmd must be restarted" in proc.stderr

    regs = manager.registrations()
    assert len(regs) == 4
    assert regs[-1]["uniqueId"] == osinfo.host_uuid(
        id_file=os.path.join(os.path.dirname(root.conf_file), "vdsm.id"))
    assert regs[-1]["port"] == str(root.port)
    assert regs[-1]["address"] == "127.0.0.1"
    assert regs[-1]["name"] == socket.getfqdn()
    assert regs[-1]["csr"].startswith("-----BEGIN CERTIFICATE REQUEST")

    # The manager's CA is the trust store's; the key is unchanged and the
    # new certificate matches it and verifies against the CA.
    assert _read(root.pki.ca_cert) == manager.ca_pem
    assert _read(root.pki.host_key) == old_key
    assert _read(root.pki.host_cert + ".prev") == old_cert
    ca = certs.check_ca(manager.ca_pem, "")
    key = certs.host_key(root.pki)
    certs.check_host_cert(_read(root.pki.host_cert), key, ca)

    # A second run finds the registration done and asks nothing.
    manager.reset()
    again = subprocess.run(
        [PYTHON, "-m", "vdsm_reg", "--config", root.conf_file],
        env=root.env(), cwd=REPO, capture_output=True, text=True, timeout=30)
    assert again.returncode == 0 and "already registered" in again.stderr
    assert manager.requests == []

    # vdsmd started on the installed files serves the manager-signed
    # certificate and accepts a client the manager's CA signed.
    ensure_vdsm_user()
    pki.issue_cert(manager.pki, manager.pki.client_cert("engine"),
                   manager.pki.client_key("engine"), "engine", server=False)
    for src, dst in ((manager.pki.client_cert("engine"),
                      root.pki.client_cert("engine")),
                     (manager.pki.client_key("engine"),
                      root.pki.client_key("engine"))):
        with open(dst, "wb") as f:
            f.write(_read(src))
    root.start_supervdsmd()
    root.start_vdsmd()       # waits for a ping through the new trust
    ctx = pki.client_context(root.pki.ca_cert, root.pki.client_cert("engine"),
                             root.pki.client_key("engine"))
    with socket.create_connection(("127.0.0.1", root.port), timeout=10) as s:
        with ctx.wrap_socket(s) as tls:
            served = tls.getpeercert(binary_form=True)
    installed = x509.load_pem_x509_certificate(_read(root.pki.host_cert))
    assert served == installed.public_bytes(Encoding.DER)


def test_refusal_is_final_and_installs_nothing(manager, root):
    manager.reset(refuse=1, final_status=403)
    before = _read(root.pki.host_cert), _read(root.pki.ca_cert)
    with pytest.raises(Refused, match="403"):
        register.register(root.config, _settings(root))
    assert (_read(root.pki.host_cert), _read(root.pki.ca_cert)) == before
    assert len(manager.registrations()) == 2


def test_wrong_fingerprint_stops_before_registering(manager, root):
    manager.reset()
    before = _read(root.pki.ca_cert)
    with pytest.raises(certs.CertificateError, match="fingerprint"):
        register.register(root.config, _settings(
            root, manager_fingerprint="AA:" * 31 + "AA"))
    assert manager.registrations() == []
    assert _read(root.pki.ca_cert) == before


def test_configured_fingerprint_accepts_the_manager(manager, root):
    manager.reset(refuse=1, pending_status=202)
    register.register(root.config, _settings(
        root, manager_fingerprint=certs.fingerprint(manager.ca_pem)))
    assert _read(root.pki.ca_cert) == manager.ca_pem


def test_certificate_for_another_key_keeps_the_old_one(manager, root):
    manager.reset(wrong_key=True)
    before = _read(root.pki.host_cert), _read(root.pki.ca_cert)
    with pytest.raises(certs.CertificateError, match="host key"):
        register.register(root.config, _settings(root))
    assert (_read(root.pki.host_cert), _read(root.pki.ca_cert)) == before


def test_unreachable_manager_gives_up_after_retry_timeout(root):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]   # closed once the test runs: refused
    slept: list[float] = []
    settings = _settings(root, manager_url=f"https://127.0.0.1:{port}",
                         retry_timeout=0.5)
    with pytest.raises(register.GaveUp, match="not registered"):
        register.register(root.config, settings, sleep=slept.append)
    assert slept    # tried, waited, and stopped at the deadline


def test_not_configured_does_nothing(tmp_path):
    conf = str(tmp_path / "vdsm.conf")
    vdsm_config.write(conf, vdsm_config.rooted(str(tmp_path)))
    proc = subprocess.run([PYTHON, "-m", "vdsm_reg", "--config", conf],
                          cwd=REPO, capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": REPO})
    assert proc.returncode == 0 and "nothing to do" in proc.stderr
    assert not os.path.exists(tmp_path / "etc")
