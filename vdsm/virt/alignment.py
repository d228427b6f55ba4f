"""getDiskAlignment: which partitions of a disk start on a 64 KiB boundary.

The classic agent ran virt-alignment-scan (libguestfs, a whole appliance
VM) for this; reading the partition table is enough: an MBR (primary
partitions and the logical ones of an extended partition) or a GPT. A
partition is aligned when its first byte is a multiple of 64 KiB, where
virt-alignment-scan answers "ok". Partitions are named as that tool names
them in its appliance (``/dev/sda1``...; logical ones from 5), the keys
of the classic answer.

A qcow2 volume is read through ``qemu-img convert`` (its guest view); a raw
one directly. The parsing functions are pure and take the disk's first
sectors as bytes.
"""

from __future__ import annotations

import os
import struct
import tempfile
from typing import BinaryIO, Callable

from vdsm.common import commands

Reader = Callable[[int, int], bytes]   # (offset, length) -> bytes of the disk

SECTOR = 512
ALIGNMENT = 64 * 1024
_QCOW2_MAGIC = b"QFI\xfb"
_EXTENDED = {0x05, 0x0F, 0x85}
_GPT_PROTECTIVE = 0xEE
_MAX_LOGICAL = 128         # a bound on a (possibly looping) EBR chain


class PartitionTableError(ValueError):
    """The bytes hold no partition table this module reads."""


def aligned(start_bytes: int) -> bool:
    return start_bytes % ALIGNMENT == 0


def alignment_map(starts: dict[str, int]) -> dict[str, bool]:
    """The classic answer: partition name -> aligned."""
    return {name: aligned(start) for name, start in starts.items()}


def _mbr_entries(sector: bytes) -> list[tuple[int, int, int]]:
    """(type, first LBA, sectors) of the four entries of an MBR/EBR."""
    if len(sector) < SECTOR or sector[510:512] != b"\x55\xaa":
        raise PartitionTableError("no MBR signature")
    entries = []
    for i in range(4):
        raw = sector[446 + 16 * i:446 + 16 * (i + 1)]
        kind = raw[4]
        first, count = struct.unpack_from("<II", raw, 8)
        entries.append((kind, first, count))
    return entries


def partition_starts(read: Reader, device: str = "/dev/sda") -> dict[str, int]:
    """Partition name -> first byte, reading the disk with ``read``.
    Raises PartitionTableError."""
    entries = _mbr_entries(read(0, SECTOR))
    if any(kind == _GPT_PROTECTIVE for kind, _, _ in entries):
        return _gpt_starts(read, device)
    starts: dict[str, int] = {}
    for number, (kind, first, count) in enumerate(entries, start=1):
        if kind == 0 or count == 0:
            continue
        starts[f"{device}{number}"] = first * SECTOR
        if kind in _EXTENDED:
            starts.update(_logical_starts(read, first, device))
    return starts


def _logical_starts(read: Reader, extended: int, device: str) -> dict[str, int]:
    starts: dict[str, int] = {}
    ebr = extended
    for number in range(5, 5 + _MAX_LOGICAL):
        entries = _mbr_entries(read(ebr * SECTOR, SECTOR))
        kind, first, count = entries[0]
        if kind and count:
            starts[f"{device}{number}"] = (ebr + first) * SECTOR
        next_kind, next_first, _ = entries[1]
        if next_kind not in _EXTENDED or next_first == 0:
            break
        ebr = extended + next_first
    return starts


def _gpt_starts(read: Reader, device: str) -> dict[str, int]:
    header = read(SECTOR, SECTOR)
    if header[:8] != b"EFI PART":
        raise PartitionTableError("protective MBR without a GPT header")
    entries_lba, count, size = struct.unpack_from("<QII", header, 72)
    if not 0 < count <= 1024 or size < 128:
        raise PartitionTableError(f"GPT with {count} entries of {size} bytes")
    table = read(entries_lba * SECTOR, count * size)
    starts: dict[str, int] = {}
    for i in range(count):
        entry = table[i * size:(i + 1) * size]
        if len(entry) < 48 or entry[:16] == b"\0" * 16:
            continue
        first = struct.unpack_from("<Q", entry, 32)[0]
        starts[f"{device}{i + 1}"] = first * SECTOR
    return starts


def scan(path: str, *, timeout: float = 60.0) -> dict[str, bool]:
    """The alignment map of the volume at ``path`` (raw or qcow2).
    Raises PartitionTableError, OSError, commands.CommandError."""
    with open(path, "rb") as f:
        if f.read(4) != _QCOW2_MAGIC:
            return alignment_map(partition_starts(file_reader(f)))
    with tempfile.TemporaryDirectory(prefix="vdsm-align-") as tmp:
        return alignment_map(partition_starts(
            _qcow2_reader(path, os.path.join(tmp, "part"), timeout)))


def file_reader(f: BinaryIO) -> Reader:
    def read(offset: int, length: int) -> bytes:
        f.seek(offset)
        data = f.read(length)
        if len(data) < length:
            raise PartitionTableError(f"short read at {offset}")
        return data
    return read


def _qcow2_reader(src: str, scratch: str, timeout: float) -> Reader:
    """The guest's view of a qcow2: qemu-img copies the wanted bytes
    through a raw node with offset and size over the qcow2 one."""
    source = src.replace(",", ",,")    # image-opts escaping
    def read(offset: int, length: int) -> bytes:
        commands.run(["qemu-img", "convert", "-O", "raw", "--image-opts",
                      f"driver=raw,offset={offset},size={length},"
                      f"file.driver=qcow2,file.file.filename={source}",
                      scratch], timeout=timeout)
        try:
            with open(scratch, "rb") as f:
                return file_reader(f)(0, length)
        finally:
            os.unlink(scratch)
    return read
