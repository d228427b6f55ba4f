"""Schema-driven fuzzing of every verb, both bindings, against the real
daemons: no unexpected error, no traceback, no crash, nothing left on the
host. A failure prints the seed and the call; rerun with FUZZ_SEED=N."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.fuzz_agent import Driver, FuzzAgent, host_state, problems
from tests.fuzzing import Fuzzer
from tests.network.nstools import require_root_and_ip
from vdsm.api import schema

CALLS = int(os.environ.get("FUZZ_CALLS", "5000"))
SEED = int(os.environ.get("FUZZ_SEED", str(int(time.time()))))


@pytest.fixture(scope="module")
def fuzzed():
    require_root_and_ip()
    if not (shutil.which("unshare") and shutil.which("nsenter")):
        pytest.skip("util-linux unshare and nsenter are needed to fence the "
                    "agent in its own mount namespace")
    before = host_state()
    agent = FuzzAgent()
    try:
        yield agent, before
    finally:
        agent.cleanup()


def test_fuzz_every_verb_on_both_bindings(fuzzed):
    agent, before = fuzzed
    print(f"fuzz seed {SEED} ({CALLS} calls); rerun with FUZZ_SEED={SEED}")
    verbs = schema.load().verbs
    fuzzer = Fuzzer(SEED, verbs, paths=[agent.local_dir],
                    known=agent.known_values())
    fds = agent.fds()
    driver = Driver(agent, SEED)
    try:
        for _ in range(CALLS):
            driver.send(fuzzer.call())
    finally:
        driver.close()
    tally = driver.tally
    print(f"answers by code: {dict(tally.codes.most_common())}; "
          f"unsendable: {tally.unsendable}")
    found = problems(agent, tally, fds_before=fds, host_before=before)
    assert not found, "\n".join(found[:20])
    assert set(tally.verbs) == {v.name for v in verbs}
    assert tally.calls >= CALLS * 0.9


def test_a_seed_replays_the_same_calls():
    verbs = schema.load().verbs
    runs = [Fuzzer(1234, verbs, paths=["/srv/x"]) for _ in range(2)]
    for _ in range(500):
        first, second = (f.call() for f in runs)
        assert (first.binding, first.method, repr(first.args)) == \
            (second.binding, second.method, repr(second.args))
