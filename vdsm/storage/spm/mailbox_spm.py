"""The SPM's side of the pool mailbox: read every host's requests, answer.

One thread reads the whole inbox every poll interval and compares each
host mailbox with what it saw last; a changed message is new (see the
handshake in :mod:`.mailbox`). Extend requests go to the handler (for
block volumes the SPM's lvextend) on a bounded pool of threads; the
answer goes into the host's outbox mailbox, written whole. A mailbox with
a bad checksum or a malformed message is logged once and ignored, the
other hosts still served; a handler that raises answers "failed" (size 0).

On start the outbox is read, not cleared: a request whose answer already
stands there was answered by an earlier SPM and is not handled again.
Thread-safe; after :meth:`SpmMailbox.stop` no answer is written (this
host may no longer be the SPM).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from vdsm.common.errors import VdsmError
from vdsm.storage.io.file_operations import FileOps
from vdsm.storage.spm import mailbox_format as fmt
from vdsm.storage.spm.mailbox import MAX_HOST_ID

log = logging.getLogger(__name__)

# handler(host_id, request) -> the size reached in bytes (None: the size asked)
Handler = Callable[[int, fmt.ExtendMessage], "int | None"]


class SpmMailbox:
    def __init__(self, inbox: str, outbox: str, ops: FileOps, handler: Handler, *,
                 poll_interval: float, max_host_id: int = MAX_HOST_ID,
                 workers: int = 5, event_interval: float = 0.0) -> None:
        """``event_interval`` > 0: between polls, look that often at the
        inbox's event block and poll at once when a host wrote one."""
        self.inbox = inbox
        self.outbox = outbox
        self.ops = ops
        self.handler = handler
        self.poll_interval = poll_interval
        self.event_interval = min(event_interval, poll_interval)
        self._last_event: bytes | None = None
        self.max_host_id = max_host_id
        self._size = (max_host_id + 1) * fmt.MAILBOX_SIZE
        self._lock = threading.Lock()
        self._view = [fmt.EMPTY_MAILBOX] * (max_host_id + 1)
        self._bad: dict[int, bytes] = {}
        self._out: list[list[bytes]] = []
        self._dirty: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._workers = ThreadPoolExecutor(workers, thread_name_prefix="mailbox-spm")

    def start(self) -> None:
        """Read the outbox as it stands and start polling.

        Raises OSError or AccessTimeout when the outbox cannot be read.
        """
        data = self.ops.read_block(self.outbox, 0, self._size).ljust(self._size, b"\0")
        self._out = [fmt.split_messages(data[h * fmt.MAILBOX_SIZE:
                                             (h + 1) * fmt.MAILBOX_SIZE])
                     for h in range(self.max_host_id + 1)]
        self._thread = threading.Thread(target=self._run, name="mailbox-spm",
                                        daemon=True)
        self._thread.start()
        log.info("SPM mailbox started on %s", self.inbox)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling and answering; handlers still running are not waited on."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._workers.shutdown(wait=False, cancel_futures=True)
        log.info("SPM mailbox stopped on %s", self.inbox)

    # --- the polling thread -------------------------------------------------
    def _run(self) -> None:
        self._last_event = self._read_event()
        while not self._stop.is_set():
            try:
                self._poll()
            except Exception:
                log.error("SPM mailbox: poll failed", exc_info=True)
            self._wait_for_event()

    def _wait_for_event(self) -> None:
        """Until the next poll, or sooner when a host wrote an event."""
        deadline = time.monotonic() + self.poll_interval
        while not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if self.event_interval <= 0 or remaining <= self.event_interval:
                self._stop.wait(remaining)
                return
            self._stop.wait(self.event_interval)
            event = self._read_event()
            if event is not None and event != self._last_event:
                self._last_event = event
                return

    def _read_event(self) -> bytes | None:
        if self.event_interval <= 0:
            return None
        try:
            block = self.ops.read_block(self.inbox, 0, fmt.MAILBOX_SIZE)
            return fmt.decode_event(block)
        except (OSError, VdsmError) as e:  # the next poll reads the inbox anyway
            log.warning("SPM mailbox: cannot read the event block: %s", e)
            return None

    def _poll(self) -> None:
        try:
            data = self.ops.read_block(self.inbox, 0, self._size)
        except (OSError, VdsmError) as e:  # AccessTimeout: hung storage
            log.warning("SPM mailbox: cannot read %s: %s", self.inbox, e)
            return
        data = data.ljust(self._size, b"\0")
        for host_id in range(1, self.max_host_id + 1):
            box = data[host_id * fmt.MAILBOX_SIZE:(host_id + 1) * fmt.MAILBOX_SIZE]
            if box != self._view[host_id]:
                self._read_mailbox(host_id, box)
        self._flush()

    def _read_mailbox(self, host_id: int, box: bytes) -> None:
        if box != fmt.EMPTY_MAILBOX and not fmt.valid_mailbox(box):
            if self._bad.get(host_id) != box:
                log.error("SPM mailbox: host %d mailbox has a bad checksum, "
                          "ignored until it changes", host_id)
                self._bad[host_id] = box
            return
        self._bad.pop(host_id, None)
        old = fmt.split_messages(self._view[host_id])
        with self._lock:
            self._view[host_id] = box
            for i, message in enumerate(fmt.split_messages(box)):
                if message != old[i]:
                    self._read_message(host_id, i, message)

    def _read_message(self, host_id: int, i: int, message: bytes) -> None:
        out = self._out[host_id]
        if message[:1] == b"\0":  # emptied or withdrawn: drop its answer
            if fmt.is_reply(out[i]):
                self._set_out(host_id, i, fmt.EMPTY_MESSAGE)
            return
        if message == fmt.CLEAN_MESSAGE:  # answer read: release the place
            if out[i] != fmt.CLEAN_MESSAGE:
                self._set_out(host_id, i, fmt.CLEAN_MESSAGE)
            return
        try:
            request = fmt.decode_extend(message)
        except fmt.MalformedMessage as e:
            log.error("SPM mailbox: host %d message %d ignored: %s", host_id, i, e)
            return
        if fmt.answers(message, out[i]):
            log.info("SPM mailbox: host %d message %d was answered before",
                     host_id, i)
            return
        log.info("SPM mailbox: host %d asks to extend %s/%s to %d MiB",
                 host_id, request.sd_uuid, request.vol_uuid, request.size_mib)
        self._workers.submit(self._handle, host_id, i, message, request)

    def _handle(self, host_id: int, i: int, message: bytes,
                request: fmt.ExtendMessage) -> None:
        try:
            size = self.handler(host_id, request)
            size_mib = request.size_mib if size is None else fmt.size_to_mib(size)
        except Exception:
            log.error("SPM mailbox: extending %s for host %d failed",
                      request.vol_uuid, host_id, exc_info=True)
            size_mib = 0
        reply = fmt.encode_extend(request.sd_uuid, request.vol_uuid, size_mib)
        with self._lock:
            if self._stop.is_set():
                log.warning("SPM mailbox stopped: no answer to host %d for %s",
                            host_id, request.vol_uuid)
                return
            current = fmt.split_messages(self._view[host_id])[i]
            if current != message:
                log.info("SPM mailbox: host %d withdrew its request for %s",
                         host_id, request.vol_uuid)
                return
            self._set_out(host_id, i, reply)
        self._flush()

    def _set_out(self, host_id: int, i: int, message: bytes) -> None:
        """Change one outbox message; the caller holds the lock."""
        self._out[host_id][i] = message
        self._dirty.add(host_id)

    def _flush(self) -> None:
        """Write the changed host mailboxes of the outbox, each whole."""
        with self._lock:
            for host_id in sorted(self._dirty):
                if self._stop.is_set():
                    return
                try:
                    self.ops.write_block(self.outbox, fmt.mailbox_offset(host_id),
                                         fmt.build_mailbox(self._out[host_id]))
                except (OSError, VdsmError) as e:  # AccessTimeout: hung storage
                    log.warning("SPM mailbox: cannot answer host %d in %s: %s "
                                "(retried next poll)", host_id, self.outbox, e)
                    continue
                self._dirty.discard(host_id)
