"""API robustness: a long schema-driven fuzz run against the real daemons.

The generators of tests/fuzzing.py (also used by tests/api/fuzz_test.py,
5,000 calls in CI) over every verb of both bindings, N calls (default
100,000), against vdsmd + supervdsmd in private mount and network
namespaces (tests/fuzz_agent.py). Prints calls/s, answers by code and
every defect: an unexpected error (16 / -32603), a call with no answer,
a traceback in the logs, a dead daemon, leaked fds, anything left on
the host. Exits 1 when there is one.

    .venv/bin/python benchmarks/fuzz.py [--calls N] [--seed S]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.fuzz_agent import Driver, FuzzAgent, host_state, problems  # noqa: E402
from tests.fuzzing import Fuzzer  # noqa: E402
from vdsm.api import schema  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    opts = parser.parse_args()
    verbs = schema.load().verbs
    before = host_state()
    agent = FuzzAgent()
    try:
        fuzzer = Fuzzer(opts.seed, verbs, paths=[agent.local_dir],
                        known=agent.known_values())
        fds = agent.fds()
        driver = Driver(agent, opts.seed)
        print(f"seed {opts.seed}, {opts.calls} calls over {len(verbs)} verbs",
              flush=True)
        start = time.monotonic()
        try:
            for i in range(opts.calls):
                driver.send(fuzzer.call())
                if (i + 1) % 10_000 == 0:
                    print(f"  {i + 1} calls, {len(driver.tally.defects)} "
                          f"defects", flush=True)
        finally:
            driver.close()
        elapsed = time.monotonic() - start
        tally = driver.tally
        found = problems(agent, tally, fds_before=fds, host_before=before)
    finally:
        agent.cleanup()
    print(f"{tally.calls} answered calls in {elapsed:.0f} s: "
          f"{tally.calls / elapsed:.0f} calls/s; "
          f"{tally.unsendable} refused by the client library")
    print(f"verbs reached: {len(tally.verbs)}/{len(verbs)}")
    print("answers by code: " + ", ".join(
        f"{code}: {n}" for code, n in sorted(tally.codes.items())))
    print(f"defects: {len(found)}")
    kinds = Counter(re.sub(r"call#\d+ |\(.*", "", line.split("\n")[0])[:120]
                    for line in found)
    for kind, n in kinds.most_common():
        print(f"  {n} x {kind}")
    for line in found[:50]:
        print("  " + line[:2000])
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
