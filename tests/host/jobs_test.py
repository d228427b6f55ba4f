"""The host jobs registry (vdsm/host/jobs.py) and Host.getJobs over it."""

from __future__ import annotations

import threading

import pytest

from vdsm.api.host import HostVerbs
from vdsm.host import jobs


def test_a_job_moves_pending_running_done_with_progress():
    reg = jobs.JobRegistry()
    job = reg.add("virt", "merge a into b", job_id="j1")
    assert reg.info() == {"j1": {"id": "j1", "job_type": "virt",
                                 "status": "pending",
                                 "description": "merge a into b"}}
    job.start()
    job.progress_to(42.7)
    assert reg.info()["j1"]["status"] == "running"
    assert reg.info()["j1"]["progress"] == 42
    job.finish()
    assert reg.info()["j1"] == {"id": "j1", "job_type": "virt", "status": "done",
                                "description": "merge a into b", "progress": 100}


def test_a_failed_job_has_its_error_and_the_end_is_final():
    reg = jobs.JobRegistry()
    job = reg.add("virt", "x")
    job.fail(52, "Merge failed: libvirt said no")
    job.finish()          # too late: failed stays failed
    info = reg.info()[job.id]
    assert info["status"] == "failed"
    assert info["error"] == {"code": 52, "message": "Merge failed: libvirt said no"}


def test_progress_is_clamped():
    job = jobs.JobRegistry().add("virt", "x")
    job.progress_to(-5)
    assert job.info()["progress"] == 0
    job.progress_to(250)
    assert job.info()["progress"] == 100


def test_filters_by_type_and_ids():
    reg = jobs.JobRegistry()
    a = reg.add("virt", "a")
    b = reg.add("storage", "b")
    assert set(reg.info()) == {a.id, b.id}
    assert set(reg.info(job_type="storage")) == {b.id}
    assert set(reg.info(job_ids=[a.id, "unknown"])) == {a.id}
    assert reg.info(job_type="storage", job_ids=[a.id]) == {}


def test_an_id_in_use_is_refused_and_unknown_ids_raise():
    reg = jobs.JobRegistry()
    reg.add("virt", "a", job_id="same")
    with pytest.raises(jobs.JobExists):
        reg.add("virt", "again", job_id="same")
    with pytest.raises(jobs.NoSuchJob):
        reg.get("missing")
    assert reg.find("missing") is None


def test_finished_jobs_are_dropped_after_keep_seconds(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(jobs.time, "monotonic", lambda: now[0])
    reg = jobs.JobRegistry(keep_seconds=60)
    done = reg.add("virt", "done")
    running = reg.add("virt", "running")
    running.start()
    done.finish()
    now[0] += 59
    assert set(reg.info()) == {done.id, running.id}
    now[0] += 2
    assert set(reg.info()) == {running.id}     # running jobs are never dropped
    reg.add("virt", "reused id", job_id=done.id)   # its id is free again


def test_concurrent_adds_and_reads():
    reg = jobs.JobRegistry()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(200):
                job = reg.add("virt", "x")
                job.start()
                reg.info()
                job.finish()
        except BaseException as e:   # reported by the assert below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(reg.info()) == 800
    assert {j["status"] for j in reg.info().values()} == {"done"}


def test_host_get_jobs_answers_the_registry():
    reg = jobs.JobRegistry()
    job = reg.add("virt", "a")
    verbs = HostVerbs(host=None, tasks=[], jobs=reg)  # type: ignore[arg-type]
    assert verbs.get_jobs() == {job.id: job.info()}
    assert verbs.get_jobs(job_type="storage") == {}
    assert HostVerbs(host=None, tasks=[]).get_jobs() == {}  # type: ignore[arg-type]
