"""The pool mailbox on a real file domain's ``dom_md/inbox`` and ``outbox``.

Two host mailboxes (host ids 1 and 2) and the SPM's mailbox share the
files of one localfs domain, with their I/O (O_DIRECT whole mailboxes) in
the domain's helper process, as in the daemon. The SPM's handler grows
real volume files of the domain.
"""

from __future__ import annotations

import glob
import logging
import os
import threading
import time

import pytest

from tests.storage import fusefs, spm_test
from tests.storage.file_domain_test import create_domain
from tests.storage.helpers import need_sanlock, new_uuid, wait_for
from vdsm.api.dispatcher import error_code
from vdsm.storage import constants as sc
from vdsm.storage.connections import mounts
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.operations import DomainService
from vdsm.storage.io.file_operations import LocalFileOps
from vdsm.storage.io.out_of_process import IOProcess, OopFileOps
from vdsm.storage.spm import mailbox_format as fmt
from vdsm.storage.spm import pool as pools
from vdsm.storage.spm.mailbox import ExtendResult, HostMailbox
from vdsm.storage.spm.mailbox_spm import SpmMailbox
from vdsm.storage.spm.role import Spm
from vdsm.tasks.manager import TaskManager

pytestmark = need_sanlock
MiB = fmt.MiB
POLL = 0.05
RAW = LocalFileOps()  # what a test writes or reads behind the mailboxes' back
pool_env = spm_test.pool_env  # a pool on local files, in-memory leases


class Extender:
    """The SPM's handler: grows the volume file; records every call."""

    def __init__(self, domain_dir: str, *, fail: set[str] | None = None) -> None:
        self.domain_dir = domain_dir
        self.fail = fail or set()
        self.calls: list[tuple[int, str, int]] = []
        self._lock = threading.Lock()

    def __call__(self, host_id: int, request: fmt.ExtendMessage) -> int:
        with self._lock:
            self.calls.append((host_id, request.vol_uuid, request.size))
        if request.vol_uuid in self.fail:
            raise OSError(28, "No space left on device (test)")
        pattern = os.path.join(self.domain_dir, sc.DOMAIN_IMAGES, "*", request.vol_uuid)
        (path,) = glob.glob(pattern)
        if os.stat(path).st_size < request.size:
            os.truncate(path, request.size)
        return os.stat(path).st_size


class Results:
    """Callbacks' results, each one counted."""

    def __init__(self) -> None:
        self.items: list[ExtendResult] = []
        self._lock = threading.Lock()

    def __call__(self, result: ExtendResult) -> None:
        with self._lock:
            self.items.append(result)

    def of(self, vol_uuid: str) -> list[ExtendResult]:
        with self._lock:
            return [r for r in self.items if r.vol_uuid == vol_uuid]

    def wait(self, count: int, timeout: float = 10) -> list[ExtendResult]:
        wait_for(lambda: len(self.items) >= count, timeout, f"{count} callbacks",
                 interval=0.02)
        return list(self.items)


class Rig:
    def __init__(self, domain) -> None:
        self.domain = domain
        self.ops = domain.ops
        self.inbox = os.path.join(domain.md_dir, sc.INBOX)
        self.outbox = os.path.join(domain.md_dir, sc.OUTBOX)
        self.img = new_uuid()
        os.makedirs(os.path.join(domain.domain_dir, sc.DOMAIN_IMAGES, self.img))
        self._started: list = []

    def volume(self, size: int = MiB) -> str:
        vol = new_uuid()
        path = os.path.join(self.domain.domain_dir, sc.DOMAIN_IMAGES, self.img, vol)
        with open(path, "wb") as f:
            f.truncate(size)
        return vol

    def size(self, vol: str) -> int:
        return os.stat(os.path.join(self.domain.domain_dir, sc.DOMAIN_IMAGES,
                                    self.img, vol)).st_size

    def host(self, host_id: int, **kwargs) -> HostMailbox:
        kwargs.setdefault("poll_interval", POLL)
        mailbox = HostMailbox(host_id, self.inbox, self.outbox, self.ops, **kwargs)
        mailbox.start()
        self._started.append(mailbox)
        return mailbox

    def spm(self, handler, **kwargs) -> SpmMailbox:
        kwargs.setdefault("poll_interval", POLL)
        mailbox = SpmMailbox(self.inbox, self.outbox, self.ops, handler, **kwargs)
        mailbox.start()
        self._started.append(mailbox)
        return mailbox

    def inbox_block(self, host_id: int) -> bytes:
        return RAW.read_block(self.inbox, fmt.mailbox_offset(host_id),
                              fmt.MAILBOX_SIZE)

    def outbox_block(self, host_id: int) -> bytes:
        return RAW.read_block(self.outbox, fmt.mailbox_offset(host_id),
                              fmt.MAILBOX_SIZE)

    def stop_all(self) -> None:
        for mailbox in reversed(self._started):
            mailbox.stop()


@pytest.fixture
def rig(oop_ctx):
    data_dir = os.path.join(os.path.dirname(oop_ctx.mount_root), "export")
    os.makedirs(data_dir)
    os.symlink(data_dir, os.path.join(oop_ctx.mount_root,
                                      mounts.transform_path(data_dir)))
    cache = DomainCache(oop_ctx, lookup_timeout=5)
    env = {"domains": DomainService(oop_ctx, cache), "dir": data_dir}
    domain = cache.produce(create_domain(env))
    r = Rig(domain)
    yield r
    r.stop_all()


def test_two_hosts_are_answered_in_order_each_request_once(rig):
    extender = Extender(rig.domain.domain_dir)
    rig.spm(extender, workers=1)
    results = Results()
    h1, h2 = rig.host(1), rig.host(2)
    vols1 = [rig.volume() for _ in range(3)]
    vols2 = [rig.volume() for _ in range(2)]
    for n, vol in enumerate(vols1):
        h1.request_extend(rig.domain.sd_uuid, rig.img, vol, (n + 2) * MiB, results)
    for vol in vols2:
        h2.request_extend(rig.domain.sd_uuid, rig.img, vol, 5 * MiB - 1, results)
    h1.request_extend(rig.domain.sd_uuid, rig.img, vols1[0], 2 * MiB, results)  # again

    results.wait(6)
    assert [c for c in extender.calls if c[0] == 1] == [
        (1, vol, (n + 2) * MiB) for n, vol in enumerate(vols1)]
    assert [c for c in extender.calls if c[0] == 2] == [
        (2, vol, 5 * MiB) for vol in vols2]
    for n, vol in enumerate(vols1):
        expected = 2 if n == 0 else 1  # the repeated request shares the answer
        assert [(r.ok, r.size, r.img_uuid) for r in results.of(vol)] == [
            (True, (n + 2) * MiB, rig.img)] * expected
        assert rig.size(vol) == (n + 2) * MiB
    for vol in vols2:
        assert [(r.ok, r.size) for r in results.of(vol)] == [(True, 5 * MiB)]
    # The handshake ends with every place free: hosts' messages empty.
    wait_for(lambda: rig.inbox_block(1) == rig.inbox_block(2) == fmt.EMPTY_MAILBOX,
             5, "free places", interval=0.02)
    time.sleep(5 * POLL)
    assert len(extender.calls) == 5 and len(results.items) == 6


def test_restarted_spm_does_not_answer_old_requests_again(rig):
    first = Extender(rig.domain.domain_dir)
    spm = rig.spm(first)
    results = Results()
    host = rig.host(1, poll_interval=0.5)  # reads answers late
    vol = rig.volume()
    host.request_extend(rig.domain.sd_uuid, rig.img, vol, 3 * MiB, results)
    wait_for(lambda: fmt.is_reply(rig.outbox_block(1)[:64]), 10, "the answer")
    spm.stop()

    second = Extender(rig.domain.domain_dir)
    spm = rig.spm(second)
    assert results.wait(1)[0].size == 3 * MiB
    wait_for(lambda: rig.inbox_block(1) == fmt.EMPTY_MAILBOX, 5, "free place")
    time.sleep(5 * POLL)
    assert len(first.calls) == 1 and second.calls == [] and len(results.items) == 1

    # A request left waiting while no SPM runs is answered by the next one.
    spm.stop()
    waiting = rig.volume()
    host.request_extend(rig.domain.sd_uuid, rig.img, waiting, 2 * MiB, results)
    wait_for(lambda: rig.inbox_block(1) != fmt.EMPTY_MAILBOX, 5, "request written")
    third = Extender(rig.domain.domain_dir)
    rig.spm(third)
    assert results.wait(2)[1].size == 2 * MiB
    assert third.calls == [(1, waiting, 2 * MiB)] and second.calls == []


def test_corrupted_mailboxes_are_ignored_and_the_others_served(rig, caplog):
    caplog.set_level(logging.INFO, logger="vdsm.storage.spm")
    extender = Extender(rig.domain.domain_dir)
    results = Results()
    good = fmt.encode_extend(rig.domain.sd_uuid, rig.volume(), 10)
    bad_sum = bytearray(fmt.build_mailbox([good]))
    bad_sum[-1] ^= 0xFF
    RAW.write_block(rig.inbox, fmt.mailbox_offset(7), bytes(bad_sum))
    RAW.write_block(rig.inbox, fmt.mailbox_offset(8),
                    fmt.build_mailbox([b"1evnt" + good[5:]]))
    # Host 1's own request is torn on disk before the SPM reads it; its
    # resend repairs it.
    h1 = rig.host(1, resend_interval=0.5)
    vol1 = rig.volume()
    h1.request_extend(rig.domain.sd_uuid, rig.img, vol1, 2 * MiB, results)
    wait_for(lambda: rig.inbox_block(1) != fmt.EMPTY_MAILBOX, 5, "request written")
    torn = bytearray(rig.inbox_block(1))
    torn[20] ^= 0xFF
    RAW.write_block(rig.inbox, fmt.mailbox_offset(1), bytes(torn))

    rig.spm(extender)
    h2 = rig.host(2)
    vol2 = rig.volume()
    h2.request_extend(rig.domain.sd_uuid, rig.img, vol2, 2 * MiB, results)
    results.wait(2)
    assert all(r.ok for r in results.items)
    assert sorted(c[0] for c in extender.calls) == [1, 2]
    time.sleep(10 * POLL)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("host 7 mailbox has a bad checksum" in m for m in messages) == 1
    assert sum("host 8 message 0 ignored: unknown message type" in m
               for m in messages) == 1
    assert len(extender.calls) == 2


def test_failing_handler_answers_failure_and_mailbox_keeps_serving(rig):
    broken = rig.volume()
    extender = Extender(rig.domain.domain_dir, fail={broken})
    rig.spm(extender)
    results = Results()
    host = rig.host(1)
    host.request_extend(rig.domain.sd_uuid, rig.img, broken, 2 * MiB, results)
    (failed,) = results.wait(1)
    assert not failed.ok and failed.error == "the SPM failed to extend"
    assert rig.size(broken) == MiB

    vol = rig.volume()
    host.request_extend(rig.domain.sd_uuid, rig.img, vol, 4 * MiB, results)
    assert results.wait(2)[1].ok and rig.size(vol) == 4 * MiB


def test_request_fails_after_the_bounded_wait_without_spm(rig):
    results = Results()
    host = rig.host(1, reply_timeout=0.5)
    vol = rig.volume()
    start = time.monotonic()
    host.request_extend(rig.domain.sd_uuid, rig.img, vol, 2 * MiB, results)
    (result,) = results.wait(1, timeout=5)
    assert 0.5 <= time.monotonic() - start < 3
    assert not result.ok and result.error == "the SPM did not answer within 0.5s"
    # The request is withdrawn: a later SPM does not extend for nobody.
    wait_for(lambda: rig.inbox_block(1) == fmt.EMPTY_MAILBOX, 5, "withdrawn")
    assert rig.size(vol) == MiB


def test_stopping_the_host_mailbox_fails_waiting_requests(rig):
    results = Results()
    host = rig.host(1)
    host.request_extend(rig.domain.sd_uuid, rig.img, rig.volume(), 2 * MiB, results)
    host.stop()
    (result,) = results.wait(1)
    assert result.error == "host mailbox stopped"


def test_pool_and_spm_role_run_the_mailbox_sides(pool_env):
    """A connected pool runs this host's mailbox on the master; the SPM role
    starts its mailbox once SPM and stops it on spmStop, after which a
    host's request fails after the bounded wait; disconnect stops the
    host's side."""
    env = pool_env
    pool = env["pool"]
    master = pool.master
    extender = Extender(master.domain_dir)
    inbox, outbox = (os.path.join(master.md_dir, n) for n in (sc.INBOX, sc.OUTBOX))

    spm = Spm(pool, env["fake"], registry=env["registry"], workers=1,
              error_code=error_code, host_id_timeout=5, fence_interval=0.1,
              mailbox=lambda dom: SpmMailbox(inbox, outbox, dom.ops, extender,
                                             poll_interval=POLL))
    env["holder"]["spm"] = spm
    host_pool = pools.StoragePool(
        pool.sp_uuid, host_id=2, master_uuid=pool.master_uuid, cache=pool.cache,
        monitor=pool.monitor, repository=os.path.dirname(pool.pool_dir),
        mailbox=lambda dom, host_id: HostMailbox(
            host_id, inbox, outbox, dom.ops, poll_interval=POLL, reply_timeout=1.0))
    host_pool.connect(1)
    host = host_pool.mailbox
    assert host is not None and host.host_id == 2
    assert spm.mailbox is None
    host_tasks = TaskManager(1)
    task_id = host_tasks.schedule(spm.start_job)
    assert host_tasks.wait(task_id, 10)
    host_tasks.shutdown(5)
    assert spm.role == "SPM" and spm.mailbox is not None

    rig = Rig(master)
    results = Results()
    try:
        vol = rig.volume()
        host.request_extend(master.sd_uuid, rig.img, vol, 3 * MiB, results)
        assert results.wait(1)[0].size == 3 * MiB
        assert extender.calls == [(2, vol, 3 * MiB)]

        spm.stop()
        assert spm.role == "Free" and spm.mailbox is None
        host.request_extend(master.sd_uuid, rig.img, rig.volume(), 3 * MiB, results)
        late = results.wait(2)[1]
        assert late.error == "the SPM did not answer within 1s"
        assert len(extender.calls) == 1
    finally:
        host_pool.disconnect()
    assert host_pool.mailbox is None and host._thread is not None
    assert not host._thread.is_alive()


@pytest.fixture
def frozen_rig(world_tmp):
    """Mailbox files behind freezefs (a FUSE mount a test can hang), their
    I/O in a helper process that gives up after 0.5s."""
    why = fusefs.unavailable()
    if why:
        pytest.skip(why)
    fs = fusefs.FreezeFs(os.path.join(world_tmp, "backing"),
                         os.path.join(world_tmp, "fuse"))
    fs.start()
    proc = IOProcess("mailbox", timeout=0.5)
    try:
        for name in (sc.INBOX, sc.OUTBOX):
            RAW.create_file(os.path.join(fs.mountpoint, name), 0o660, sc.MAILBOX_SIZE)
        yield fs, OopFileOps(proc)
    finally:
        fs.thaw()
        proc.close()
        fs.stop()


def test_hung_storage_fails_requests_in_bounded_time(frozen_rig):
    fs, ops = frozen_rig
    inbox = os.path.join(fs.mountpoint, sc.INBOX)
    outbox = os.path.join(fs.mountpoint, sc.OUTBOX)
    calls = []
    spm = SpmMailbox(inbox, outbox, ops, lambda host, req: calls.append(req),
                     poll_interval=0.1, max_host_id=4)
    spm.start()
    host = HostMailbox(1, inbox, outbox, ops, poll_interval=0.1, reply_timeout=1.5)
    host.start()
    results = Results()
    try:
        host.request_extend(new_uuid(), new_uuid(), new_uuid(), MiB, results)
        assert results.wait(1)[0].ok

        fs.freeze()
        start = time.monotonic()
        host.request_extend(new_uuid(), new_uuid(), new_uuid(), MiB, results)
        failed = results.wait(2)[1]
        assert failed.error == "the SPM did not answer within 1.5s"
        assert time.monotonic() - start < 4
    finally:
        start = time.monotonic()
        host.stop(timeout=2)
        spm.stop(timeout=2)
        assert time.monotonic() - start < 6
    assert len(calls) == 1


def test_an_event_wakes_the_spm_long_before_its_next_poll(rig):
    extender = Extender(rig.domain.domain_dir)
    rig.spm(extender, poll_interval=30, event_interval=0.05)
    host = rig.host(1, poll_interval=30, event_interval=0.05)
    time.sleep(0.3)       # both past their first poll: 30 s to the next
    vol, results = rig.volume(), Results()
    start = time.monotonic()
    host.request_extend(rig.domain.sd_uuid, rig.img, vol, 3 * MiB, results)
    (result,) = results.wait(1, timeout=5)
    assert result.ok and rig.size(vol) == 3 * MiB
    assert time.monotonic() - start < 2
    assert fmt.decode_event(RAW.read_block(rig.inbox, 0, fmt.MAILBOX_SIZE))


def test_without_the_event_a_request_waits_for_the_spm_poll(rig):
    """A lost event (here: a host that sends none) costs latency, not the
    request: the SPM's poll still finds it."""
    extender = Extender(rig.domain.domain_dir)
    rig.spm(extender, poll_interval=1.0, event_interval=0.05)
    host = rig.host(1, poll_interval=0.05)            # no events
    time.sleep(0.2)
    vol, results = rig.volume(), Results()
    host.request_extend(rig.domain.sd_uuid, rig.img, vol, 2 * MiB, results)
    (result,) = results.wait(1, timeout=5)
    assert result.ok and rig.size(vol) == 2 * MiB
