"""vdsmd with the storage and virt subsystems (libvirt from the URI in the
config), for tests/host/maintenance_test.py."""

from __future__ import annotations

import sys

from vdsm import agent, daemon

if __name__ == "__main__":
    agent.DEFAULT_SUBSYSTEMS = ("vdsm.storage.subsystem:StorageSubsystem",
                                "vdsm.virt.subsystem:VirtSubsystem")
    sys.exit(daemon.main())
