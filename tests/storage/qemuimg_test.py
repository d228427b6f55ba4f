"""The qemu-img wrapper against the real qemu-img."""

from __future__ import annotations

import os

import pytest

from vdsm.storage import qemuimg

MiB = 1024 * 1024


def test_create_raw_and_qcow2_chain_with_relative_backing(tmp_path):
    base = tmp_path / "base"
    top = tmp_path / "top"
    qemuimg.create(str(base), size=8 * MiB, fmt=qemuimg.RAW)
    qemuimg.create(str(top), size=8 * MiB, fmt=qemuimg.QCOW2, backing="base",
                   backing_format=qemuimg.RAW, cwd=str(tmp_path))
    chain = qemuimg.info(str(top), backing_chain=True)
    assert [c["format"] for c in chain] == ["qcow2", "raw"]
    assert chain[0]["backing-filename"] == "base"  # bare name, as classic
    assert chain[0]["virtual-size"] == 8 * MiB
    assert qemuimg.info(str(top))["format-specific"]["data"]["compat"] == "1.1"


def test_create_reads_the_backing_file_unless_told_it_is_fresh(tmp_path):
    """The clone leaves out the ``qemu-img info`` of a parent it has just
    made; by default a missing parent still fails the create."""
    top = str(tmp_path / "top")
    with pytest.raises(qemuimg.QemuImgError):
        qemuimg.create(top, size=MiB, fmt=qemuimg.QCOW2, backing="gone",
                       backing_format=qemuimg.RAW, cwd=str(tmp_path))
    qemuimg.create(top, size=MiB, fmt=qemuimg.QCOW2, backing="gone",
                   backing_format=qemuimg.RAW, cwd=str(tmp_path),
                   check_backing=False)
    assert qemuimg.info(top)["backing-filename"] == "gone"


def test_convert_collapses_a_chain(tmp_path):
    base = str(tmp_path / "base")
    top = str(tmp_path / "top")
    out = str(tmp_path / "out")
    qemuimg.create(base, size=4 * MiB, fmt=qemuimg.RAW)
    with open(base, "r+b") as f:
        f.write(b"A" * 4096)
    qemuimg.create(top, size=4 * MiB, fmt=qemuimg.QCOW2, backing="base",
                   backing_format=qemuimg.RAW, cwd=str(tmp_path))
    qemuimg.convert(top, out, src_format=qemuimg.QCOW2, dst_format=qemuimg.RAW)
    info = qemuimg.info(out)
    assert info["format"] == "raw" and "backing-filename" not in info
    with open(out, "rb") as f:
        assert f.read(4096) == b"A" * 4096


def test_resize_and_check(tmp_path):
    path = str(tmp_path / "disk")
    qemuimg.create(path, size=MiB, fmt=qemuimg.QCOW2)
    qemuimg.resize(path, 3 * MiB, fmt=qemuimg.QCOW2)
    assert qemuimg.info(path)["virtual-size"] == 3 * MiB
    assert qemuimg.check(path, fmt=qemuimg.QCOW2)["check-errors"] == 0


def test_failure_is_a_qemuimg_error_with_stderr(tmp_path):
    with pytest.raises(qemuimg.QemuImgError) as e:
        qemuimg.info(os.path.join(str(tmp_path), "missing"))
    assert "No such file" in e.value.message
    with pytest.raises(ValueError):
        qemuimg.create(str(tmp_path / "x"), size=1, fmt=qemuimg.QCOW2, backing="b")
