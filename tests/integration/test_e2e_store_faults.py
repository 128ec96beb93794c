"""The master when its store cannot be written (docs/durability.md, "Store
failures").

A real master and agent run a job whose trainer reports a learning curve
and prints a line per step (so metric and log events keep coming) while
the store is made to fail in three ways:

- a statement fails in the middle of a transaction: a trigger, installed
  behind the master's back, makes every metric insert abort;
- the disk is full: the state directory is a small tmpfs, filled up;
- the file system is read-only: a shim preloaded into the master
  (tests/integration/faultfs.c) makes its writes fail with EROFS.

In each case the master must keep running, say on /metrics and in its log
that it cannot store, acknowledge nothing it did not store (the agent keeps
its events), answer changes with 503 UNAVAILABLE while reads still work,
and carry on by itself once the store works again: the job then ends
SUCCEEDED with every trial launched once (counted from the trainers' own
dumps) and every point of every learning curve stored exactly once."""
import os
import pathlib
import re
import sqlite3
import subprocess
import time

import pytest

from hpt_harness import BIN, ApiError, Cluster, read_dumps, synthetic_job, wait_for

STEPS = 12
FAULTFS = BIN.parent / "tests" / "hpt-faultfs.so"


def metrics(cluster):
    text = cluster.get("/metrics")
    values = {}
    for name in ("hpt_store_healthy", "hpt_store_commit_failures_total"):
        match = re.search(rf"^{name} (\d+)$", text, re.M)
        values[name] = int(match.group(1)) if match else None
    return values


def start(tmp_path, dump_dir, state_dir=None, master_env=None):
    cluster = Cluster(tmp_path)
    if state_dir:
        cluster.state = state_dir
        cluster.config.write_text(cluster.config.read_text().replace(
            f"stateDir: {tmp_path / 'state'}", f"stateDir: {state_dir}"))
    if master_env:
        spawn = cluster._spawn
        cluster._spawn = lambda argv, name, env=None: spawn(
            argv, name, master_env if name == "master" else env)
    cluster.start_master()
    cluster.start_agent("a1", cpus=2, env={"HPT_TEST_DUMP_DIR": str(dump_dir)})
    return cluster


def submit(cluster, job_id="faulty"):
    cluster.submit(job_id, synthetic_job(max_trials=4, parallel=2,
                                         extra_args=[f"--steps={STEPS}", "--sleep=0.15"]))
    wait_for(lambda: any(t["allMetrics"] for t in
                         cluster.job(job_id).get("trainingOutput", {}).get("trials", [])),
             timeout=30, what="the first stored points")


def assert_refuses_changes(cluster):
    """While the store is failed: a submission is refused with 503 and
    nothing of it is kept; reads are answered."""
    with pytest.raises(ApiError) as refused:
        cluster.submit("refused", synthetic_job(max_trials=1, parallel=1))
    assert refused.value.status == 503, refused.value.body
    assert refused.value.body["error"]["status"] == "UNAVAILABLE", refused.value.body
    with pytest.raises(ApiError) as missing:
        cluster.job("refused")
    assert missing.value.status == 404
    assert cluster.job("faulty")["state"] in ("RUNNING", "PREPARING")


def assert_nothing_lost_or_doubled(cluster, dump_dir, job_id="faulty"):
    job = cluster.wait_job(job_id, timeout=120)
    assert job["state"] == "SUCCEEDED", job
    trials = job["trainingOutput"]["trials"]
    assert sorted(int(t["trialId"]) for t in trials) == [1, 2, 3, 4]
    for trial in trials:
        assert trial["state"] == "SUCCEEDED", trial
        steps = [int(m["trainingStep"]) for m in trial["allMetrics"]]
        assert sorted(steps) == list(range(1, STEPS + 1)), (trial["trialId"], steps)
        assert trial["finalMetric"]["trainingStep"] == str(STEPS), trial
    starts = {}
    for record in read_dumps(dump_dir):
        trial = record["env"]["CLOUD_ML_TRIAL_ID"]
        starts[trial] = starts.get(trial, 0) + 1
    assert starts == {"1": 1, "2": 1, "3": 1, "4": 1}, starts
    # The job log holds each step line of each trial once.
    entries = cluster.get(f"/v1/projects/default/jobs/{job_id}/logs?after=0")["entries"]
    lines = [(e.get("trialId"), e["text"]) for e in entries if e.get("stream") == "stdout"
             and e["text"].startswith("step ")]
    assert len(lines) == len(set(lines)) == 4 * STEPS, len(lines)


def assert_failed_then_recovered(cluster):
    wait_for(lambda: metrics(cluster)["hpt_store_commit_failures_total"] > 0, timeout=15,
             what="a failed commit counted on /metrics")
    assert cluster.master.poll() is None, "the master exited"
    log = (cluster.tmp / "master.log").read_text()
    assert "cannot store" in log, log[-2000:]


@pytest.fixture
def dump_dir(tmp_path):
    path = tmp_path / "dumps"
    path.mkdir()
    return path


def test_statement_fails_mid_transaction(tmp_path, dump_dir):
    cluster = start(tmp_path, dump_dir)
    try:
        submit(cluster)
        db = sqlite3.connect(cluster.state / "hpt.db", timeout=10)
        db.execute("CREATE TRIGGER hpt_test_fault BEFORE INSERT ON metrics "
                   "BEGIN SELECT RAISE(ABORT, 'injected fault'); END")
        db.commit()
        assert_failed_then_recovered(cluster)
        time.sleep(2)  # events keep failing for a while
        assert cluster.master.poll() is None
        db.execute("DROP TRIGGER hpt_test_fault")
        db.commit()
        db.close()
        assert_nothing_lost_or_doubled(cluster, dump_dir)
    finally:
        cluster.stop()


@pytest.fixture
def tmpfs(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full(tmp_path, dump_dir, tmpfs):
    cluster = start(tmp_path, dump_dir, state_dir=tmpfs / "state")
    try:
        submit(cluster)
        filler = tmpfs / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 65536) > 0:
                pass
        except OSError:
            pass  # ENOSPC: the disk is full
        os.close(fd)
        assert_failed_then_recovered(cluster)
        time.sleep(2)
        assert cluster.master.poll() is None
        filler.unlink()
        wait_for(lambda: metrics(cluster)["hpt_store_healthy"] == 1, timeout=15,
                 what="the store healthy again")
        assert_nothing_lost_or_doubled(cluster, dump_dir)
    finally:
        cluster.stop()


def test_read_only_file_system(tmp_path, dump_dir):
    assert FAULTFS.exists(), f"{FAULTFS} is built with the tests"
    control = tmp_path / "faultfs-mode"
    control.write_text("ok")
    env = dict(os.environ, LD_PRELOAD=str(FAULTFS), HPT_FAULTFS_CONTROL=str(control),
               HPT_FAULTFS_DIR=str(tmp_path / "state"),
               # The sanitizers' runtime must come first; the shim is not
               # instrumented, so their order does not matter here.
               ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
    cluster = start(tmp_path, dump_dir, master_env=env)
    try:
        submit(cluster)
        control.write_text("readonly")
        assert_failed_then_recovered(cluster)
        wait_for(lambda: metrics(cluster)["hpt_store_healthy"] == 0, timeout=10,
                 what="hpt_store_healthy 0")
        # Every write fails now, the probe's too: the refusal is certain.
        assert_refuses_changes(cluster)
        with pytest.raises(ApiError) as refused:
            cluster.request("POST", "/v1/projects/default/jobs/faulty:cancel", {})
        assert refused.value.status == 503
        time.sleep(2)
        assert cluster.master.poll() is None
        control.write_text("ok")
        wait_for(lambda: metrics(cluster)["hpt_store_healthy"] == 1, timeout=15,
                 what="the store healthy again")
        assert "can be written again" in (cluster.tmp / "master.log").read_text()
        assert_nothing_lost_or_doubled(cluster, dump_dir)
    finally:
        cluster.stop()
