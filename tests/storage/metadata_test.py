"""The classic metadata formats: domain (checksummed) and volume (.meta)."""

from __future__ import annotations

import hashlib

import pytest

from vdsm.storage.domains import metadata
from vdsm.storage.errors import (
    MetaDataKeyError,
    MetadataOverflowError,
    MetaDataValidationError,
)

MD = {"SDUUID": "f6f2c5e4-3c5d-4a5e-9a8e-0d1c2b3a4f5e", "CLASS": "Data",
      "VERSION": "5", "POOL_UUID": "", "DESCRIPTION": "my data = best"}


def test_domain_metadata_is_sorted_lines_with_sha1_of_the_lines():
    data = metadata.dump_domain(MD)
    lines = data.decode().splitlines()
    body = lines[:-1]
    assert body == sorted(body)
    assert body[0] == "CLASS=Data"
    expected = hashlib.sha1("".join(body).encode()).hexdigest()
    assert lines[-1] == f"_SHA_CKSUM={expected}"
    assert data.endswith(b"\n")


def test_domain_metadata_round_trips():
    assert metadata.parse_domain(metadata.dump_domain(MD)) == MD


def test_corrupted_domain_metadata_is_reported_not_used():
    data = metadata.dump_domain(MD).replace(b"CLASS=Data", b"CLASS=Iso ")
    with pytest.raises(MetaDataValidationError) as e:
        metadata.parse_domain(data, source="dom_md/metadata")
    assert "checksum" in e.value.message
    assert e.value.name == "MetaDataValidationError"


def test_domain_metadata_without_checksum_is_trusted_as_classic():
    data = b"CLASS=Data\nVERSION=3\n"
    assert metadata.parse_domain(data) == {"CLASS": "Data", "VERSION": "3"}


def test_bad_keys_and_values_are_refused():
    with pytest.raises(MetaDataKeyError):
        metadata.dump_domain({"lower": "x"})
    with pytest.raises(MetaDataKeyError):
        metadata.dump_domain({"DESCRIPTION": "two\nlines"})
    with pytest.raises(MetaDataValidationError):
        metadata.parse_domain(b"NOEQUALSIGN\n")


VOL = {"CAP": "1073741824", "CTIME": "1700000000", "DESCRIPTION": "",
       "DISKTYPE": "DATA", "DOMAIN": "d", "FORMAT": "COW", "GEN": "0", "IMAGE": "i",
       "LEGALITY": "LEGAL", "MTIME": "0", "PUUID": "p", "TYPE": "SPARSE",
       "VOLTYPE": "LEAF"}


def test_volume_metadata_is_sorted_lines_then_eof():
    data = metadata.dump_volume(VOL)
    lines = data.decode().splitlines()
    assert lines[-1] == "EOF"
    assert lines[:-1] == sorted(lines[:-1])
    assert metadata.parse_volume(data) == VOL


def test_truncated_volume_metadata_is_an_error():
    data = metadata.dump_volume(VOL)
    with pytest.raises(MetaDataValidationError):
        metadata.parse_volume(data[:-4])


def test_old_volume_size_in_blocks_is_read_as_capacity():
    data = b"SIZE=2048\nFORMAT=RAW\nEOF\n"
    md = metadata.parse_volume(data)
    assert md["CAP"] == str(2048 * 512)
    assert md["GEN"] == "0"


def test_volume_metadata_must_fit_one_block():
    with pytest.raises(MetadataOverflowError):
        metadata.dump_volume(dict(VOL, DESCRIPTION="x" * 600))
