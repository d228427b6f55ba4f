"""set_ksm against the real /sys/kernel/mm/ksm (values restored afterwards)."""

from __future__ import annotations

import os

import pytest

from tests.ksmguard import exclusive_ksm
from vdsm.common.errors import InvalidParameter
from vdsm.config import Config
from vdsm.supervdsm import ops, ops_ksm
from vdsm.supervdsm.errors import KSMUpdateFailed
from vdsm.supervdsm.ops_ksm import set_ksm

CTX = ops.OpContext(config=Config(), peer=ops.Peer(pid=1, uid=0, gid=0))
KEYS = ("run", "pages_to_scan", "sleep_millisecs")


def read(name: str) -> int:
    with open(os.path.join(ops_ksm.KSM_DIR, name)) as f:
        return int(f.read())


@pytest.fixture
def saved_ksm():
    if not os.path.isdir(ops_ksm.KSM_DIR):
        pytest.skip(f"kernel without KSM: {ops_ksm.KSM_DIR} missing")
    if os.geteuid() != 0:
        pytest.skip("writing KSM settings needs root")
    with exclusive_ksm():
        saved = {k: read(k) for k in KEYS}
        yield saved
        for k in ("pages_to_scan", "sleep_millisecs", "run"):
            with open(os.path.join(ops_ksm.KSM_DIR, k), "w") as f:
                f.write(str(saved[k]))


def test_set_ksm_writes_and_reports(saved_ksm):
    run = bool(saved_ksm["run"])  # keep the machine's run state
    pages = 123 if saved_ksm["pages_to_scan"] != 123 else 124
    try:
        result = set_ksm(CTX, run=run, pages_to_scan=pages, sleep_millisecs=37)
    except KSMUpdateFailed as e:
        pytest.skip(f"this machine refuses KSM writes: {e}")
    assert result == {"run": int(run), "pages_to_scan": pages,
                      "sleep_millisecs": 37}
    assert read("pages_to_scan") == pages
    assert read("sleep_millisecs") == 37


@pytest.mark.parametrize("kwargs", [
    {"pages_to_scan": 0}, {"pages_to_scan": ops_ksm.MAX_PAGES_TO_SCAN + 1},
    {"pages_to_scan": 100, "sleep_millisecs": 0},
    {"pages_to_scan": 100, "sleep_millisecs": 60_001},
])
def test_out_of_range_refused_before_writing(kwargs):
    before = {k: read(k) for k in KEYS} if os.path.isdir(ops_ksm.KSM_DIR) else {}
    with pytest.raises(InvalidParameter):
        set_ksm(CTX, run=False, **kwargs)
    if before:
        assert {k: read(k) for k in KEYS} == before


def test_missing_ksm_is_a_ksm_error(monkeypatch, tmp_path):
    monkeypatch.setattr(ops_ksm, "KSM_DIR", str(tmp_path / "no-ksm"))
    with pytest.raises(KSMUpdateFailed, match="not available") as e:
        set_ksm(CTX, run=True, pages_to_scan=100)
    assert e.value.name == "KSMUpdateFailed"


# --- tune_ksm (issue 14: the policy engine's and setKsmTune's op) ---------
def test_tune_ksm_writes_only_what_is_given(saved_ksm):
    from vdsm.supervdsm.ops_ksm import tune_ksm
    merge = read("merge_across_nodes")
    try:
        result = tune_ksm(CTX, pages_to_scan=321, sleep_millisecs=41,
                          merge_across_nodes=merge)
    except KSMUpdateFailed as e:
        pytest.skip(f"this machine refuses KSM writes: {e}")
    assert result == {"pages_to_scan": 321, "sleep_millisecs": 41,
                      "merge_across_nodes": merge}
    assert read("run") == saved_ksm["run"]     # not given: untouched
    assert tune_ksm(CTX, run=1) == {"run": 1}
    assert read("run") == 1
    assert tune_ksm(CTX, run=0) == {"run": 0}


@pytest.mark.parametrize("kwargs", [
    {}, {"run": 3}, {"run": -1}, {"merge_across_nodes": 2},
    {"pages_to_scan": 0}, {"sleep_millisecs": 60_001},
    {"run": 1, "pages_to_scan": 0},   # one bad value: nothing written
])
def test_tune_ksm_refuses_before_writing(kwargs):
    from vdsm.supervdsm.ops_ksm import tune_ksm
    before = {k: read(k) for k in KEYS} if os.path.isdir(ops_ksm.KSM_DIR) else {}
    with pytest.raises(InvalidParameter):
        tune_ksm(CTX, **kwargs)
    if before:
        assert {k: read(k) for k in KEYS} == before


def test_tune_ksm_is_an_allowlisted_op():
    op = ops.load()["tune_ksm"]
    with pytest.raises(InvalidParameter, match="unexpected"):
        ops.validate(op, {"run": 1, "max_page_sharing": 5})
    with pytest.raises(InvalidParameter, match="must be of type"):
        ops.validate(op, {"run": "1"})
