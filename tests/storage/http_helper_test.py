"""The transfer helper process (vdsm/storage/transfer/http_helper.py) run
through its runner (runner.py) against a real local HTTP server: whole
GET and PUT, resume with Range after a broken connection, a server
without ranges that stops mid-transfer, an HTTP error, a timeout; HTTPS
trusted through a CA file, refused when the CA is not trusted."""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Iterator

import pytest

from tests.storage.transfer_server import TransferServer
from vdsm.common import pki
from vdsm.storage.errors import CopyImageError, ImageVerificationError
from vdsm.storage.transfer import http_helper, runner

SIZE = 8 * 1024 * 1024 + 4097   # not a multiple of the chunk size


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("src") / "image"
    path.write_bytes(os.urandom(SIZE))
    return str(path)


@pytest.fixture
def server(source: str, tmp_path: str) -> Iterator[TransferServer]:
    srv = TransferServer(source, os.path.join(tmp_path, "put"))
    try:
        yield srv
    finally:
        srv.close()


def transfer(op: str, url: str, path: str, **kw: object) -> runner.Result:
    seen: list[float] = []
    result = runner.run(op, url, path, headers={"X-Ticket": "t"},
                        progress=seen.append, aborting=lambda: False,
                        timeout=float(kw.pop("timeout", 60)), **kw)  # type: ignore
    assert seen and seen[-1] == 100.0 and seen == sorted(seen)
    return result


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def test_parse_content_range() -> None:
    assert http_helper.parse_content_range("bytes 10-99/100") == (10, 99, 100)
    with pytest.raises(ValueError):
        http_helper.parse_content_range("bytes 10-99/*")


def test_get_whole_file_over_a_larger_target(server: TransferServer, source: str,
                                             tmp_path: str) -> None:
    target = os.path.join(tmp_path, "target")
    with open(target, "wb") as f:
        f.write(b"x" * (SIZE + 1000))     # cut to the served size
    result = transfer("get", server.url, target)
    assert (result.bytes, result.total, result.resumes) == (SIZE, SIZE, 0)
    assert read(target) == read(source)


def test_get_resumes_at_the_offset_reached(server: TransferServer, source: str,
                                           tmp_path: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    server.configure(break_at=SIZE // 2, breaks=1)
    target = os.path.join(tmp_path, "target")
    with caplog.at_level(logging.INFO, logger="vdsm.storage.transfer.runner"):
        result = transfer("get", server.url, target)
    assert result.resumes == 1
    assert read(target) == read(source)
    assert server.requests == [("GET", ""), ("GET", f"bytes={SIZE // 2}-")]
    assert f"resuming at offset {SIZE // 2}" in caplog.text


def test_get_without_ranges_fails_as_truncated(server: TransferServer,
                                               tmp_path: str) -> None:
    server.configure(ranges=False, break_at=SIZE // 2, breaks=1)
    with pytest.raises(ImageVerificationError, match="connection lost after"):
        runner.run("get", server.url, os.path.join(tmp_path, "t"), headers={},
                   progress=lambda p: None, aborting=lambda: False, timeout=60)


def test_get_of_a_server_breaking_every_time_gives_up(server: TransferServer,
                                                      tmp_path: str) -> None:
    server.configure(break_at=SIZE // 2, breaks=10)
    with pytest.raises(ImageVerificationError):
        runner.run("get", server.url, os.path.join(tmp_path, "t"), headers={},
                   progress=lambda p: None, aborting=lambda: False, timeout=60,
                   retries=2)
    assert len(server.requests) == 3


def test_http_error_and_refused_connection(server: TransferServer,
                                           tmp_path: str) -> None:
    with pytest.raises(CopyImageError, match="HTTP 404"):
        runner.run("get", server.url + "-missing", os.path.join(tmp_path, "t"),
                   headers={}, progress=lambda p: None, aborting=lambda: False,
                   timeout=60)
    with pytest.raises(CopyImageError, match="Connection refused|ConnectionRefused"):
        runner.run("get", "http://127.0.0.1:9/none", os.path.join(tmp_path, "t"),
                   headers={}, progress=lambda p: None, aborting=lambda: False,
                   timeout=60)


def test_put_sends_the_whole_file(server: TransferServer, source: str) -> None:
    result = transfer("put", server.url, source)
    assert (result.bytes, result.total) == (SIZE, SIZE)
    assert read(server.put_path) == read(source)


def test_timeout_kills_the_helper(server: TransferServer, tmp_path: str) -> None:
    with pytest.raises(CopyImageError, match="timed out"):
        runner.run("get", server.url, os.path.join(tmp_path, "t"), headers={},
                   progress=lambda p: None, aborting=lambda: False, timeout=0.01)


def test_https_with_a_trusted_ca_and_without(source: str, tmp_path: str) -> None:
    paths = pki.PkiPaths(os.path.join(tmp_path, "pki"))
    pki.create_host_pki(paths, hostname="localhost")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(paths.host_cert, paths.host_key)
    srv = TransferServer(source, os.path.join(tmp_path, "put"), tls=tls)
    try:
        target = os.path.join(tmp_path, "target")
        assert srv.url.startswith("https://127.0.0.1:")
        result = transfer("get", srv.url, target, cafile=paths.ca_cert)
        assert result.bytes == SIZE and read(target) == read(source)
        assert transfer("put", srv.url, source, cafile=paths.ca_cert).bytes == SIZE
        assert read(srv.put_path) == read(source)
        with pytest.raises(CopyImageError, match="CERTIFICATE_VERIFY_FAILED"):
            runner.run("get", srv.url, target, headers={}, progress=lambda p: None,
                       aborting=lambda: False, timeout=60)   # the host's CAs only
    finally:
        srv.close()


def test_shown_url_drops_query_and_user() -> None:
    assert http_helper.shown_url("https://u:pw@h.example:8443/i/1?ticket=abc") == \
        "https://h.example:8443/i/1?(hidden)"
    assert http_helper.shown_url("http://h/image") == "http://h/image"


def test_confirmed_size_goes_on_or_refuses_before_a_byte(server: TransferServer,
                                                         source: str,
                                                         tmp_path: str) -> None:
    sizes: list[int] = []
    target = os.path.join(tmp_path, "target")
    result = transfer("get", server.url, target, on_size=sizes.append)
    assert sizes == [SIZE] and result.total == SIZE
    assert read(target) == read(source)

    class Refused(Exception):
        pass

    def refuse(size: int) -> None:
        raise Refused(size)

    other = os.path.join(tmp_path, "other")
    with pytest.raises(Refused):
        runner.run("get", server.url, other, headers={}, progress=lambda p: None,
                   aborting=lambda: False, timeout=60, on_size=refuse)
    assert not os.path.exists(other) or os.path.getsize(other) == 0


def test_device_target_is_not_cut_and_must_hold_the_image(
        server: TransferServer, source: str, tmp_path: str) -> None:
    """``device``: an LV (here a file standing in for one) keeps its size."""
    lv = os.path.join(tmp_path, "lv")
    with open(lv, "wb") as f:
        f.truncate(SIZE + 8192)
    result = transfer("get", server.url, lv, device=True)
    assert result.bytes == SIZE and os.path.getsize(lv) == SIZE + 8192
    assert read(lv)[:SIZE] == read(source)
    small = os.path.join(tmp_path, "small")
    with open(small, "wb") as f:
        f.truncate(SIZE - 1)
    with pytest.raises(ImageVerificationError, match="holds"):
        runner.run("get", server.url, small, headers={}, progress=lambda p: None,
                   aborting=lambda: False, timeout=60, device=True)
    assert os.path.getsize(small) == SIZE - 1
