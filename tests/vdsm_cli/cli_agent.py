"""Handler objects and an in-process TLS server for the vdsClient tests.

The handlers are a unit-test aid: they answer the real schema's verbs with
fixed data, so these tests need nothing of vdsm.agent or vdsm.host. The
lead's end-to-end test drives the real daemon.
"""

from __future__ import annotations

from typing import Any

from vdsm.api import schema
from vdsm.api.dispatcher import Dispatcher
from vdsm.api.server import ApiServer, Limits
from vdsm.common import pki
from vdsm.common.errors import VdsmError

TASK_ID = "5a1b9c62-3f0e-4a59-9f5e-0f6a2c7d9e11"
BIG = 2 ** 40

CAPS: dict[str, Any] = {
    "cpuCores": "2",
    "kvmEnabled": True,
    "memSize": "24000",
    "emulatedMachines": ["pc", "q35"],
    "numaNodes": {"0": {"cpus": [0, 1], "totalMemory": "24000"}},
    "hooks": {},
    "diskBytes": BIG,
    "nics": [{"name": "eth0", "speed": 1000}, {"name": "eth1", "speed": 0}],
}


class UnknownTask(VdsmError):
    name = "UnknownTask"
    default_message = "Task id unknown"


class Host:
    """Host namespace of the real schema, answering fixed data."""

    def __init__(self) -> None:
        self.log_levels: list[tuple[str, str]] = []

    def ping(self) -> None:
        return None

    def get_capabilities(self) -> dict[str, Any]:
        return CAPS

    def get_stats(self) -> dict[str, Any]:
        return {"cpuIdle": 99.5, "rxBytes": BIG}

    def set_log_level(self, level: str, name: str = "") -> None:
        self.log_levels.append((level, name))

    def get_all_tasks_statuses(self) -> dict[str, Any]:
        return {TASK_ID: {"taskState": "finished", "taskResult": "success",
                          "code": 0, "message": "1 jobs completed"}}


class Task:
    def get_status(self, task_id: str) -> dict[str, Any]:
        if task_id != TASK_ID:
            raise UnknownTask(f"Task id unknown: {task_id}")
        return {"taskID": task_id, "taskState": "finished",
                "taskResult": "success", "code": 0, "message": "done"}


def start_server(paths: pki.PkiPaths, api: schema.Schema,
                 handlers: dict[str, object]) -> ApiServer:
    ctx = pki.server_context(paths.ca_cert, paths.host_cert, paths.host_key)
    srv = ApiServer(Dispatcher(api, handlers), ("127.0.0.1", 0),
                       ssl_context=ctx, limits=Limits(workers=2, request_timeout=5))
    srv.serve_in_thread()
    return srv


def stop_server(srv: ApiServer) -> None:
    srv.shutdown()
    srv.server_close()
