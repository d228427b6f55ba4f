"""An agent with the virt subsystem as its own process, whose volume
drives and chain syncs go to a storage host (tests/virt/mergerig.py).

    VDSM_TEST_MERGE_STORAGE=<port>:<pki dir> \\
        python -m tests.virt.merge_vdsmd --config CONFIG_FILE

The live merge tests SIGKILL it in the middle of a merge and start it
again. Serves until SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from tests.virt.mergerig import StorageSide
from vdsm import config as vdsm_config
from vdsm.agent import Agent
from vdsm.virt.subsystem import VirtSubsystem


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(threadName)s %(name)s: %(message)s")
    config = vdsm_config.load(argv[argv.index("--config") + 1])
    agent = Agent(config, subsystems=[VirtSubsystem])
    virt = agent.subsystems["virt"]
    storage = StorageSide.from_env()
    virt.set_drive_resolver(storage)
    virt.set_volume_chains(storage)
    agent.bind()
    agent.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    agent.server.serve_in_thread()
    done.wait()
    agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
