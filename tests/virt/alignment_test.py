"""Partition alignment read from MBR, EBR chains and GPT that the tests
write byte by byte (sfdisk is not installed here), on raw files and on a
qcow2 (read through qemu-img dd); then getDiskAlignment through the API
of an agent (no guest needed: the verb answers only for the blank VM id).
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import uuid

import pytest

from tests.virt.harness import running_agent
from vdsm.common import commands
from vdsm.virt import alignment

SECTOR = 512
MIB = 1 << 20


def _entry(kind: int, first: int, count: int) -> bytes:
    return bytes([0, 0, 0, 0, kind, 0, 0, 0]) + struct.pack("<II", first, count)


def mbr(*entries: tuple[int, int, int]) -> bytes:
    table = b"".join(_entry(*e) for e in entries).ljust(64, b"\0")
    return b"\0" * 446 + table + b"\x55\xaa"


def write_disk(path: str, size: int, sectors: dict[int, bytes]) -> None:
    with open(path, "wb") as f:
        f.truncate(size)
        for lba, data in sectors.items():
            f.seek(lba * SECTOR)
            f.write(data)


# sda1 at 1 MiB (aligned), sda2 at sector 63 (the old DOS layout), sda3
# extended at 4 MiB holding sda5 at +128 sectors (64 KiB: aligned) and
# sda6 at +1 sector past its EBR (unaligned)
MBR_DISK = {
    0: mbr((0x83, 2048, 2048), (0x83, 63, 100), (0x05, 8192, 8192)),
    8192: mbr((0x83, 128, 1000), (0x05, 2048, 4096)),
    8192 + 2048: mbr((0x83, 1, 1000)),
}
MBR_ANSWER = {"/dev/sda1": True, "/dev/sda2": False, "/dev/sda3": True,
              "/dev/sda5": True, "/dev/sda6": False}


def gpt(starts: list[int]) -> dict[int, bytes]:
    header = bytearray(SECTOR)
    header[:8] = b"EFI PART"
    struct.pack_into("<QII", header, 72, 2, 128, 128)
    table = bytearray(128 * 128)
    for i, first in enumerate(starts):
        table[i * 128:i * 128 + 16] = uuid.uuid4().bytes   # type GUID
        struct.pack_into("<QQ", table, i * 128 + 32, first, first + 100)
    return {0: mbr((0xEE, 1, 0xFFFFFFFF)), 1: bytes(header), 2: bytes(table)}


def test_mbr_primary_and_logical_partitions(tmp_path):
    path = str(tmp_path / "disk")
    write_disk(path, 16 * MIB, MBR_DISK)
    assert alignment.scan(path) == MBR_ANSWER


def test_gpt_entries_in_table_order(tmp_path):
    path = str(tmp_path / "disk")
    write_disk(path, 8 * MIB, gpt([2048, 4097, 6144]))
    assert alignment.scan(path) == {"/dev/sda1": True, "/dev/sda2": False,
                                    "/dev/sda3": True}


def test_no_partition_table_is_an_error_of_its_own():
    with pytest.raises(alignment.PartitionTableError):
        alignment.partition_starts(alignment.file_reader(io.BytesIO(b"\0" * 1024)))
    # a protective MBR without its GPT header
    head = io.BytesIO(mbr((0xEE, 1, 100)) + b"\0" * SECTOR)
    with pytest.raises(alignment.PartitionTableError):
        alignment.partition_starts(alignment.file_reader(head))


def test_an_ebr_chain_that_loops_ends():
    loop = {0: mbr((0x05, 10, 100)), 10: mbr((0x83, 1, 5), (0x05, 0, 10))}
    data = bytearray(20 * SECTOR)
    for lba, sector in loop.items():
        data[lba * SECTOR:(lba + 1) * SECTOR] = sector
    starts = alignment.partition_starts(alignment.file_reader(io.BytesIO(bytes(data))))
    assert starts == {"/dev/sda1": 10 * SECTOR, "/dev/sda5": 11 * SECTOR}


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")
def test_qcow2_is_read_as_the_guest_sees_it(tmp_path):
    raw, cow = str(tmp_path / "raw"), str(tmp_path / "cow")
    write_disk(raw, 16 * MIB, MBR_DISK)
    commands.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, cow],
                 timeout=60)
    with open(cow, "rb") as f:
        assert f.read(4) == b"QFI\xfb"
    assert alignment.scan(cow) == MBR_ANSWER


BLANK = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def agent(own_libvirtd):
    yield from running_agent(own_libvirtd.uri)


def test_get_disk_alignment_through_the_api(agent, tmp_path):
    path = str(tmp_path / "disk")
    write_disk(path, 16 * MIB, MBR_DISK)
    answer = agent.proxy.getDiskAlignment(BLANK, {"path": path})
    assert answer["status"]["code"] == 0, answer
    assert answer["alignment"] == MBR_ANSWER
    # a disk with no partition table has no partitions
    empty = str(tmp_path / "empty")
    write_disk(empty, MIB, {})
    assert agent.proxy.getDiskAlignment(BLANK, {"path": empty})["alignment"] == {}
    # a running VM's id: not implemented, as the classic verb answered
    assert agent.proxy.getDiskAlignment(str(uuid.uuid4()), {"path": path})[
        "status"]["code"] == 44
    # a missing file
    gone = agent.proxy.getDiskAlignment(BLANK, {"path": path + ".gone"})
    assert gone["status"]["code"] == 13, gone
    assert not os.path.exists(path + ".gone")
