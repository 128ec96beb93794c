"""Durability and agent loss, end to end (docs/lifecycle.md and docs/durability.md, issue 4).

Real hptmaster and hptagent processes on loopback run the synthetic trainer
with a learning curve of several steps, so trials are in flight when a
process is killed. Each trainer process dumps what it was given
(HPT_TEST_DUMP_DIR, set in the agents' environment so that their tasks
inherit it), which lets the tests count launches per trial independently of
what the master says.

- The master is SIGKILLed mid-job (once, then twice at different moments)
  and restarted with the same cluster.yaml: tasks keep running meanwhile,
  and the job ends SUCCEEDED with exactly maxTrials trials, ids 1..N, each
  launched once, each with its whole learning curve (every step once).
- An agent is SIGKILLed mid-job: its tasks die with it (the launcher's
  parent-death signal), the job finishes on the other agent, and the lost
  agent's trials are FAILED naming the agent (agentLostPolicy: fail, the
  default) or retried elsewhere without counting as failed (requeue).
- An agent SIGKILLed and restarted before agentTimeout comes back without
  its tasks: the same policy applies (requeue: the trial runs again, it is
  not failed)."""
import json
import pathlib
import signal
import time

import pytest

from hpt_harness import Cluster, pid_alive, read_dumps, synthetic_job, wait_for

STEPS = 5
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


def job_spec(max_trials, parallel, steps=STEPS, sleep=0.25, **hp):
    return synthetic_job(max_trials=max_trials, parallel=parallel,
                         extra_args=[f"--steps={steps}", f"--sleep={sleep}"], **hp)


def trials(cluster, job_id):
    return cluster.job(job_id).get("trainingOutput", {}).get("trials", [])


def running_dumps(dump_dir):
    """Dumps of task processes that are still alive."""
    return [d for d in read_dumps(dump_dir) if pid_alive(d["pid"])]


def launches_per_trial(dump_dir):
    counts = {}
    for record in read_dumps(dump_dir):
        trial = record["env"]["CLOUD_ML_TRIAL_ID"]
        counts[trial] = counts.get(trial, 0) + 1
    return counts


def assert_complete(cluster, job_id, dump_dir, max_trials, steps=STEPS):
    """The job SUCCEEDED with trials 1..max_trials, each launched exactly
    once and carrying every step of its learning curve exactly once."""
    job = cluster.job(job_id)
    assert job["state"] == "SUCCEEDED", job
    output = job["trainingOutput"]
    ids = sorted(int(t["trialId"]) for t in output["trials"])
    assert ids == list(range(1, max_trials + 1)), ids
    assert int(output["completedTrialCount"]) == max_trials
    for trial in output["trials"]:
        assert trial["state"] == "SUCCEEDED", trial
        got = sorted(int(m["trainingStep"]) for m in trial["allMetrics"])
        assert got == list(range(1, steps + 1)), (trial["trialId"], got)
        assert trial["finalMetric"]["trainingStep"] == str(steps), trial
    counts = launches_per_trial(dump_dir)
    assert counts == {str(i): 1 for i in range(1, max_trials + 1)}, counts


def max_step(record):
    """The last step the task wrote to its hypertune file (0 if none)."""
    path = pathlib.Path(record["env"]["CLOUD_ML_HP_METRIC_FILE"])
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return 0
    steps = [int(json.loads(line)["global_step"]) for line in lines if line.strip()]
    return max(steps, default=0)


def kill_master_while_tasks_run(cluster, dump_dir, outage=1.5):
    """SIGKILLs the master while a task runs, checks that the task goes on
    reporting without a master, and restarts the master on the same file
    after `outage` seconds."""
    alive = wait_for(lambda: [d for d in running_dumps(dump_dir) if max_step(d) < STEPS - 1],
                     timeout=30, what="a task with steps to go")
    before = {d["pid"]: max_step(d) for d in alive}
    cluster.kill(cluster.master, signal.SIGKILL)
    killed = time.time()
    wait_for(lambda: any(max_step(d) > before[d["pid"]] for d in alive),
             timeout=outage + 5, what="a task reporting while the master is down")
    assert cluster.master.poll() is not None
    time.sleep(max(0.0, outage - (time.time() - killed)))
    cluster.start_master()


@pytest.fixture
def dump_dir(tmp_path):
    path = tmp_path / "dumps"
    path.mkdir()
    return path


def start(tmp_path, dump_dir, agents=("a1",), cpus=2, master_config="", agent_timeout="2s"):
    cluster = Cluster(tmp_path, master_config=master_config, agent_timeout=agent_timeout)
    cluster.start_master()
    for name in agents:
        cluster.start_agent(name, cpus=cpus, env={"HPT_TEST_DUMP_DIR": str(dump_dir)})
    return cluster


def test_master_sigkill_mid_job(tmp_path, dump_dir):
    cluster = start(tmp_path, dump_dir)
    try:
        cluster.submit("restart1", job_spec(8, 2, steps=8, sleep=0.25))
        # Kill once two trials are past their first metric, so some points
        # were delivered before the kill and some are reported during it.
        wait_for(lambda: sum(1 for t in trials(cluster, "restart1") if t["allMetrics"]) >= 2,
                 timeout=30, what="two trials with metrics")
        kill_master_while_tasks_run(cluster, dump_dir, outage=2.0)
        cluster.wait_job("restart1", timeout=90)
        assert_complete(cluster, "restart1", dump_dir, 8, steps=8)
    finally:
        cluster.stop()


def test_master_sigkill_twice(tmp_path, dump_dir):
    cluster = start(tmp_path, dump_dir)
    try:
        # First kill right after the submit is acknowledged: the job and
        # its first trials exist only in the store.
        cluster.submit("restart2", job_spec(6, 2, sleep=0.25))
        cluster.kill(cluster.master, signal.SIGKILL)
        cluster.start_master()
        # Second kill while trials run, after at least one has finished.
        wait_for(lambda: any(t["state"] == "SUCCEEDED" for t in trials(cluster, "restart2")),
                 timeout=30, what="a finished trial")
        kill_master_while_tasks_run(cluster, dump_dir, outage=1.0)
        cluster.wait_job("restart2", timeout=90)
        assert_complete(cluster, "restart2", dump_dir, 6)
    finally:
        cluster.stop()


def test_master_sigkill_storm(tmp_path, dump_dir):
    """Three kills at fixed moments after the submit, whatever the master is
    doing then (launching, collecting, finishing trials), with only a short
    time up between them."""
    cluster = start(tmp_path, dump_dir)
    try:
        cluster.submit("storm", job_spec(6, 3, steps=4, sleep=0.2))
        for delay in (0.15, 0.6, 0.35):
            time.sleep(delay)
            cluster.kill(cluster.master, signal.SIGKILL)
            cluster.start_master()
        cluster.wait_job("storm", timeout=90)
        assert_complete(cluster, "storm", dump_dir, 6, steps=4)
    finally:
        cluster.stop()


def kill_agent_mid_job(cluster, dump_dir, job_id, victim, min_step=2):
    """Waits until victim runs a task of job_id that reported min_step
    steps, SIGKILLs the agent and returns the trial ids it was running and
    the pids of their tasks."""
    def victim_tasks():
        tasks = [d for d in running_dumps(dump_dir)
                 if f"/agent-{victim}/" in d["cwd"] and d["env"]["HPT_JOB_ID"] == job_id]
        return tasks if any(max_step(d) >= min_step for d in tasks) else None
    tasks = wait_for(victim_tasks, timeout=30, what=f"a task on {victim}")
    # ... and the master holds some of their points (so a retry's curve
    # can be told from the lost run's).
    ids = {d["env"]["CLOUD_ML_TRIAL_ID"] for d in tasks}
    wait_for(lambda: all(t["allMetrics"] for t in trials(cluster, job_id) if t["trialId"] in ids),
             timeout=10, what="the master to hold the victim trials' first points")
    assert all(pid_alive(d["pid"]) for d in tasks), "the victim's tasks ended too soon"
    cluster.kill(cluster.agents[victim], signal.SIGKILL)
    # PR_SET_PDEATHSIG: the task processes die with their agent.
    pids = [d["pid"] for d in tasks]
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=10,
             what=f"tasks of the killed agent to die ({pids})")
    return {d["env"]["CLOUD_ML_TRIAL_ID"] for d in tasks}, pids


def test_agent_killed_fail_policy(tmp_path, dump_dir):
    cluster = start(tmp_path, dump_dir, agents=("a1", "a2"), cpus=1)
    try:
        cluster.submit("lost1", job_spec(6, 2, sleep=0.4, maxFailedTrials=3))
        lost, _ = kill_agent_mid_job(cluster, dump_dir, "lost1", "a2")
        wait_for(lambda: cluster.node("a2")["state"] == "LOST", timeout=15, what="a2 LOST")
        job = cluster.wait_job("lost1", timeout=90)
        assert job["state"] == "SUCCEEDED", job
        by_id = {t["trialId"]: t for t in job["trainingOutput"]["trials"]}
        # maxTrials counts every trial that finished, failed ones included.
        assert sorted(map(int, by_id)) == list(range(1, 7))
        failed = {i for i, t in by_id.items() if t["state"] == "FAILED"}
        assert failed == lost, (failed, lost)
        for trial_id in failed:
            message = by_id[trial_id].get("errorMessage", "") + str(by_id[trial_id])
            assert "a2" in message and "lost" in message, by_id[trial_id]
            print("lost trial:", by_id[trial_id])
        # Everything after the loss ran on a1, each trial once.
        counts = launches_per_trial(dump_dir)
        assert all(n == 1 for n in counts.values()), counts
        late = [d for d in read_dumps(dump_dir) if d["env"]["CLOUD_ML_TRIAL_ID"] not in lost
                and int(d["env"]["CLOUD_ML_TRIAL_ID"]) > max(map(int, lost))]
        assert late and all("/agent-a1/" in d["cwd"] for d in late), late
        # completedTrialCount counts trials that succeeded (AI Platform).
        assert int(job["trainingOutput"]["completedTrialCount"]) == 6 - len(lost)
    finally:
        cluster.stop()


def run_requeue_scenario(tmp_path, dump_dir):
    """Two 1-CPU agents, agentLostPolicy requeue, a2 SIGKILLed while its
    trial has reported two steps. Returns the finished job and the ids of
    the trials a2 was running."""
    cluster = start(tmp_path, dump_dir, agents=("a1", "a2"), cpus=1,
                    master_config="  agentLostPolicy: requeue")
    try:
        cluster.submit("lost2", job_spec(5, 2, sleep=0.4))
        lost, _ = kill_agent_mid_job(cluster, dump_dir, "lost2", "a2")
        return cluster.wait_job("lost2", timeout=90), lost
    finally:
        cluster.stop()


def test_agent_killed_requeue_policy(tmp_path, dump_dir):
    job, lost = run_requeue_scenario(tmp_path, dump_dir)
    # maxFailedTrials is 0: a lost trial counted as failed would fail the
    # job at once.
    assert job["state"] == "SUCCEEDED", job
    output = job["trainingOutput"]
    assert sorted(int(t["trialId"]) for t in output["trials"]) == list(range(1, 6))
    assert all(t["state"] == "SUCCEEDED" for t in output["trials"]), output["trials"]
    assert int(output["completedTrialCount"]) == 5
    # A retried trial's learning curve is the retry's: the points the lost
    # run reported before its agent died (the master held some) are not
    # mixed into it.
    for trial in output["trials"]:
        assert trial["finalMetric"]["trainingStep"] == str(STEPS), trial
        steps = sorted(int(m["trainingStep"]) for m in trial["allMetrics"])
        assert steps == list(range(1, STEPS + 1)), (trial["trialId"], steps)
    # The lost trials ran again on a1, with the same hyperparameters; no
    # other trial ran twice.
    dumps = read_dumps(dump_dir)
    counts = launches_per_trial(dump_dir)
    assert counts == {str(i): 2 if str(i) in lost else 1 for i in range(1, 6)}, counts
    for trial_id in lost:
        runs = [d for d in dumps if d["env"]["CLOUD_ML_TRIAL_ID"] == trial_id]
        assert sorted("/agent-a1/" in d["cwd"] for d in runs) == [False, True], runs
        assert runs[0]["argv"] == runs[1]["argv"], runs


def test_agent_restarted_quickly_requeue_policy(tmp_path, dump_dir):
    """The agent comes back (same name, same workdir) well within
    agentTimeout, so the master learns of the loss from its HELLO, not from
    its silence: requeue must still requeue."""
    cluster = start(tmp_path, dump_dir, agents=("a1",), cpus=1, agent_timeout="20s",
                    master_config="  agentLostPolicy: requeue")
    try:
        cluster.submit("quick", job_spec(2, 1, sleep=0.4))
        lost, _ = kill_agent_mid_job(cluster, dump_dir, "quick", "a1")
        cluster.start_agent("a1", cpus=1, env={"HPT_TEST_DUMP_DIR": str(dump_dir)})
        job = cluster.wait_job("quick", timeout=60)
        assert job["state"] == "SUCCEEDED", job
        output = job["trainingOutput"]
        assert all(t["state"] == "SUCCEEDED" for t in output["trials"]), output["trials"]
        assert sorted(int(t["trialId"]) for t in output["trials"]) == [1, 2]
        counts = launches_per_trial(dump_dir)
        assert counts == {str(i): 2 if str(i) in lost else 1 for i in (1, 2)}, counts
        log = cluster.get("/v1/projects/default/jobs/quick/logs")
        assert any("requeued" in e["text"] and "came back without it" in e["text"]
                   for e in log["entries"]), log
    finally:
        cluster.stop()


def test_agent_restarted_quickly_fail_policy(tmp_path, dump_dir):
    """The same with the default policy: the trial fails naming the agent,
    and the job goes on."""
    cluster = start(tmp_path, dump_dir, agents=("a1",), cpus=1, agent_timeout="20s")
    try:
        cluster.submit("quickf", job_spec(3, 1, sleep=0.4, maxFailedTrials=2))
        lost, _ = kill_agent_mid_job(cluster, dump_dir, "quickf", "a1")
        cluster.start_agent("a1", cpus=1, env={"HPT_TEST_DUMP_DIR": str(dump_dir)})
        job = cluster.wait_job("quickf", timeout=60)
        assert job["state"] == "SUCCEEDED", job
        by_id = {t["trialId"]: t for t in job["trainingOutput"]["trials"]}
        failed = {i for i, t in by_id.items() if t["state"] == "FAILED"}
        assert failed == lost, (failed, lost)
        for trial_id in failed:
            assert "a1" in by_id[trial_id]["errorMessage"], by_id[trial_id]
        assert all(n == 1 for n in launches_per_trial(dump_dir).values())
    finally:
        cluster.stop()


def test_agent_gone_while_master_down(tmp_path, dump_dir):
    """The agent dies while the master is down: the restarted master waits
    agentTimeout plus room for HELLO backoff (10 s), then declares it LOST
    and fails its trial; the job goes on once an agent is back."""
    cluster = start(tmp_path, dump_dir, agents=("a1",), cpus=1)
    try:
        cluster.submit("gone", job_spec(2, 1, steps=8, sleep=0.4, maxFailedTrials=2))
        wait_for(lambda: running_dumps(dump_dir), timeout=30, what="a running task")
        cluster.kill(cluster.master, signal.SIGKILL)
        cluster.kill(cluster.agents["a1"], signal.SIGKILL)
        started = time.time()
        cluster.start_master()
        wait_for(lambda: cluster.node("a1")["state"] == "LOST", timeout=30, what="a1 LOST")
        # Not before agentTimeout (2 s) + 10 s: an agent backing off its
        # HELLOs is not given up on too soon.
        assert time.time() - started >= 11, time.time() - started
        lost = [t for t in trials(cluster, "gone") if t["state"] == "FAILED"]
        assert len(lost) == 1 and "did not come back" in lost[0]["errorMessage"], lost
        cluster.start_agent("a1", cpus=1, env={"HPT_TEST_DUMP_DIR": str(dump_dir)})
        job = cluster.wait_job("gone", timeout=60)
        assert job["state"] == "SUCCEEDED", job
    finally:
        cluster.stop()
