"""scheduling.maxWaitTime and scheduling.maxRunningTime, end to end."""
import os
import pathlib

import pytest

from hpt_harness import ApiError, Cluster, synthetic_job, wait_for


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    c.start_master()
    yield c
    c.stop()


def test_max_wait_time_cancels_a_job_that_never_starts(cluster):
    # No agent at all: the job can only wait.
    job = synthetic_job(max_trials=1, parallel=1)
    job["scheduling"] = {"maxWaitTime": "1s"}
    cluster.submit("waits", job)
    assert cluster.job("waits")["state"] == "QUEUED"
    done = cluster.wait_job("waits", timeout=20)
    assert done["state"] == "CANCELLED"
    assert "maxWaitTime" in done["errorMessage"]


def test_max_running_time_fails_the_job_and_stops_its_tasks(cluster, tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    os.environ["HPT_TEST_DUMP_DIR"] = str(dump)
    try:
        cluster.start_agent("a1", cpus=2)
    finally:
        del os.environ["HPT_TEST_DUMP_DIR"]
    job = synthetic_job(max_trials=2, parallel=1, extra_args=["--fail-mode=hang"])
    job["scheduling"] = {"maxRunningTime": "2s"}
    cluster.submit("runs", job)
    done = cluster.wait_job("runs", timeout=30)
    assert done["state"] == "FAILED"
    assert "maxRunningTime" in done["errorMessage"]
    # The hanging trainer was stopped: its process is gone.
    pids = [int(p.name.rsplit("-", 1)[1].split(".")[0]) for p in dump.glob("task-*.json")]
    assert pids, "the trainer never started"
    wait_for(lambda: not any(pathlib.Path(f"/proc/{pid}").exists() for pid in pids),
             timeout=15, what="the trainer's processes to exit")
    # Its trial ends once the stopped task is gone.
    wait_for(lambda: all(t["state"] == "CANCELLED"
                         for t in cluster.job("runs")["trainingOutput"]["trials"]),
             timeout=15, what="the trial to end CANCELLED")


def test_max_parallel_trials_is_capped_by_the_master(tmp_path):
    capped = Cluster(tmp_path, master_config="  maxParallelTrials: 8")
    capped.start_master()
    try:
        with pytest.raises(ApiError) as refused:
            capped.submit("wide", synthetic_job(max_trials=20, parallel=9))
        assert refused.value.status == 400, refused.value.body
        assert "master.maxParallelTrials" in str(refused.value.body)
        capped.submit("narrow", synthetic_job(max_trials=20, parallel=8))
        assert capped.job("narrow")["state"] == "QUEUED"
    finally:
        capped.stop()
