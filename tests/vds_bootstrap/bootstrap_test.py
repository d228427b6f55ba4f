"""The real vds_bootstrap CLI on a temporary root, run twice."""

from __future__ import annotations

import grp
import hashlib
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding

from vds_bootstrap.bootstrap import bootstrap
from vdsm import config
from vdsm.common import pki

from .bootstrap_procs import REPO

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="bootstrap creates the vdsm user: needs root")

STEPS = ["OS", "CPU", "LIBVIRT", "USER", "DIRS", "PKI", "CONFIG", "SANLOCK",
         "UUID", "RELEASE"]


def run_cli(root: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vds_bootstrap.bootstrap", "--root", root,
         "--no-start-libvirt", "--no-start-sanlock", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120)


def bstrap(stdout: str) -> dict[str, dict[str, str]]:
    """component -> attributes of every <BSTRAP/> line."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines and all(line.startswith("<BSTRAP ") for line in lines), stdout
    parsed = [ET.fromstring(line).attrib for line in lines]
    return {p["component"]: p for p in parsed}


def snapshot(root: str) -> dict[str, tuple]:
    """Everything observable about every file and directory under root."""
    found = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(top, name)
            st = os.lstat(path)
            digest = None
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            found[os.path.relpath(path, root)] = (
                st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, digest)
    return found


def load_cert(path: str) -> x509.Certificate:
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def assert_signed_by(cert: x509.Certificate, ca: x509.Certificate) -> None:
    assert cert.issuer == ca.subject
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                           padding.PKCS1v15(), cert.signature_hash_algorithm)


def first_run(root: str) -> dict:
    run = run_cli(root)
    return {"root": root, "run": run, "snapshot": snapshot(root)}


@pytest.fixture(scope="module")
def bootstrapped(module_root: str) -> dict:
    """A root after a first run, with that run's output; tests using it
    must leave the root as it is."""
    return first_run(module_root)


def test_first_run_configures_host(bootstrapped: dict) -> None:
    first = bootstrapped["run"]
    assert first.returncode == 0, first.stdout + first.stderr
    results = bstrap(first.stdout)
    assert list(results) == STEPS
    for name in ("OS", "DIRS", "PKI", "CONFIG", "UUID", "RELEASE"):
        assert results[name]["status"] == "OK", results[name]
    # WARN where vdsm/kvm could not get the classic id 36 (this machine's
    # accounts predate it): the warning says so (classic_ids_test).
    assert results["USER"]["status"] in ("OK", "WARN"), results["USER"]
    if results["USER"]["status"] == "WARN":
        assert "not the classic" in results["USER"]["message"]
    # No KVM and libvirt not started are warnings, never failures.
    assert results["CPU"]["status"] in ("OK", "WARN")
    assert results["LIBVIRT"]["status"] in ("OK", "WARN")
    assert results["RELEASE"]["message"] == "host configured"
    # The same results as readable text on stderr.
    assert "[  OK] PKI: created CA, host, engine, admin" in first.stderr


def test_second_run_changes_nothing(bootstrapped: dict) -> None:
    root = bootstrapped["root"]
    second = run_cli(root)
    assert second.returncode == 0, second.stdout + second.stderr
    results = bstrap(second.stdout)
    assert results["RELEASE"]["message"] == "already configured"
    assert results["CONFIG"]["message"].startswith("already configured")
    assert "(changed)" not in second.stderr
    assert snapshot(root) == bootstrapped["snapshot"]


def test_certificates_chain_to_ca(bootstrapped: dict) -> None:
    cfg = config.load(os.path.join(bootstrapped["root"], "etc/vdsm/vdsm.conf"))
    paths = pki.PkiPaths(cfg.pki_dir)
    ca = load_cert(paths.ca_cert)
    for cert_path in (paths.host_cert, paths.client_cert("engine"),
                      paths.client_cert("admin")):
        assert_signed_by(load_cert(cert_path), ca)
    vdsm_gid = grp.getgrnam("vdsm").gr_gid
    for key in (paths.host_key, paths.client_key("engine")):
        st = os.stat(key)
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == \
            (0o640, 0, vdsm_gid)
    assert stat.S_IMODE(os.stat(paths.ca_key).st_mode) == 0o600


def test_config_paths_under_root(bootstrapped: dict) -> None:
    root = bootstrapped["root"]
    cfg = config.load(os.path.join(root, "etc/vdsm/vdsm.conf"))
    for path in (cfg.pki_dir, cfg.run_dir, cfg.state_dir, cfg.log_dir,
                 cfg.hooks_dir, cfg.repository, cfg.supervdsm_socket):
        assert path.startswith(root + "/"), path
        assert os.path.isdir(os.path.dirname(path))
    assert os.path.isdir(os.path.join(cfg.hooks_dir, "before_vm_start"))
    assert os.path.isdir(cfg.mount_root)
    assert os.stat(cfg.run_dir).st_uid == os.stat(cfg.state_dir).st_uid != 0
    with open(os.path.join(root, "etc/vdsm/vdsm.id")) as f:
        assert len(f.read().strip()) == 36


def test_tls_handshake_with_created_files(bootstrapped: dict) -> None:
    paths = pki.PkiPaths(os.path.join(bootstrapped["root"], "etc/pki/vdsm"))
    server_ctx = pki.server_context(paths.ca_cert, paths.host_cert,
                                    paths.host_key)
    client_ctx = pki.client_context(paths.ca_cert, paths.client_cert("engine"),
                                    paths.client_key("engine"))
    seen = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)

        def serve() -> None:
            conn, _ = listener.accept()
            conn.settimeout(10)
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                seen["peer"] = tls.getpeercert()
                tls.sendall(tls.recv(100).upper())

        server = threading.Thread(target=serve)
        server.start()
        try:
            raw = socket.create_connection(listener.getsockname(), timeout=10)
            with client_ctx.wrap_socket(raw) as tls:
                tls.sendall(b"ping")
                assert tls.recv(100) == b"PING"
        finally:
            server.join(10)
    subject = dict(x[0] for x in seen["peer"]["subject"])
    assert subject["commonName"] == "engine"


def test_client_without_certificate_refused(bootstrapped: dict) -> None:
    paths = pki.PkiPaths(os.path.join(bootstrapped["root"], "etc/pki/vdsm"))
    server_ctx = pki.server_context(paths.ca_cert, paths.host_cert,
                                    paths.host_key)
    client_ctx = pki.client_context(paths.ca_cert, None, None)
    errors = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)

        def serve() -> None:
            conn, _ = listener.accept()
            conn.settimeout(10)
            try:
                server_ctx.wrap_socket(conn, server_side=True).close()
            except (ssl.SSLError, OSError) as e:
                errors.append(e)
                conn.close()

        server = threading.Thread(target=serve)
        server.start()
        try:
            raw = socket.create_connection(listener.getsockname(), timeout=10)
            with pytest.raises((ssl.SSLError, OSError)):
                with client_ctx.wrap_socket(raw) as tls:
                    tls.sendall(b"ping")
                    tls.recv(100)  # TLS 1.3: the refusal arrives here
        finally:
            server.join(10)
    assert errors and isinstance(errors[0], ssl.SSLError)


def test_changed_option_rewrites_only_config(host_root: str) -> None:
    bootstrapped = first_run(host_root)
    root = bootstrapped["root"]
    rerun = run_cli(root, "--management-port", "15432", "--json")
    assert rerun.returncode == 0, rerun.stderr
    results = {r["component"]: r for r in json.loads(rerun.stdout)}
    changed = sorted(name for name, r in results.items() if r["changed"])
    assert changed == ["CONFIG"]
    cfg = config.load(os.path.join(root, "etc/vdsm/vdsm.conf"))
    assert cfg.get("addresses", "management_port") == 15432
    before, after = bootstrapped["snapshot"], snapshot(root)
    differs = sorted(p for p in after if after[p] != before.get(p))
    assert differs == ["etc/vdsm", "etc/vdsm/vdsm.conf"]
    # Options not given again are kept, not reset.
    again = run_cli(root, "--json")
    assert not any(r["changed"] for r in json.loads(again.stdout))


def test_admin_settings_in_config_kept(host_root: str) -> None:
    conf = os.path.join(host_root, "etc/vdsm/vdsm.conf")
    config.write(conf, {("logging", "level"): "DEBUG"})
    run = run_cli(host_root)
    assert run.returncode == 0, run.stderr
    cfg = config.load(conf)
    assert cfg.get("logging", "level") == "DEBUG"
    assert cfg.run_dir == os.path.join(host_root, "run/vdsm")


def test_invalid_config_fails(host_root: str) -> None:
    conf = os.path.join(host_root, "etc/vdsm/vdsm.conf")
    os.makedirs(os.path.dirname(conf))
    with open(conf, "w") as f:
        f.write("[vars]\nno_such_option = 1\n")
    run = run_cli(host_root)
    assert run.returncode == 1
    results = bstrap(run.stdout)
    assert results["CONFIG"]["status"] == "FAIL"
    assert "no_such_option" in results["CONFIG"]["message"]
    assert results["RELEASE"]["status"] == "FAIL"


@pytest.mark.parametrize("args", [
    ["--no-ssl"],
    ["--no-ssl", "--management-ip", "10.0.0.1"],
    ["--client", "vdsm"],
    ["--libvirt-dir", "/run/libvirt/x"],
])
def test_usage_errors(host_root: str, args: list[str]) -> None:
    run = run_cli(host_root, *args)
    assert run.returncode == 2
    assert "error:" in run.stderr
    assert os.listdir(host_root) == []


def test_no_ssl_on_loopback(host_root: str) -> None:
    run = run_cli(host_root, "--no-ssl", "--management-ip", "127.0.0.1")
    assert run.returncode == 0, run.stderr
    cfg = config.load(os.path.join(host_root, "etc/vdsm/vdsm.conf"))
    assert cfg.get("vars", "ssl") is False
    assert cfg.get("addresses", "management_ip") == "127.0.0.1"


def test_python_api_reports_unreachable_root(tmp_path) -> None:
    # pytest's tmp_path sits in a 0700 directory the vdsm user cannot enter.
    results = bootstrap(str(tmp_path / "host"), start_libvirt=False,
                        start_sanlock=False, clients=("engine",))
    by_name = {r.component: r for r in results}
    assert list(by_name) == STEPS[:-1]
    assert by_name["DIRS"].status == "WARN"
    assert "cannot enter" in by_name["DIRS"].message
    assert by_name["PKI"].status == "OK"
    assert os.path.exists(tmp_path / "host/etc/pki/vdsm/certs/enginecert.pem")
    assert not os.path.exists(tmp_path / "host/etc/pki/vdsm/certs/admincert.pem")


def test_domain_type_follows_the_cpu_check(bootstrapped: dict) -> None:
    results = bstrap(bootstrapped["run"].stdout)
    cfg = config.load(os.path.join(bootstrapped["root"], "etc/vdsm/vdsm.conf"))
    expected = "kvm" if results["CPU"]["status"] == "OK" else "qemu"
    assert cfg.get("vars", "domain_type") == expected
