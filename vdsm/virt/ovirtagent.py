"""The classic oVirt guest agent channel: one reader thread per VM.

QEMU listens on the channel's Unix socket (its path is in the live XML);
a thread per VM connects, asks the guest to ``refresh``, and folds each
line (ovirtproto.py) into ``vm.ovirt_agent_info``, merged into the VM's
stats. Reads and writes have a timeout, so a silent guest costs only its
own thread; sampling and the API never touch the socket except to send
a desktop command, bounded by the same timeout. A guest is responsive
while its last message is younger than RESPONSIVE seconds.
"""

from __future__ import annotations

import errno
import logging
import select
import socket
import threading
import time
from typing import Any

from vdsm.common.periodic import Periodic
from vdsm.virt import ovirtproto
from vdsm.virt.context import VirtContext
from vdsm.virt.devices import OVIRT_AGENT_CHANNELS
from vdsm.virt.domxml import parse
from vdsm.virt.errors import NonResponsiveGuestAgent
from vdsm.virt.vm import Vm

log = logging.getLogger(__name__)

RESPONSIVE = 120.0   # seconds since the last guest message (classic)
RECONNECT = 2.0      # seconds between connection tries
READ_TICK = 0.5      # how often a reader looks at its stop flag


class Channel:
    """One VM's connection to its oVirt guest agent. Thread-safe."""

    def __init__(self, vm: Vm, path: str, *, timeout: float) -> None:
        self.vm = vm
        self.path = path
        self.timeout = timeout
        self._stop = threading.Event()
        self._send_lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._last: float | None = None
        self._facts: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"ovirt-agent-{vm.id[:8]}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the reader to end (it does within READ_TICK); never waits."""
        self._stop.set()
        self.vm.ovirt_agent_info = {}

    def responsive(self) -> bool:
        last = self._last
        return (self._sock is not None and last is not None
                and time.monotonic() - last < RESPONSIVE)

    def send(self, name: str, args: dict[str, Any] | None = None) -> None:
        """Write one command; raises NonResponsiveGuestAgent."""
        line = ovirtproto.encode(name, args)
        with self._send_lock:
            sock = self._sock
            if sock is None:
                raise NonResponsiveGuestAgent(
                    f"Guest agent non-responsive: vm {self.vm.id} channel "
                    f"not connected")
            try:
                sock.sendall(line)
            except OSError as e:
                raise NonResponsiveGuestAgent(
                    f"Guest agent non-responsive: {e}") from None
        log.debug("vm %s: sent %s to the oVirt guest agent", self.vm.id, name)

    # --- the reader thread -----------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            sock = self._connect()
            if sock is None:
                self._stop.wait(RECONNECT)
                continue
            try:
                self._read(sock)
            finally:
                with self._send_lock:
                    self._sock = None
                sock.close()
            self._stop.wait(RECONNECT)

    def _connect(self) -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError as e:
            sock.close()
            if e.errno not in (errno.ENOENT, errno.ECONNREFUSED):
                log.info("vm %s: oVirt agent channel %s: %s", self.vm.id,
                         self.path, e)
            return None
        log.info("vm %s: oVirt agent channel connected", self.vm.id)
        with self._send_lock:
            self._sock = sock
        try:   # ask for everything at once instead of waiting for changes
            self.send("refresh", {"apiVersion": ovirtproto.MAX_API_VERSION})
        except NonResponsiveGuestAgent as e:
            log.info("vm %s: refresh not sent: %s", self.vm.id, e.message)
        return sock

    def _read(self, sock: socket.socket) -> None:
        buf = ovirtproto.LineBuffer()
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([sock], [], [], READ_TICK)
                if not ready:
                    self._forget_if_silent()
                    continue
                data = sock.recv(65536)
            except OSError as e:
                log.info("vm %s: oVirt agent channel: %s", self.vm.id, e)
                return
            if not data:
                log.info("vm %s: oVirt agent channel closed", self.vm.id)
                return
            for line in buf.feed(data):
                self._handle(line)

    def _forget_if_silent(self) -> None:
        """Facts of a guest silent past RESPONSIVE leave the stats."""
        if self._facts and not self.responsive():
            log.info("vm %s: oVirt guest agent silent for %.0f s", self.vm.id,
                     RESPONSIVE)
            self._facts = {}
            self.vm.ovirt_agent_info = {}

    def _handle(self, line: bytes) -> None:
        try:
            name, args = ovirtproto.parse_line(line)
            facts = dict(self._facts)
            version = ovirtproto.apply(facts, name, args)
        except ovirtproto.ProtocolError as e:
            log.warning("vm %s: oVirt agent: %s: %r", self.vm.id, e, line[:200])
            return
        self._last = time.monotonic()
        self._facts = facts
        if not self._stop.is_set():
            self.vm.ovirt_agent_info = facts   # replaced whole: readers see one
        if version:
            try:
                self.send("api-version", {"apiVersion": version})
            except NonResponsiveGuestAgent as e:
                log.info("vm %s: api-version not sent: %s", self.vm.id, e.message)


class OvirtAgents:
    """A Channel for every running VM that has the oVirt agent channel."""

    def __init__(self, ctx: VirtContext, *, timeout: float,
                 interval: float = RECONNECT) -> None:
        self.ctx = ctx
        self.timeout = timeout
        self.interval = interval
        self._lock = threading.Lock()
        self._channels: dict[str, Channel] = {}
        self._periodic: Periodic | None = None

    def start(self) -> None:
        self._periodic = Periodic("ovirt-agent-channels", self.interval,
                                  self.scan)
        self._periodic.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._periodic is not None:
            self._periodic.stop(timeout)
        with self._lock:
            channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            channel.stop()

    def scan(self) -> None:
        """Start readers for new VMs, stop those of VMs gone down."""
        wanted: dict[str, tuple[Vm, str]] = {}
        with self._lock:
            known = dict(self._channels)
        for vm in self.ctx.registry.all():
            xml = vm.live.get("xml")
            if vm.is_down or not xml:
                continue
            if vm.id in known and known[vm.id].vm is vm:
                wanted[vm.id] = (vm, known[vm.id].path)   # no XML parse
                continue
            path = next(filter(None, (parse.channel_path(xml, name)
                                      for name in OVIRT_AGENT_CHANNELS)), None)
            if path:
                wanted[vm.id] = (vm, path)
        with self._lock:
            gone = [c for k, c in self._channels.items()
                    if k not in wanted or c.vm is not wanted[k][0]]
            for channel in gone:
                del self._channels[channel.vm.id]
            new = [Channel(vm, path, timeout=self.timeout)
                   for k, (vm, path) in wanted.items() if k not in self._channels]
            self._channels.update((c.vm.id, c) for c in new)
        for channel in gone:
            channel.stop()
        for channel in new:
            channel.start()

    def send(self, vm_id: str, name: str,
             args: dict[str, Any] | None = None) -> None:
        """Send a command to a responsive agent; raises NonResponsiveGuestAgent."""
        with self._lock:
            channel = self._channels.get(vm_id)
        if channel is None or not channel.responsive():
            raise NonResponsiveGuestAgent(
                f"Guest agent non-responsive: vm {vm_id} has no oVirt guest "
                f"agent answering")
        channel.send(name, args)
