"""Format steps of upgradeStoragePool (storage/spm/upgrade.py), as pure
logic; tests/storage/pool_recovery_test.py runs them on a real pool."""

from __future__ import annotations

import pytest

from vdsm.storage.errors import UnsupportedDomainVersion
from vdsm.storage.spm import upgrade


class FileDom:
    sd_uuid = "file"


class BlockDom:
    sd_uuid = "block"
    vg = object()


@pytest.mark.parametrize("target,current", [(6, 5), (2, 3), (0, 3), (4, 5)])
def test_refused_targets(target, current):
    with pytest.raises(UnsupportedDomainVersion):
        upgrade.check_target(target, current)


@pytest.mark.parametrize("target,current", [(5, 5), (5, 3), (4, 3)])
def test_accepted_targets(target, current):
    upgrade.check_target(target, current)


def test_file_steps():
    assert upgrade.step_changes(FileDom(), {"VERSION": "3"}, 4) == {"VERSION": "4"}
    assert upgrade.step_changes(FileDom(), {"VERSION": "4"}, 5) == {
        "VERSION": "5", "BLOCK_SIZE": "512", "ALIGNMENT": "1048576"}
    # a value already there is kept
    assert upgrade.step_changes(FileDom(), {"BLOCK_SIZE": "4096"}, 5)[
        "BLOCK_SIZE"] == "4096"


def test_block_domains_are_not_converted():
    with pytest.raises(UnsupportedDomainVersion, match="block domain"):
        upgrade.step_changes(BlockDom(), {"VERSION": "4"}, 5)
