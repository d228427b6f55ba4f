"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from vdsm.common import pki  # noqa: E402


@pytest.fixture(scope="session")
def pki_paths(tmp_path_factory: pytest.TempPathFactory) -> pki.PkiPaths:
    """A CA with a host certificate and an 'engine' client certificate."""
    paths = pki.PkiPaths(str(tmp_path_factory.mktemp("pki")))
    pki.create_host_pki(paths, "localhost", clients=("engine",))
    return paths


@pytest.fixture(scope="session")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> pki.PkiPaths:
    """A second, unrelated CA: its certificates must be refused."""
    paths = pki.PkiPaths(str(tmp_path_factory.mktemp("other-pki")))
    pki.create_host_pki(paths, "localhost", clients=("intruder",))
    return paths
