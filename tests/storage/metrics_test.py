"""Storage domain series on /metrics from the real domain monitor.

Two local domains, one behind freezefs (a FUSE pass-through). While the
FUSE daemon is stopped, the hung domain's checks hang: its series turn
invalid with a growing last-check age, and scrapes keep answering at once
(they read the monitor's memory, never the storage).
"""

from __future__ import annotations

import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.storage import fusefs
from tests.storage.helpers import wait_for
from tests.storage.hungdomain import hung_domain_rig

WHY = fusefs.unavailable()
pytestmark = pytest.mark.skipif(WHY is not None, reason=f"freezefs: {WHY}")


@pytest.fixture
def storage_agent():
    with hung_domain_rig() as rig:
        yield rig.agent, rig.fs, rig.domains


def _domains(agent) -> tuple[dict, float]:
    """{(series, sd_uuid): value} of one scrape, and how long it took."""
    start = time.monotonic()
    url = f"http://127.0.0.1:{agent.metrics.port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    elapsed = time.monotonic() - start
    return {(s.name, s.labels["sd_uuid"]): s.value
            for f in text_string_to_metric_families(text) for s in f.samples
            if "sd_uuid" in s.labels}, elapsed


def test_hung_domain_series_turn_invalid_and_age(storage_agent):
    agent, fs, domains = storage_agent
    good, hung = domains["good"], domains["hung"]

    def valid(sd_uuid):
        return _domains(agent)[0].get(
            ("vdsm_storage_domain_valid", sd_uuid)) == 1

    wait_for(lambda: valid(good) and valid(hung), 10, "first checks")
    s, _ = _domains(agent)
    for sd_uuid in (good, hung):
        assert 0 <= s[("vdsm_storage_domain_check_delay_seconds", sd_uuid)] < 2
        assert s[("vdsm_storage_domain_last_check_age_seconds", sd_uuid)] < 2

    fs.freeze()
    try:
        wait_for(lambda: not valid(hung), 15, "the hung domain invalid")
        first, _ = _domains(agent)
        time.sleep(1.0)
        later, elapsed = _domains(agent)
        assert elapsed < 1.0, f"a scrape took {elapsed:.2f} s"
        age = "vdsm_storage_domain_last_check_age_seconds"
        assert later[("vdsm_storage_domain_valid", hung)] == 0
        assert later[(age, hung)] >= first[(age, hung)] + 0.8   # growing
        assert later[("vdsm_storage_domain_valid", good)] == 1
        assert later[(age, good)] < 2
    finally:
        fs.thaw()
    wait_for(lambda: valid(hung), 15, "the domain valid again")
