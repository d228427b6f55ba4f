"""The pool mailbox: hosts ask the SPM to extend thin volumes.

Every host connected to the pool writes extend requests into its own 4 KiB
mailbox of the master domain's ``inbox`` (:class:`HostMailbox`); the SPM
reads the whole inbox every poll interval, extends, and answers in the
same place of the ``outbox`` (:class:`.mailbox_spm.SpmMailbox`). The byte
layout is the classic one (:mod:`.mailbox_format`). Each message place goes
through a handshake, so that it is never reused while an old answer is in it:

1. the host writes a request into a free place (its inbox message empty,
   the outbox message empty or clean);
2. the SPM sees a new request, runs the handler, writes the answer;
3. the host sees the answer, calls back, writes the clean marker;
4. the SPM sees the marker and echoes it in the outbox;
5. the host sees the echo and empties its message: the place is free.

A request whose answer already stands in the outbox is never handled
again, so a restarted SPM answers the requests still waiting, not the
answered ones. A host rewrites its whole mailbox every resend interval
while it waits, which repairs a lost or torn write; it gives up on a
request after the reply timeout and calls back with a failure.

All I/O is one O_DIRECT read or write of whole mailboxes through
:class:`~vdsm.storage.io.file_operations.FileOps` (in the daemon, a
helper process with a timeout: a hung mount delays a poll, never blocks
the mailbox thread forever). Both classes are thread-safe.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from vdsm.common.errors import VdsmError
from vdsm.storage.io.file_operations import FileOps
from vdsm.storage.spm import mailbox_format as fmt

log = logging.getLogger(__name__)

# vdsm (the classic agent) allowed host ids up to 250 in a pool.
MAX_HOST_ID = 250


@dataclasses.dataclass(frozen=True)
class ExtendResult:
    """What a host's callback gets: the size reached, or why not."""

    sd_uuid: str
    img_uuid: str
    vol_uuid: str
    requested: int
    size: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


Callback = Callable[[ExtendResult], None]


@dataclasses.dataclass
class _Request:
    message: bytes
    result: ExtendResult
    callbacks: list[Callback]
    deadline: float


class HostMailbox:
    """This host's side: send extend requests, wait for the SPM's answers."""

    def __init__(self, host_id: int, inbox: str, outbox: str, ops: FileOps, *,
                 poll_interval: float, reply_timeout: float | None = None,
                 resend_interval: float | None = None,
                 event_interval: float = 0.0) -> None:
        """``event_interval`` > 0: wake the SPM with an event for each new
        request, and look for answers that often while requests wait."""
        if not 1 <= host_id <= MAX_HOST_ID:
            raise ValueError(f"host id {host_id} out of 1..{MAX_HOST_ID}")
        self.host_id = host_id
        self.inbox = inbox
        self.outbox = outbox
        self.ops = ops
        self.poll_interval = poll_interval
        self.reply_timeout = reply_timeout or 30 * poll_interval
        self.resend_interval = resend_interval or poll_interval
        self.event_interval = min(event_interval, poll_interval)
        self._wake_spm = False
        self._offset = fmt.mailbox_offset(host_id)
        self._lock = threading.Lock()
        self._queue: list[_Request] = []
        self._slots = [fmt.EMPTY_MESSAGE] * fmt.MESSAGES_PER_MAILBOX
        self._pending: dict[int, _Request] = {}
        self._replies: list[bytes] | None = None  # the outbox not read yet
        self._dirty = True
        self._last_write = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._callbacks = ThreadPoolExecutor(2, thread_name_prefix="mailbox-cb")

    def start(self) -> None:
        """Start polling; places still holding answers are cleaned first."""
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"mailbox-host-{self.host_id}")
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling; requests still waiting fail with "stopped"."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            waiting = list(self._pending.values()) + self._queue
            self._pending.clear()
            self._queue.clear()
        for request in waiting:
            self._call_back(request, error="host mailbox stopped")
        self._callbacks.shutdown(wait=True)

    def request_extend(self, sd_uuid: str, img_uuid: str, vol_uuid: str,
                       new_size: int, callback: Callback) -> None:
        """Ask the SPM to extend a volume to ``new_size`` bytes (MiB rounded up).

        ``callback`` runs once, in a mailbox thread, with the result: the
        size reached, or an error (the SPM failed, or did not answer within
        the reply timeout). A request equal to one still waiting is not sent
        twice; both callbacks get the answer. Raises ValueError for a bad
        UUID or size.
        """
        message = fmt.encode_extend(sd_uuid, vol_uuid, fmt.size_to_mib(new_size))
        result = ExtendResult(sd_uuid, img_uuid, vol_uuid, new_size)
        with self._lock:
            for request in list(self._pending.values()) + self._queue:
                if request.message == message:
                    request.callbacks.append(callback)
                    return
            self._queue.append(_Request(message, result, [callback],
                                        time.monotonic() + self.reply_timeout))
        self._wake.set()

    # --- the polling thread -------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._poll()
            except Exception:
                log.error("host mailbox %d: poll failed", self.host_id,
                          exc_info=True)
            with self._lock:
                waiting = bool(self._pending) and self.event_interval > 0
            self._wake.wait(self.event_interval if waiting else self.poll_interval)
            self._wake.clear()

    def _poll(self) -> None:
        replies = self._read_outbox()
        now = time.monotonic()
        with self._lock:
            if replies is not None:
                self._take_replies(replies)
            self._expire(now)
            self._place_new()
            write = self._dirty or (
                self._pending and now - self._last_write >= self.resend_interval)
            mailbox = fmt.build_mailbox(self._slots)
            wake_spm, self._wake_spm = self._wake_spm, False
        if write:
            self._write(mailbox, now)
        if wake_spm and self.event_interval > 0:
            self._send_event()

    def _read_outbox(self) -> list[bytes] | None:
        try:
            data = self.ops.read_block(self.outbox, self._offset, fmt.MAILBOX_SIZE)
        except (OSError, VdsmError) as e:  # AccessTimeout: hung storage
            log.warning("host mailbox %d: cannot read %s: %s", self.host_id,
                        self.outbox, e)
            return None
        return fmt.split_messages(data.ljust(fmt.MAILBOX_SIZE, b"\0"))

    def _take_replies(self, replies: list[bytes]) -> None:
        if self._replies is None:
            # Answers left from before this start (a restarted agent): clean
            # their places so the SPM releases them.
            self._slots = [fmt.CLEAN_MESSAGE if fmt.is_reply(r) else fmt.EMPTY_MESSAGE
                           for r in replies]
        self._replies = replies
        for i, reply in enumerate(replies):
            mine = self._slots[i]
            request = self._pending.get(i)
            if request is not None and fmt.answers(mine, reply):
                del self._pending[i]
                size = fmt.decode_extend(reply).size
                self._slots[i] = fmt.CLEAN_MESSAGE
                self._dirty = True
                if size:
                    self._call_back(request, size=size)
                else:
                    self._call_back(request, error="the SPM failed to extend")
            elif mine == fmt.CLEAN_MESSAGE and reply == fmt.CLEAN_MESSAGE:
                self._slots[i] = fmt.EMPTY_MESSAGE
                self._dirty = True

    def _expire(self, now: float) -> None:
        for i, request in list(self._pending.items()):
            if now >= request.deadline:
                del self._pending[i]
                self._slots[i] = fmt.EMPTY_MESSAGE  # withdrawn
                self._dirty = True
                self._timed_out(request)
        for request in [r for r in self._queue if now >= r.deadline]:
            self._queue.remove(request)
            self._timed_out(request)

    def _timed_out(self, request: _Request) -> None:
        log.warning("host mailbox %d: no answer from the SPM for %s within %gs",
                    self.host_id, request.result.vol_uuid, self.reply_timeout)
        self._call_back(request, error=f"the SPM did not answer within "
                        f"{self.reply_timeout:g}s")

    def _place_new(self) -> None:
        if self._replies is None:
            return
        for i in range(fmt.MESSAGES_PER_MAILBOX):
            if not self._queue:
                return
            if (i not in self._pending and self._slots[i] == fmt.EMPTY_MESSAGE
                    and not fmt.is_reply(self._replies[i])):
                request = self._queue.pop(0)
                self._pending[i] = request
                self._slots[i] = request.message
                self._dirty = True
                self._wake_spm = True
                log.info("host mailbox %d: extend %s to %d bytes (message %d)",
                         self.host_id, request.result.vol_uuid,
                         request.result.requested, i)

    def _write(self, mailbox: bytes, now: float) -> None:
        try:
            self.ops.write_block(self.inbox, self._offset, mailbox)
        except (OSError, VdsmError) as e:  # AccessTimeout: hung storage
            log.warning("host mailbox %d: cannot write %s: %s", self.host_id,
                        self.inbox, e)
            return
        with self._lock:
            self._last_write = now
            self._dirty = self._dirty and fmt.build_mailbox(self._slots) != mailbox

    def _send_event(self) -> None:
        """Wake the SPM; if this write is lost it reads the request at its
        next poll anyway."""
        try:
            self.ops.write_block(self.inbox, 0, fmt.encode_event())
        except (OSError, VdsmError) as e:
            log.warning("host mailbox %d: cannot write the event block: %s",
                        self.host_id, e)

    def _call_back(self, request: _Request, *, size: int = 0,
                   error: str | None = None) -> None:
        result = dataclasses.replace(request.result, size=size, error=error)
        for callback in request.callbacks:
            try:
                self._callbacks.submit(_run_callback, callback, result)
            except RuntimeError:  # executor shut down: run it here
                _run_callback(callback, result)


def _run_callback(callback: Callback, result: ExtendResult) -> None:
    try:
        callback(result)
    except Exception:
        log.error("extend callback %r failed for %s", callback, result,
                  exc_info=True)
