"""Run an agent with the network subsystem until SIGTERM (test aid).

``ip netns exec HOST python -m tests.network.netns_agent CONF`` makes a
whole "host" inside a namespace, reachable only through the namespace's
links, as vdsmd will be once the network subsystem is one of the
daemon's defaults. Writes ``<run_dir>/agent.ready`` once serving.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from vdsm import config as vdsm_config
from vdsm.agent import Agent
from vdsm.common import logutils
from vdsm.network.subsystem import NetworkSubsystem


def main(argv: list[str]) -> int:
    config = vdsm_config.load(argv[1])
    logutils.setup(config.log_dir, "vdsm.log", "DEBUG", stderr=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    agent = Agent(config, subsystems=[NetworkSubsystem])
    agent.bind()
    agent.start()
    agent.server.serve_in_thread()
    with open(os.path.join(config.run_dir, "agent.ready"), "w") as f:
        f.write(f"{os.getpid()}\n")
    while not stop.wait(0.5):
        pass
    agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
