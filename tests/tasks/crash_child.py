"""A process running persistent tasks until it is killed (for the crash test).

argv: persist_dir work_dir made_id orphan_id quick_id. Writes
``<work_dir>/ready`` once every task reached the point the test expects.
"""

from __future__ import annotations

import os
import sys
import time

from vdsm.tasks.manager import TaskManager
from vdsm.tasks.recovery import RecoveryRegistry


def main() -> None:
    persist_dir, work_dir, made_id, orphan_id, quick_id = sys.argv[1:6]
    made_path = os.path.join(work_dir, "made")
    registry = RecoveryRegistry()
    registry.register("remove_file", lambda path: os.unlink(path))
    registry.register("child_only", lambda: None)
    manager = TaskManager(2, persist_dir=persist_dir, registry=registry)
    started = []

    def make_file(ctx):
        ctx.add_recovery("remove_file", {"path": made_path})
        with open(made_path, "w") as f:
            f.write("half-done work\n")
        started.append(ctx.task_id)
        ctx.wait(30)

    def orphan(ctx):
        ctx.add_recovery("child_only")
        started.append(ctx.task_id)
        ctx.wait(30)

    manager.schedule(lambda ctx: "quick result", task_id=quick_id, persist=True,
                     verb="quick")
    if not manager.wait(quick_id, 10):
        sys.exit("quick task did not finish")
    manager.schedule(make_file, task_id=made_id, persist=True)
    manager.schedule(orphan, task_id=orphan_id, persist=True)
    deadline = time.monotonic() + 10
    while len(started) < 2:
        if time.monotonic() > deadline:
            sys.exit("jobs did not start")
        time.sleep(0.01)
    open(os.path.join(work_dir, "ready"), "w").close()
    time.sleep(30)  # the test kills us long before this ends
    sys.exit("not killed")


if __name__ == "__main__":
    main()
