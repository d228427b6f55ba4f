"""vdsmd running the storage and virt subsystems together (as the real
agent does), for sparsifyImage of a volume a running VM has attached.

Run as ``python -m tests.virt.trim_vdsmd --config FILE``.
"""

from __future__ import annotations

import sys

from tests.storage.storage_vdsmd import STORAGE
from vdsm import agent, daemon

VIRT = "vdsm.virt.subsystem:VirtSubsystem"

if __name__ == "__main__":
    agent.DEFAULT_SUBSYSTEMS = (STORAGE, VIRT)
    sys.exit(daemon.main())
