"""The engine's domain map for reconstructMaster (storage/spm/reconstruct.py),
as pure logic; tests/storage/pool_recovery_test.py reconstructs real pools."""

from __future__ import annotations

import pytest

from vdsm.storage.errors import InvalidParameterException, StorageDomainStatusError
from vdsm.storage.spm.reconstruct import normalize_statuses


def test_statuses_spelled_as_the_metadata_and_the_master_active():
    assert normalize_statuses({"m": "attached", "a": "ACTIVE", "i": "Inactive"},
                              "m") == {"m": "Active", "a": "Active", "i": "Attached"}


def test_master_must_be_listed():
    with pytest.raises(InvalidParameterException):
        normalize_statuses({"a": "Active"}, "m")


def test_unknown_status():
    with pytest.raises(StorageDomainStatusError):
        normalize_statuses({"m": "Active", "a": "Locked"}, "m")
