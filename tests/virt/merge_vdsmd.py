"""An agent with the virt subsystem as its own process, whose volume
drives and chain syncs go to a storage host (tests/virt/mergerig.py).

    VDSM_TEST_MERGE_STORAGE=<port>:<pki dir> \\
        python -m tests.virt.merge_vdsmd --config CONFIG_FILE

The live merge tests SIGKILL it in the middle of a merge and start it
again. Serves until SIGTERM.
"""

from __future__ import annotations

import sys

from tests.virt import agentrunner
from tests.virt.mergerig import StorageSide
from vdsm.agent import Agent


def wire(agent: Agent) -> None:
    virt = agent.subsystems["virt"]
    storage = StorageSide.from_env()
    virt.set_drive_resolver(storage)
    virt.set_volume_chains(storage)


if __name__ == "__main__":
    sys.exit(agentrunner.main(sys.argv[1:], setup=wire))
