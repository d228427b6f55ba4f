"""An in-process storage agent with two local domains, one behind freezefs
(a FUSE pass-through a test can freeze): the rig of the tests about a
domain whose storage hangs (monitoring, metrics)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.eventrec import Recorder
from tests.storage import fusefs
from tests.storage.helpers import BLANK, StorageAgentRoot, new_uuid, ok
from vdsm.agent import Agent
from vdsm.storage.subsystem import StorageSubsystem


@dataclass
class HungDomainRig:
    root: StorageAgentRoot
    agent: Agent
    fs: fusefs.FreezeFs
    domains: dict[str, str]  # "good" / "hung" -> sdUUID
    events: Recorder


@contextmanager
def hung_domain_rig() -> Iterator[HungDomainRig]:
    root = StorageAgentRoot({("irs", "process_pool_timeout"): 2.0,
                             ("irs", "sd_health_check_delay"): 0.3})
    fs = fusefs.FreezeFs(os.path.join(root.root, "backing"),
                         os.path.join(root.root, "fuse"))
    agent = None
    try:
        fs.start()
        agent = Agent(root.config, subsystems=[StorageSubsystem])
        events = Recorder()
        agent.notifier.subscribe(events)
        agent.bind()
        agent.start()
        agent.server.serve_in_thread()
        p = root.proxy()
        good_dir = os.path.join(root.root, "good")
        os.makedirs(good_dir)
        domains: dict[str, Any] = {}
        for name, path in (("good", good_dir), ("hung", fs.mountpoint)):
            con = {"id": new_uuid(), "connection": path}
            assert ok(p.connectStorageServer(4, BLANK, [con]))["statuslist"][0][
                "status"] == 0
            sd_uuid = new_uuid()
            ok(p.createStorageDomain(4, sd_uuid, name, path, 1))
            ok(p.startMonitoringDomain(sd_uuid, 0))
            domains[name] = sd_uuid
        yield HungDomainRig(root, agent, fs, domains, events)
        fs.thaw()
        for sd_uuid in domains.values():
            ok(p.stopMonitoringDomain(sd_uuid))
    finally:
        fs.thaw()
        if agent is not None:
            agent.stop()
        fs.stop()
        root.cleanup()
