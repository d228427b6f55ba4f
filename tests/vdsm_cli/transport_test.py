"""Address parsing and TLS credential checks of vdsClient."""

from __future__ import annotations

import pytest

from vdsm_cli import transport
from vdsm_cli.errors import TransportError, UsageError
from vdsm_cli.transport import Endpoint


@pytest.mark.parametrize("text, expected", [
    ("0", Endpoint("localhost", 54321, True)),
    ("0:1234", Endpoint("localhost", 1234, True)),
    ("host.example", Endpoint("host.example", 54321, True)),
    ("10.0.0.1:80", Endpoint("10.0.0.1", 80, True)),
    ("::1", Endpoint("::1", 54321, True)),
    ("[::1]", Endpoint("::1", 54321, True)),
    ("[fe80::1]:99", Endpoint("fe80::1", 99, True)),
])
def test_parse_endpoint(text, expected):
    assert transport.parse_endpoint(text, default_port=54321, tls=True) == expected


@pytest.mark.parametrize("text", ["h:x", "h:0", "h:70000", "[::1", "[::1]x"])
def test_bad_endpoint(text):
    with pytest.raises(UsageError):
        transport.parse_endpoint(text, default_port=1, tls=False)


def test_urls():
    assert Endpoint("::1", 5, True).url == "https://[::1]:5/RPC2"
    assert Endpoint("h", 5, False).url == "http://h:5/RPC2"


def test_tls_context_from_fixture_pki(pki_paths):
    ctx = transport.tls_context(pki_paths.ca_cert, pki_paths.host_cert,
                                pki_paths.host_key)
    assert ctx.verify_mode.name == "CERT_REQUIRED"


def test_tls_context_key_not_matching(pki_paths):
    with pytest.raises(TransportError, match="bad TLS credentials"):
        transport.tls_context(pki_paths.ca_cert, pki_paths.host_cert,
                              pki_paths.client_key("engine"))


def test_tls_context_missing_file(pki_paths, tmp_path):
    with pytest.raises(TransportError, match="cannot read key"):
        transport.tls_context(pki_paths.ca_cert, pki_paths.host_cert,
                              str(tmp_path / "nokey.pem"))
