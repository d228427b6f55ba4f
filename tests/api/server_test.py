"""The API listener over real sockets and mutual TLS: protocol detection,
keep-alive, STOMP sessions, broker, events, limits and bad clients."""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import threading
import time
import xmlrpc.client

import pytest

from vdsm.api import schema, stomp
from vdsm.api.dispatcher import Dispatcher
from vdsm.api.server import ApiServer, Limits
from vdsm.api.stomp import Frame, Parser
from vdsm.api.stomp_server import event_sink
from vdsm.common import pki
from vdsm.common.events import Notifier
from vdsm_cli.jsonrpc_client import ClientError, JsonRpcError, StompClient

SCHEMA = schema.parse({"verbs": [
    {"name": "Host.ping", "classic": "ping", "params": []},
    {"name": "Host.ping2", "params": [], "inline": True},
    {"name": "Host.getStats", "classic": "getVdsStats", "params": [],
     "payload": "info"},
    {"name": "Host.slow", "classic": "slow", "payload": "slept",
     "params": [{"name": "seconds", "type": "float"}]},
]})


class Host:
    def ping(self):
        return None

    def ping2(self):
        return None

    def get_stats(self):
        return {"cpuIdle": 99.5}

    def slow(self, seconds):
        time.sleep(seconds)
        return seconds


LIMITS = Limits(workers=2, queue_size=4, max_request_bytes=64 * 1024,
                handshake_timeout=1.0, request_timeout=2.0, idle_timeout=5.0,
                max_connections=50, max_connections_per_address=40,
                max_pending_bytes=128 * 1024, heartbeat_ms=200)


def _server(pki_paths, limits=LIMITS, notifier=None):
    ctx = pki.server_context(pki_paths.ca_cert, pki_paths.host_cert,
                             pki_paths.host_key)
    srv = ApiServer(Dispatcher(SCHEMA, {"Host": Host()}), ("127.0.0.1", 0),
                    ssl_context=ctx, limits=limits)
    if notifier is not None:
        notifier.subscribe(event_sink(srv))
    srv.serve_in_thread()
    return srv


@pytest.fixture(autouse=True)
def no_errors_logged(caplog):
    """Bad, slow and vanishing clients are INFO/WARNING lines, never errors."""
    caplog.set_level("INFO")
    yield
    errors = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert not errors, [r.getMessage() for r in errors]


@pytest.fixture
def notifier():
    return Notifier()


@pytest.fixture
def server(pki_paths, notifier):
    srv = _server(pki_paths, notifier=notifier)
    yield srv
    srv.shutdown()
    srv.server_close()


def client_ctx(paths):
    return pki.client_context(paths.ca_cert, paths.client_cert("engine"),
                              paths.client_key("engine"))


def stomp_client(server, paths, **kw):
    return StompClient("127.0.0.1", server.port, ssl_context=client_ctx(paths),
                       timeout=10, **kw)


def tls_socket(server, paths, source="127.0.0.1"):
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=5,
                                   source_address=(source, 0))
    return client_ctx(paths).wrap_socket(raw, server_hostname="localhost")


def read_frames(sock, *, want=1, timeout=5.0):
    """Frames until ``want`` arrived or the server closed; (frames, closed)."""
    parser = Parser(commands=stomp.SERVER_COMMANDS)
    frames: list[Frame] = []
    deadline = time.monotonic() + timeout
    sock.settimeout(0.2)
    while len(frames) < want and time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except (ConnectionError, OSError):
            return frames, True
        if not data:
            return frames, True
        frames += parser.feed(data)
    return frames, False


def closed_by_server(sock, timeout=5.0):
    deadline = time.monotonic() + timeout
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            continue
        except (ConnectionError, OSError):
            return True
    return False


def connect_frame(version="1.2"):
    return Frame("CONNECT", {"accept-version": version, "host": "x",
                             "heart-beat": "0,0"}).encode()


def fds():
    return len(os.listdir("/proc/self/fd"))


def settle(baseline_fds, baseline_threads, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fds() <= baseline_fds and threading.active_count() <= baseline_threads:
            return True
        time.sleep(0.05)
    return False


# --- one port, two protocols -------------------------------------------------
def test_xmlrpc_and_stomp_on_one_port(server, pki_paths):
    proxy = xmlrpc.client.ServerProxy(f"https://127.0.0.1:{server.port}",
                                      context=client_ctx(pki_paths))
    assert proxy.getVdsStats()["info"] == {"cpuIdle": 99.5}
    with stomp_client(server, pki_paths) as c:
        assert c.call("Host.ping2") is True
        assert c.call("Host.getStats") == {"cpuIdle": 99.5}


def test_xmlrpc_keep_alive_reuses_one_connection(server, pki_paths):
    conn = http.client.HTTPSConnection("127.0.0.1", server.port,
                                       context=client_ctx(pki_paths), timeout=5)
    sockets = set()
    for _ in range(3):
        conn.request("POST", "/RPC2", body=xmlrpc.client.dumps((), "ping"),
                     headers={"Content-Type": "text/xml"})
        response = conn.getresponse()
        assert response.getheader("Connection") == "keep-alive"
        data = response.read()
        assert xmlrpc.client.loads(data)[0][0]["status"]["code"] == 0
        sockets.add(id(conn.sock))
    assert len(sockets) == 1
    conn.close()


def test_http_other_path_and_method(server, pki_paths):
    conn = http.client.HTTPSConnection("127.0.0.1", server.port,
                                       context=client_ctx(pki_paths), timeout=5)
    conn.request("GET", "/nothing")
    response = conn.getresponse()
    response.read()
    assert response.status == 404
    conn.request("GET", "/RPC2")
    response = conn.getresponse()
    response.read()
    assert response.status == 405
    conn.close()


def test_tls_required_for_stomp(server, other_pki):
    ctx = pki.client_context(other_pki.ca_cert, other_pki.client_cert("intruder"),
                             other_pki.client_key("intruder"))
    with pytest.raises((OSError, ClientError)):
        StompClient("127.0.0.1", server.port, ssl_context=ctx, connect_timeout=5)


# --- STOMP sessions -----------------------------------------------------------
def test_reply_carries_subscription_and_content_length(server, pki_paths):
    with tls_socket(server, pki_paths) as s:
        s.sendall(connect_frame() + Frame("SUBSCRIBE", {
            "destination": "reply-q", "id": "sub-7", "ack": "auto"}).encode())
        s.sendall(Frame("SEND", {
            "destination": "jms.topic.vdsm_requests", "reply-to": "reply-q",
            "content-type": "application/json"},
            json.dumps([{"jsonrpc": "2.0", "method": "Host.ping2", "params": {},
                         "id": "i1"}]).encode()).encode())
        frames, _ = read_frames(s, want=2)
    assert frames[0].command == "CONNECTED"
    assert frames[0].headers["version"] == "1.2"
    message = frames[1]
    assert message.command == "MESSAGE"
    assert message.headers["subscription"] == "sub-7"
    assert message.headers["destination"] == "reply-q"
    assert int(message.headers["content-length"]) == len(message.body)
    assert json.loads(message.body) == [{"jsonrpc": "2.0", "id": "i1",
                                         "result": True}]


def test_irs_requests_destination_and_flow_id(server, pki_paths, caplog):
    caplog.set_level("INFO", logger="vdsm.api.dispatcher")
    with stomp_client(server, pki_paths) as c:
        c.send_request(json.dumps([{"jsonrpc": "2.0", "method": "Host.ping",
                                    "params": {}, "id": "x"}]).encode(),
                       destination="jms.topic.vdsm_irs_requests")
        assert c.call("Host.ping", flow_id="flow-123") is True
    assert any("flow_id=flow-123" in r.getMessage() for r in caplog.records)


def test_long_call_kept_alive_with_heartbeats(server, pki_paths):
    with stomp_client(server, pki_paths, heart_beat="0,200") as c:
        before = c.heartbeats
        assert c.call("Host.slow", {"seconds": "1.2"}) == 1.2
        assert c.heartbeats - before >= 3


def test_disconnect_with_receipt(server, pki_paths):
    with tls_socket(server, pki_paths) as s:
        s.sendall(connect_frame() + Frame("DISCONNECT", {"receipt": "bye"}).encode())
        frames, closed = read_frames(s, want=3)
    assert [f.command for f in frames] == ["CONNECTED", "RECEIPT"]
    assert frames[1].headers["receipt-id"] == "bye"
    assert closed


def test_broker_forwards_send_to_subscribers(server, pki_paths):
    got = []
    arrived = threading.Event()
    with stomp_client(server, pki_paths) as a, stomp_client(server, pki_paths) as b:
        a.subscribe("jms.topic.chat", lambda f: (got.append(f), arrived.set()))
        a.call("Host.ping2")  # the SUBSCRIBE is in before b sends
        b.send_frame(Frame("SEND", {"destination": "jms.topic.chat"}, b'{"hi":1}'))
        assert arrived.wait(5)
    assert got[0].body == b'{"hi":1}'


def test_busy_when_the_queue_is_full(pki_paths):
    srv = _server(pki_paths, limits=Limits(workers=1, queue_size=1,
                                           heartbeat_ms=0))
    try:
        with stomp_client(srv, pki_paths) as c:
            results: list = []

            def slow():
                try:
                    results.append(c.call("Host.slow", {"seconds": 1.0}))
                except JsonRpcError as e:
                    results.append(e.code)
            threads = [threading.Thread(target=slow) for _ in range(3)]
            for t in threads:
                t.start()
                time.sleep(0.1)
            for t in threads:
                t.join(10)
            assert sorted(results, key=str) == [-32603, 1.0, 1.0]
            assert c.call("Host.ping2") is True
    finally:
        srv.shutdown()
        srv.server_close()


# --- events -------------------------------------------------------------------
def test_events_reach_subscribers_in_order(server, pki_paths, notifier):
    got: list[dict] = []
    done = threading.Event()

    def on_event(frame):
        got.append(json.loads(frame.body))
        if len(got) == 100:
            done.set()
    with stomp_client(server, pki_paths) as c:
        c.subscribe("jms.queue.events", on_event)
        c.call("Host.ping2")
        for i in range(100):
            notifier.publish(f"|virt|VM_status|vm{i}", {f"vm{i}": {"n": i}})
        assert done.wait(10)
    assert [e["params"][f"vm{i}"]["n"] for i, e in enumerate(got)] == list(range(100))
    assert got[0]["method"] == "|virt|VM_status|vm0"
    assert "id" not in got[0] and "notify_time" in got[0]["params"]


def test_stalled_subscriber_is_dropped_and_calls_stay_fast(server, pki_paths,
                                                            notifier):
    stalled = tls_socket(server, pki_paths)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(connect_frame() + Frame("SUBSCRIBE", {
        "destination": "jms.queue.events", "id": "s"}).encode())
    with stomp_client(server, pki_paths) as c:
        c.call("Host.ping2")
        big = {"blob": "x" * 20000}
        start = time.monotonic()
        for _ in range(1000):  # 20 MB: more than the kernel buffers take
            notifier.publish("|virt|VM_status|v", big)
        publish_time = time.monotonic() - start
        latencies = []
        for _ in range(20):
            t = time.monotonic()
            c.call("Host.ping2")
            latencies.append(time.monotonic() - t)
        deadline = time.monotonic() + 10
        while len(server.connections) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        # the agent let go of the stalled one (the kernel may still be
        # trickling what it had buffered to that slow reader)
        assert len(server.connections) == 1
    assert server.broker.dropped_subscribers == 1
    assert publish_time < 1.0
    assert max(latencies) < 1.0
    stalled.close()


# --- bad clients --------------------------------------------------------------
BAD_STREAMS = {
    "garbage before CONNECT": b"HELLO THERE\n\n\0",
    "unknown command": connect_frame() + b"FROB\n\n\0",
    "wrong version": connect_frame("1.0,1.1"),
    "oversized": connect_frame() + b"SEND\ndestination:jms.topic.vdsm_requests\n"
                 b"content-length:999999\n\n",
    "unknown destination": connect_frame() + Frame(
        "SEND", {"destination": "no.such.place"}, b"{}").encode(),
    "SEND before CONNECT": Frame("SEND", {"destination": "x"}).encode(),
    "subscribe without id": connect_frame() + Frame(
        "SUBSCRIBE", {"destination": "q"}).encode(),
    "bad escape": connect_frame() + b"SEND\ndestination:a\\tb\n\n\0",
}


@pytest.mark.parametrize("name", sorted(BAD_STREAMS))
def test_bad_stream_gets_error_and_close(server, pki_paths, name):
    with stomp_client(server, pki_paths) as c:
        c.call("Host.ping2")  # warm: threads and the loop are all up
        base_fds, base_threads = fds(), threading.active_count()
        with tls_socket(server, pki_paths) as s:
            s.sendall(BAD_STREAMS[name])
            frames, closed = read_frames(s, want=3)
        errors = [f for f in frames if f.command == "ERROR"]
        assert len(errors) == 1, frames
        assert errors[0].headers["message"]
        assert closed
        assert c.call("Host.ping2") is True  # others never noticed
    assert settle(base_fds, base_threads)


def test_truncated_frame_then_close(server, pki_paths):
    base_fds, base_threads = fds(), threading.active_count()
    with tls_socket(server, pki_paths) as s:
        s.sendall(connect_frame() + b"SEND\ndestination:jms.topic.vd")
    with stomp_client(server, pki_paths) as c:
        assert c.call("Host.ping2") is True
    assert settle(base_fds, base_threads)


def test_truncated_frame_times_out(server, pki_paths):
    with tls_socket(server, pki_paths) as s:
        s.sendall(connect_frame() + b"SEND\ndestination:jms.topic.vd")
        frames, _ = read_frames(s, want=1)
        assert frames[0].command == "CONNECTED"
        assert closed_by_server(s, timeout=LIMITS.request_timeout + 3)


def test_client_gone_mid_call(server, pki_paths):
    with stomp_client(server, pki_paths) as c:
        c.call("Host.ping2")
        base_fds, base_threads = fds(), threading.active_count()
        with tls_socket(server, pki_paths) as s:
            s.sendall(connect_frame() + Frame("SEND", {
                "destination": "jms.topic.vdsm_requests", "reply-to": "q"},
                json.dumps({"jsonrpc": "2.0", "method": "Host.slow",
                            "params": {"seconds": 0.5}, "id": "1"}).encode()
            ).encode())
            read_frames(s, want=1)
        time.sleep(0.8)
        assert c.call("Host.ping2") is True
        assert settle(base_fds, base_threads)


def test_silent_clients_hold_no_worker(server, pki_paths):
    """More silent TCP connections than workers: calls still answer at once,
    and the handshake deadline closes the silent ones."""
    silent = [socket.create_connection(("127.0.0.1", server.port), timeout=5)
              for _ in range(12)]
    half = []
    for _ in range(4):  # TLS done, then nothing
        half.append(tls_socket(server, pki_paths))
    try:
        start = time.monotonic()
        proxy = xmlrpc.client.ServerProxy(f"https://127.0.0.1:{server.port}",
                                          context=client_ctx(pki_paths))
        assert proxy.ping()["status"]["code"] == 0
        with stomp_client(server, pki_paths) as c:
            assert c.call("Host.ping2") is True
        assert time.monotonic() - start < 1.0
        for s in silent + half:
            assert closed_by_server(s, timeout=LIMITS.handshake_timeout + 3)
    finally:
        for s in silent + half:
            s.close()


def test_slow_http_request_is_cut(server, pki_paths):
    with tls_socket(server, pki_paths) as s:
        s.sendall(b"POST /RPC2 HTTP/1.1\r\nContent-Length: 100\r\n\r\n<meth")
        assert closed_by_server(s, timeout=LIMITS.request_timeout + 3)


def test_connections_per_address_capped(pki_paths):
    limits = Limits(max_connections_per_address=3, handshake_timeout=5)
    srv = _server(pki_paths, limits=limits)
    held = [socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            for _ in range(3)]
    try:
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        assert closed_by_server(extra, timeout=3)
        extra.close()
        for s in held:
            s.close()
        deadline = time.monotonic() + 5
        while srv.connections and time.monotonic() < deadline:
            time.sleep(0.05)
        with stomp_client(srv, pki_paths) as c:
            assert c.call("Host.ping2") is True
    finally:
        srv.shutdown()
        srv.server_close()


def test_thousand_idle_and_hundred_half_sent_clients(pki_paths):
    """1,000 idle TCP connections (from ten loopback addresses) and 100
    TLS clients that sent half a request: ping still answers within 1 s,
    and every descriptor is released after."""
    limits = Limits(max_connections=2000, max_connections_per_address=100,
                    handshake_timeout=30, request_timeout=30)
    srv = _server(pki_paths, limits=limits)
    held: list[socket.socket] = []
    try:
        base_fds = fds()
        for n in range(10):
            for _ in range(100):
                s = socket.socket()
                s.bind((f"127.0.0.{n + 2}", 0))
                s.connect(("127.0.0.1", srv.port))
                held.append(s)
        for _ in range(100):
            s = tls_socket(srv, pki_paths, source="127.0.0.12")
            s.sendall(b"POST /RPC2 HTTP/1.1\r\nContent-Length: 500\r\n\r\n<meth")
            held.append(s)
        wait_until = time.monotonic() + 10
        while len(srv.connections) < 1100 and time.monotonic() < wait_until:
            time.sleep(0.05)
        assert len(srv.connections) == 1100
        start = time.monotonic()
        proxy = xmlrpc.client.ServerProxy(f"https://127.0.0.1:{srv.port}",
                                          context=client_ctx(pki_paths))
        assert proxy.ping()["status"]["code"] == 0
        proxy("close")()  # the keep-alive connection
        with stomp_client(srv, pki_paths) as c:
            assert c.call("Host.ping2") is True
        assert time.monotonic() - start < 1.0
        for s in held:
            s.close()
        held.clear()
        wait_until = time.monotonic() + 10
        while srv.connections and time.monotonic() < wait_until:
            time.sleep(0.05)
        assert not srv.connections
        assert settle(base_fds, threading.active_count())
    finally:
        for s in held:
            s.close()
        srv.shutdown()
        srv.server_close()


def test_accepted_sockets_do_not_wait_for_nagle(server, pki_paths):
    with stomp_client(server, pki_paths) as c:
        c.call("Host.ping2")
        [conn] = list(server.connections)
        sock = conn.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_inline_liveness_probe_answers_while_workers_are_busy(pki_paths):
    srv = _server(pki_paths, limits=Limits(workers=1, queue_size=1,
                                           heartbeat_ms=0))
    try:
        with stomp_client(srv, pki_paths) as busy, \
                stomp_client(srv, pki_paths) as probe:
            slow = threading.Thread(
                target=lambda: busy.call("Host.slow", {"seconds": 1.5}))
            slow.start()
            time.sleep(0.2)
            start = time.monotonic()
            assert probe.call("Host.ping2") is True
            assert time.monotonic() - start < 0.5
            slow.join(10)
    finally:
        srv.shutdown()
        srv.server_close()


def _connect_with_finished(server, ctx):
    """TLS over memory BIOs so the client's Finished and its CONNECT leave
    in one TCP segment, as a fast client sends them; the raw answer bytes."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                if data := outgoing.read():
                    s.sendall(data)
                incoming.write(s.recv(65536))
        tls.write(connect_frame())
        s.sendall(outgoing.read())
        raw = s.recv(65536)
    incoming.write(raw)
    try:
        return raw, tls.read(65536)
    except ssl.SSLWantReadError:
        return raw, b""


def test_first_frame_riding_with_the_handshake_is_answered_in_tls(server,
                                                                   pki_paths):
    ctx = client_ctx(pki_paths)
    for _ in range(30):
        raw, plain = _connect_with_finished(server, ctx)
        assert not raw.startswith(b"CONNECTED")  # never in clear
        assert plain == b"" or plain.startswith(b"CONNECTED")
