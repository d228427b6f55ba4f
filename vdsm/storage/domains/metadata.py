"""The classic metadata text formats, byte for byte.

Domain (and pool) metadata: ``KEY=value`` lines sorted by key, then
``_SHA_CKSUM=<sha1>``, where the SHA-1 is taken over the sorted lines
joined without newlines. A checksum that does not match is an error
(never silently used); a file without one is accepted, as the classic
agent did, with a warning.

Volume metadata (``<vol>.meta``): ``KEY=value`` lines sorted by key, then a
line ``EOF``; at most one 512-byte block.
"""

from __future__ import annotations

import hashlib
import logging
import re

from vdsm.storage import constants as sc
from vdsm.storage.errors import (
    MetaDataKeyError,
    MetadataOverflowError,
    MetaDataValidationError,
)

log = logging.getLogger(__name__)

SHA_CKSUM = "_SHA_CKSUM"
EOF_LINE = "EOF"
_KEY = re.compile(r"[A-Z][A-Z0-9_]*")

Metadata = dict[str, str]


def checksum(lines: list[str]) -> str:
    """SHA-1 hex digest of lines (without newlines), as the classic agent."""
    digest = hashlib.sha1()
    for line in lines:
        digest.update(line.encode("ascii", "xmlcharrefreplace"))
    return digest.hexdigest()


def _lines(md: Metadata) -> list[str]:
    lines = []
    for key in sorted(md):
        value = str(md[key])
        if not _KEY.fullmatch(key):
            raise MetaDataKeyError(f"Invalid metadata key {key!r}")
        if "\n" in value or "\r" in value:
            raise MetaDataKeyError(f"Metadata value of {key} has a newline")
        lines.append(f"{key}={value}")
    return lines


def _split(text: str, what: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            if line == EOF_LINE:
                pairs.append((EOF_LINE, ""))
                continue
            raise MetaDataValidationError(f"Malformed {what} line: {line[:80]!r}")
        pairs.append((key, value))
    return pairs


def dump_domain(md: Metadata) -> bytes:
    """Serialize domain metadata with its checksum line."""
    lines = _lines(md)
    lines.append(f"{SHA_CKSUM}={checksum(lines)}")
    return "".join(line + "\n" for line in lines).encode("utf-8")


def parse_domain(data: bytes, *, source: str = "metadata") -> Metadata:
    """Parse domain metadata and verify its checksum.

    Raises MetaDataValidationError when the text is malformed or the
    declared checksum differs from the computed one.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MetaDataValidationError(f"{source} is not UTF-8: {e}") from None
    md: Metadata = {}
    declared = None
    for key, value in _split(text, source):
        if key == SHA_CKSUM:
            declared = value
        elif key != EOF_LINE:
            md[key] = value
    if declared is None:
        log.warning("%s has no embedded checksum, trusting it as it is", source)
        return md
    computed = checksum(_lines(md))
    if declared != computed:
        raise MetaDataValidationError(
            f"Meta Data self-validation failed: {source} checksum "
            f"{declared} does not match its content ({computed})",
            declared=declared, computed=computed)
    return md


def dump_volume(md: Metadata) -> bytes:
    """Serialize volume metadata; raises MetadataOverflowError past 512 bytes."""
    lines = _lines(md) + [EOF_LINE]
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    if len(data) > sc.METADATA_SIZE:
        raise MetadataOverflowError(
            f"Volume metadata is {len(data)} bytes, more than {sc.METADATA_SIZE}")
    return data


def parse_volume(data: bytes, *, source: str = "volume metadata") -> Metadata:
    """Parse a ``.meta`` file; raises MetaDataValidationError without EOF."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MetaDataValidationError(f"{source} is not UTF-8: {e}") from None
    md: Metadata = {}
    for key, value in _split(text, source):
        if key == EOF_LINE:
            break
        md[key] = value
    else:
        raise MetaDataValidationError(f"{source} has no EOF line (truncated?)")
    if sc.VMD_CAPACITY not in md and sc.VMD_SIZE_BLOCKS in md:
        md[sc.VMD_CAPACITY] = str(int(md[sc.VMD_SIZE_BLOCKS]) * sc.BLOCK_SIZE)
    md.setdefault(sc.VMD_GENERATION, "0")
    return md
