"""sparsify's zero pass (vdsm/storage/sparsify.py) on real qemu-img, no
agent: zeroed blocks leave a RAW file, data and mode stay; a qcow2 keeps
its backing file; a failed copy leaves the volume and no temp file."""

from __future__ import annotations

import os

import pytest

from vdsm.common import commands
from vdsm.storage import qemuimg
from vdsm.storage.domains.file.volume import FileVolume
from vdsm.storage.errors import ImagesActionError
from vdsm.storage.io.file_operations import LocalFileOps
from vdsm.storage.sparsify import allocated, drop_zeroes, sparsify

MiB = 1 << 20


def volume(directory: str, name: str) -> FileVolume:
    return FileVolume("sd", "img", name, image_dir=directory, ops=LocalFileOps(),
                      leases=None)  # type: ignore[arg-type]


def test_zeroed_blocks_leave_a_raw_volume(tmp_path):
    vol = volume(str(tmp_path), "vol")
    with open(vol.path, "wb") as f:
        f.write(b"\0" * (24 * MiB))        # allocated zeros
        f.write(b"data" * (MiB // 4))      # 1 MiB of data
        f.truncate(32 * MiB)
    os.chmod(vol.path, 0o660)
    assert allocated(vol) >= 25 * MiB
    drop_zeroes(vol, fmt="raw")
    assert allocated(vol) <= 2 * MiB
    assert os.stat(vol.path).st_size == 32 * MiB
    assert os.stat(vol.path).st_mode & 0o777 == 0o660
    with open(vol.path, "rb") as f:
        f.seek(24 * MiB)
        assert f.read(4) == b"data"
    assert os.listdir(tmp_path) == ["vol"]


def test_a_qcow2_layer_keeps_its_backing_file(tmp_path):
    qemuimg.create(str(tmp_path / "base"), size=16 * MiB, fmt="raw")
    qemuimg.create(str(tmp_path / "top"), size=16 * MiB, fmt="qcow2", backing="base",
                   backing_format="raw", cwd=str(tmp_path))
    vol = volume(str(tmp_path), "top")
    drop_zeroes(vol, fmt="qcow2")
    info = qemuimg.info(vol.path, fmt="qcow2")
    assert info["backing-filename"] == "base"
    assert info["virtual-size"] == 16 * MiB


def test_a_failed_copy_leaves_the_volume(tmp_path, monkeypatch):
    vol = volume(str(tmp_path), "vol")
    with open(vol.path, "wb") as f:
        f.write(b"x" * MiB)

    def fail(*args, **kwargs):
        open(tmp_path / ".vol.sparsify.tmp", "w").close()
        raise commands.CommandError(["qemu-img"], 1, "", "no space", "failed")
    monkeypatch.setattr(qemuimg, "convert", fail)
    with pytest.raises(commands.CommandError):
        drop_zeroes(vol, fmt="raw")
    assert os.listdir(tmp_path) == ["vol"]
    assert os.path.getsize(vol.path) == MiB


def test_block_volumes_are_refused():
    class NotAFile:
        vol_uuid = "v"
    with pytest.raises(ImagesActionError):
        sparsify(NotAFile())  # type: ignore[arg-type]


def _tool(tmp_path, body: str) -> str:
    """A stand-in for virt-sparsify (not installed here; the real path of
    sparsifyImage runs in ovf_agent_test and sparsify_guest_test): records
    its arguments, then runs ``body``."""
    path = tmp_path / "virt-sparsify"
    path.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/argv\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_virt_sparsify_runs_in_place_on_the_volume_then_the_zero_pass(tmp_path):
    directory = tmp_path / "img"
    directory.mkdir()
    vol = volume(str(directory), "vol")
    qemuimg.create(vol.path, size=16 * MiB, fmt="qcow2")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(FileVolume, "metadata",
                   lambda self: type("Md", (), {"format": "COW"})())
        result = sparsify(vol, virt_sparsify=_tool(tmp_path, "exit 0"))
        assert result.tool == "virt-sparsify"
        assert (tmp_path / "argv").read_text().split() == [
            "--in-place", "--format", "qcow2", vol.path]
        with pytest.raises(ImagesActionError, match="appliance failed"):
            sparsify(vol, virt_sparsify=_tool(
                tmp_path, "echo 'libguestfs: appliance failed' >&2; exit 1"))
    assert qemuimg.info(vol.path, fmt="qcow2")["virtual-size"] == 16 * MiB
