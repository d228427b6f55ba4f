"""vdsmd running only the storage subsystem, for the storage tests.

Run as ``python -m tests.storage.storage_vdsmd --config FILE``. Other
subsystems (network: the host's own interfaces) stay out of these tests.
"""

from __future__ import annotations

import sys

from vdsm import agent, daemon

STORAGE = "vdsm.storage.subsystem:StorageSubsystem"

if __name__ == "__main__":
    agent.DEFAULT_SUBSYSTEMS = (STORAGE,)
    sys.exit(daemon.main())
