"""The I/O helper process: results, errnos, and calls that hang.

A FIFO opened for reading with no writer blocks in open(2), a real hang
in the kernel that we can end by opening the other side.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from vdsm.storage.errors import AccessTimeout
from vdsm.storage.io import out_of_process


@pytest.fixture
def proc():
    p = out_of_process.IOProcess("test", timeout=5)
    yield p
    p.close()


def test_operations_run_in_the_helper(proc, tmp_path):
    ops = out_of_process.OopFileOps(proc)
    path = str(tmp_path / "md")
    ops.write_atomic(path, b"A=1\n", 0o640)
    assert ops.read_file(path, True) == b"A=1\n"
    assert oct(os.stat(path).st_mode & 0o777) == "0o640"
    assert ops.listdir(str(tmp_path)) == ["md"]
    assert ops.stat(path)["size"] == 4
    assert ops.statvfs(str(tmp_path))["total"] > 0
    assert ops.check_read(path) >= 0
    pid = proc._proc.pid
    assert pid != os.getpid()


def test_errno_survives_the_trip(proc, tmp_path):
    ops = out_of_process.OopFileOps(proc)
    with pytest.raises(FileNotFoundError):
        ops.read_file(str(tmp_path / "missing"))
    ops.mkdir(str(tmp_path / "d"))
    with pytest.raises(FileExistsError):
        ops.mkdir(str(tmp_path / "d"))


def test_a_hung_call_times_out_and_is_counted_until_it_ends(tmp_path):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    proc = out_of_process.IOProcess("hang", timeout=0.5)
    try:
        ops = out_of_process.OopFileOps(proc)
        start = time.monotonic()
        with pytest.raises(AccessTimeout):
            ops.read_file(fifo)
        assert time.monotonic() - start < 2
        assert proc.pending == 1
        # other calls still answer while one is stuck
        assert ops.exists(str(tmp_path)) is True
        # unblock the stuck open: its late answer is dropped
        fd = os.open(fifo, os.O_WRONLY)
        os.close(fd)
        deadline = time.monotonic() + 5
        while proc.pending and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.pending == 0
    finally:
        proc.close()


def test_too_many_stuck_calls_fail_at_once(tmp_path):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    proc = out_of_process.IOProcess("stuck", timeout=0.2, max_pending=2)
    try:
        ops = out_of_process.OopFileOps(proc)
        for _ in range(2):
            with pytest.raises(AccessTimeout):
                ops.read_file(fifo)
        start = time.monotonic()
        with pytest.raises(AccessTimeout) as e:
            ops.exists(str(tmp_path))
        assert time.monotonic() - start < 0.1
        assert "not responding" in e.value.message
    finally:
        proc.close()  # kills the helper stuck in open()


def test_a_dead_helper_is_restarted(proc, tmp_path):
    ops = out_of_process.OopFileOps(proc)
    assert ops.exists(str(tmp_path))
    proc._proc.kill()
    proc._proc.wait(5)
    # the call racing the death may fail; the next one gets a new helper
    for _ in range(3):
        try:
            assert ops.exists(str(tmp_path))
            break
        except OSError:
            continue
    else:
        pytest.fail("helper was not restarted")


def test_calls_from_many_threads(proc, tmp_path):
    ops = out_of_process.OopFileOps(proc)
    errors = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                path = str(tmp_path / f"f{n}-{i}")
                ops.write_atomic(path, str(i).encode())
                assert ops.read_file(path) == str(i).encode()
        except Exception as e:  # collected for the assertion below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(os.listdir(tmp_path)) == 160


def test_blocks_are_written_in_place_and_read_back(proc, tmp_path):
    """The mailbox's I/O: one O_DIRECT block, neighbours and size untouched."""
    ops = out_of_process.OopFileOps(proc)
    path = str(tmp_path / "inbox")
    ops.create_file(path, 0o660, 4 * 4096)
    ops.write_block(path, 4096, b"\1" * 4096)
    ops.write_block(path, 2 * 4096, b"\2" * 4096)
    assert os.path.getsize(path) == 4 * 4096
    assert ops.read_block(path, 0, 3 * 4096) == (b"\0" * 4096 + b"\1" * 4096
                                                 + b"\2" * 4096)
    assert ops.read_block(path, 3 * 4096, 2 * 4096) == b"\0" * 4096  # short: EOF
    with pytest.raises(OSError):
        ops.write_block(path, 100, b"\3" * 4096)  # unaligned: refused by O_DIRECT
