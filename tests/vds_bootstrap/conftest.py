"""Fixtures for the bootstrap tests: a temporary host root."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Iterator

import pytest


def _make_root() -> str:
    root = tempfile.mkdtemp(prefix="vds-bootstrap-", dir="/tmp")
    os.chmod(root, 0o755)
    return root


@pytest.fixture
def host_root() -> Iterator[str]:
    """An empty root the vdsm user can traverse (pytest's tmp dirs are 0700)."""
    root = _make_root()
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def module_root() -> Iterator[str]:
    """Like host_root, shared by the tests of one module."""
    root = _make_root()
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
