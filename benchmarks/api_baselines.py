"""The floors api_throughput.py measures the agent against.

Two bare servers on the same mutual-TLS setup as the agent, answering
from memory with no schema, dispatch, logging or worker threads:

- ``serve_stomp``: one asyncio loop that speaks just enough STOMP 1.2 for
  the engine's and vdsm-client's way of calling (CONNECT, SUBSCRIBE, SEND
  to a reply queue) and answers each JSON-RPC request with a result kept
  as bytes, only the request id spliced in.
- ``BareXmlRpcServer``: the stdlib XML-RPC server, a thread per
  connection, HTTP/1.1 so a client may keep its connection.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import xmlrpc.server
from typing import Any

from vdsm.api.xmlrpc import wire_safe

DONE = {"code": 0, "message": "Done"}


class _BareStomp(asyncio.Protocol):
    def __init__(self, results: dict[str, bytes]) -> None:
        self._results = results
        self._buf = b""
        self._subs: dict[str, str] = {}
        self._transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buf += data
        while True:
            self._buf = self._buf.lstrip(b"\n")  # heart-beats
            end = self._buf.find(b"\n\n")
            if end < 0:
                return
            lines = self._buf[:end].decode().split("\n")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                key, _, value = line.partition(":")
                headers.setdefault(key, value)
            start = end + 2
            if "content-length" in headers:
                stop = start + int(headers["content-length"])
                if len(self._buf) <= stop:
                    return
            else:
                stop = self._buf.find(b"\0", start)
                if stop < 0:
                    return
            body, self._buf = self._buf[start:stop], self._buf[stop + 1:]
            self._frame(lines[0], headers, body)

    def _frame(self, command: str, headers: dict[str, str], body: bytes) -> None:
        if command in ("CONNECT", "STOMP"):
            self._transport.write(b"CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0")
        elif command == "SUBSCRIBE":
            self._subs[headers["destination"]] = headers["id"]
        elif command == "SEND":
            reply_to = headers["reply-to"]
            call = json.loads(body)[0]
            answer = (b'[{"jsonrpc":"2.0","id":' + json.dumps(call["id"]).encode()
                      + b',"result":' + self._results[call["method"]] + b"}]")
            self._transport.write(
                b"MESSAGE\ndestination:%s\nsubscription:%s\n"
                b"content-type:application/json\ncontent-length:%d\n\n%s\0"
                % (reply_to.encode(), self._subs[reply_to].encode(),
                   len(answer), answer))


async def serve_stomp(ctx: ssl.SSLContext, stats: dict[str, Any],
                      ready: asyncio.Future[int], stop: asyncio.Event) -> None:
    """Serve until ``stop``; the port goes to ``ready``."""
    results = {"Host.ping2": b"true",
               "Host.getStats": json.dumps(stats, separators=(",", ":")).encode()}
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _BareStomp(results),
                                      "127.0.0.1", 0, ssl=ctx)
    ready.set_result(server.sockets[0].getsockname()[1])
    async with server:
        await stop.wait()


class _Http11Handler(xmlrpc.server.SimpleXMLRPCRequestHandler):
    protocol_version = "HTTP/1.1"


class BareXmlRpcServer(xmlrpc.server.SimpleXMLRPCServer):
    """A threaded stdlib XML-RPC server answering from memory."""

    allow_reuse_address = True
    request_queue_size = 512  # as the agent's listen(): no SYN drops at 16 clients

    def __init__(self, ctx: ssl.SSLContext, stats: dict[str, Any]) -> None:
        super().__init__(("127.0.0.1", 0), requestHandler=_Http11Handler,
                         logRequests=False, allow_none=True)
        self._ctx = ctx
        safe_stats = wire_safe(stats)
        self.register_function(lambda: {"status": DONE}, "ping")
        self.register_function(lambda: {"status": DONE, "info": safe_stats},
                               "getVdsStats")

    def process_request(self, request: Any, client_address: Any) -> None:
        threading.Thread(target=self._one, args=(request, client_address),
                         daemon=True).start()

    def _one(self, request: Any, client_address: Any) -> None:
        try:
            conn = self._ctx.wrap_socket(request, server_side=True)
            self.finish_request(conn, client_address)
            conn.close()
        except OSError:
            request.close()
