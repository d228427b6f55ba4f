"""Run an agent with the virt subsystem as its own process (test aid).

    python -m tests.virt.agentrunner --config CONFIG_FILE

Until the daemon runs the virt subsystem by default this is how the tests
get a real process they can SIGKILL. Serves until SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Callable

from vdsm import config as vdsm_config
from vdsm.agent import Agent
from vdsm.virt.subsystem import VirtSubsystem


def main(argv: list[str], setup: Callable[[Agent], None] | None = None) -> int:
    """Serve until SIGTERM; ``setup`` wires the agent before it binds."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(threadName)s %(name)s: %(message)s")
    config = vdsm_config.load(argv[argv.index("--config") + 1])
    agent = Agent(config, subsystems=[VirtSubsystem])
    if setup is not None:
        setup(agent)
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
