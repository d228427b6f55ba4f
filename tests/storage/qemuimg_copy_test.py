"""vdsm.storage.qemuimg_copy: the convert argv (rate limit), progress
parsing, and a real qemu-img convert watched to its end, stopped, and
compared."""

from __future__ import annotations

import subprocess

import pytest

from vdsm.storage import qemuimg, qemuimg_copy
from vdsm.storage.image_copy import sync_selection

MiB = 1024 * 1024


def test_rate_limit_is_bytes_per_second_and_zero_means_none():
    assert qemuimg_copy.rate_limit(0) is None
    assert qemuimg_copy.rate_limit(-1) is None
    assert qemuimg_copy.rate_limit(100) == 100 * MiB
    assert qemuimg_copy.rate_limit(0.5) == MiB // 2


def test_convert_argv_with_rate_and_backing():
    argv = qemuimg_copy.convert_argv("src", "dst", src_format="qcow2",
                                     dst_format="qcow2", backing="parent",
                                     rate=qemuimg_copy.rate_limit(8))
    assert argv == ["qemu-img", "convert", "-p", "-t", "none", "-T", "none",
                    "-f", "qcow2", "-O", "qcow2", "-r", str(8 * MiB),
                    "-B", "parent", "-n", "src", "dst"]


def test_the_configured_bandwidth_reaches_the_copier():
    from vdsm.config import Config
    from vdsm.storage.volume_copy import VolumeCopier
    assert Config().get("irs", "copy_bandwidth_mib") == 0.0
    assert Config({("irs", "copy_bandwidth_mib"): "12.5"}).get(
        "irs", "copy_bandwidth_mib") == 12.5
    assert VolumeCopier(bandwidth_mib=0.0).rate is None
    assert VolumeCopier(bandwidth_mib=25).rate == 25 * MiB


def test_convert_argv_unlimited_has_no_rate():
    argv = qemuimg_copy.convert_argv("a", "b", src_format="raw", dst_format="raw")
    assert "-r" not in argv and "-B" not in argv
    assert argv[-3:] == ["-n", "a", "b"]


def test_parse_progress_takes_the_last_figure():
    out = b"    (0.00/100%)\r    (6.25/100%)\r    (12.50/100%)\r"
    assert qemuimg_copy.parse_progress(out) == 12.5
    assert qemuimg_copy.parse_progress(b"") is None
    assert qemuimg_copy.parse_progress(b"    (100.00/100%)\r\n") == 100.0


@pytest.mark.parametrize("sync_type,expected", [
    ("ALL", ["a", "b", "c"]), ("INTERNAL", ["a", "b"]), ("LEAF", ["c"])])
def test_sync_selection(sync_type, expected):
    assert sync_selection(["a", "b", "c"], sync_type) == expected


def test_sync_selection_refuses_an_unknown_type():
    from vdsm.storage.errors import MiscNotImplementedException
    with pytest.raises(MiscNotImplementedException):
        sync_selection(["a"], "SOME")


def _image(path, pattern: int, size: int = 32 * MiB) -> None:
    qemuimg.create(str(path), size=size, fmt="qcow2")
    subprocess.run(["qemu-io", "-f", "qcow2", "-c",
                    f"write -P {pattern} 0 {size // 2}", str(path)],
                   check=True, capture_output=True, timeout=60)


def test_run_convert_reports_progress_and_copies(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    _image(src, 7)
    qemuimg.create(str(dst), size=32 * MiB, fmt="qcow2")
    seen = []
    argv = qemuimg_copy.convert_argv(str(src), str(dst), src_format="qcow2",
                                     dst_format="qcow2", cache="writeback",
                                     rate=qemuimg_copy.rate_limit(16))
    qemuimg_copy.run_convert(argv, progress=seen.append, timeout=60)
    assert seen and seen[-1] == 100.0 and seen == sorted(seen)
    # rate-limited (16 MiB in 2 MiB requests, ~1 s): seen going, not only
    # at the start and the end
    assert any(0 < percent < 100 for percent in seen), seen
    assert qemuimg_copy.compare(str(src), str(dst), first_format="qcow2",
                                second_format="qcow2")


def test_run_convert_stopped_kills_the_child(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    _image(src, 3)
    qemuimg.create(str(dst), size=32 * MiB, fmt="qcow2")
    argv = qemuimg_copy.convert_argv(str(src), str(dst), src_format="qcow2",
                                     dst_format="qcow2", cache="writeback",
                                     rate=qemuimg_copy.rate_limit(1))
    seen = []
    with pytest.raises(qemuimg.QemuImgError, match="stopped"):
        qemuimg_copy.run_convert(argv, progress=seen.append,
                                 aborting=lambda: bool(seen), timeout=60)
    assert not qemuimg_copy.compare(str(src), str(dst), first_format="qcow2",
                                    second_format="qcow2")


def test_run_convert_failure_and_timeout(tmp_path):
    argv = qemuimg_copy.convert_argv(str(tmp_path / "missing"), str(tmp_path / "x"),
                                     src_format="qcow2", dst_format="qcow2")
    with pytest.raises(qemuimg.QemuImgError, match="rc=1"):
        qemuimg_copy.run_convert(argv, timeout=30)
    src, dst = tmp_path / "src", tmp_path / "dst"
    _image(src, 5)
    qemuimg.create(str(dst), size=32 * MiB, fmt="qcow2")
    slow = qemuimg_copy.convert_argv(str(src), str(dst), src_format="qcow2",
                                     dst_format="qcow2", cache="writeback",
                                     rate=qemuimg_copy.rate_limit(1))
    with pytest.raises(qemuimg.QemuImgError, match="timed out"):
        qemuimg_copy.run_convert(slow, timeout=0.5)
