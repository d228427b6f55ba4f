"""Recorded real /proc, /sys and command output used as parser input.

Captured on the project's Debian 12 machine (2 vCPUs, kernel 6.18); the
net/dev and stat pairs are one second apart with ~1 MiB sent over lo.
"""

from __future__ import annotations

import os

DATA = os.path.join(os.path.dirname(__file__), "data")


def data(name: str) -> str:
    with open(os.path.join(DATA, name)) as f:
        return f.read()
