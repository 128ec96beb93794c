"""End to end: jobs that go wrong, on a real hptmaster and hptagent.

The failure rules of docs/lifecycle.md (the first trial failing, maxFailedTrials,
the service's default rule), a trainer that never reports its metric,
scheduling.maxRunningTime/maxWaitTime, cancel killing every process of every
task (the trainer, what it spawned, one that ignores SIGTERM), an agent that
stops or dies (no orphans), and a master that survives garbage on its agent
socket and believes an agent only about its own tasks (PROTOCOL.md §5-§8).

Trainers are examples/synthetic/trainer/task.py with --fail-mode. To make a
failure depend on the trial, the tests tune a CATEGORICAL "parameter" named
steps under GRID_SEARCH (one trial at a time, values in the listed order):
the trainer takes --steps as its own option and exits 1 for steps < 1, so the
order of the values is the order of successes and failures."""
import json
import os
import pathlib
import re
import time

import pytest

from hpt_harness import Cluster, synthetic_job, wait_for

FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("HPT_TEST_DUMP_DIR", str(tmp_path / "dump"))
    c = Cluster(tmp_path)
    c.start_master()
    c.start_agent("a1", cpus=4, memory_gb=4)
    yield c
    c.stop()


def dumps(tmp_path):
    """The dump records of every task started so far."""
    directory = tmp_path / "dump"
    if not directory.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(directory.glob("task-*.json"))]


def proc_stat(pid):
    """(state, ppid, pgid) of a live process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1]), int(fields[2])


def alive(pid):
    stat = proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def group_members(pgid):
    """Live pids in process group pgid."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = proc_stat(int(entry))
            if stat and stat[2] == pgid and stat[0] not in ("Z", "X"):
                members.append(int(entry))
    return members


def grid_job(steps_values, max_trials, **hp):
    """One trial at a time over the listed --steps values, in order."""
    return synthetic_job(max_trials=max_trials, parallel=1, algorithm="GRID_SEARCH",
                         params=[{"parameterName": "steps", "type": "CATEGORICAL",
                                  "categoricalValues": steps_values}], **hp)


def outcome(job):
    """Trial states in trial-id order."""
    trials = sorted(job["trainingOutput"].get("trials", []), key=lambda t: int(t["trialId"]))
    return [t["state"] for t in trials]


# ------------------------------------------------------------- failure rules

@pytest.mark.parametrize("mode, why", [("exit1", r"status 1\b"), ("signal", r"signal 9\b")])
def test_first_trial_failing_fails_the_job(cluster, tmp_path, mode, why):
    job = synthetic_job(max_trials=4, parallel=1, extra_args=[f"--fail-mode={mode}"])
    cluster.submit("first", job)
    done = cluster.wait_job("first", timeout=30)
    assert done["state"] == "FAILED", done
    assert re.search(r"\b[Tt]rial 1\b", done.get("errorMessage", "")), done.get("errorMessage")
    [trial] = done["trainingOutput"]["trials"]
    assert trial["trialId"] == "1" and trial["state"] == "FAILED"
    assert re.search(why, trial.get("errorMessage", "")), trial
    if mode == "exit1":
        # What the trainer said last comes with its failure, and where the rest is.
        assert trial["errorMessage"].endswith(
            "\nlast lines of its stderr:\n  synthetic: failing on purpose\n"
            "its whole log: hpt jobs stream-logs first --trial 1"), trial
        assert "synthetic: failing on purpose" in done["errorMessage"]
    assert len(dumps(tmp_path)) == 1, "no trial launched after the job failed"


def test_a_trial_cancelled_for_another_failure_says_so(cluster):
    # Trial 1 runs long; trial 2 fails at once (--steps=0), which fails the
    # job, so trial 1 is cancelled: its message must say why.
    job = synthetic_job(max_trials=2, parallel=2, algorithm="GRID_SEARCH",
                        extra_args=["--sleep=0.5"],
                        params=[{"parameterName": "steps", "type": "CATEGORICAL",
                                 "categoricalValues": ["100000", "0"]}])
    cluster.submit("sibling", job)
    done = cluster.wait_job("sibling", timeout=30)
    assert done["state"] == "FAILED", done
    # A failed job is FAILED at once; trial 1 ends once its task is gone.
    done = wait_for(lambda: (lambda j: j if all(
        t["state"] in ("FAILED", "CANCELLED") for t in j["trainingOutput"]["trials"]) else None)(
            cluster.job("sibling")), timeout=20, what="trial 1 ended")
    trials = {t["trialId"]: t for t in done["trainingOutput"]["trials"]}
    assert trials["2"]["state"] == "FAILED", trials
    assert trials["1"]["state"] == "CANCELLED", trials
    message = trials["1"].get("errorMessage", "")
    assert message.startswith("Cancelled because the job failed: "), message
    assert re.search(r"\b[Tt]rial 2\b", message), message
    assert "\n" not in message, message  # trial 2's stderr is trial 2's to tell
    log = cluster.hpt("jobs", "stream-logs", "sibling").stdout
    assert "trial 1 CANCELLED: Cancelled because the job failed" in log, log


def test_max_failed_trials_fails_exactly_at_n(cluster, tmp_path):
    # S F S F S F S: maxFailedTrials=3 fails the job at trial 6, successes or not.
    job = grid_job(["1", "0", "2", "-1", "3", "-2", "4"], max_trials=7, maxFailedTrials=3)
    cluster.submit("maxfail", job)
    done = cluster.wait_job("maxfail", timeout=30)
    assert done["state"] == "FAILED", done
    assert outcome(done) == ["SUCCEEDED", "FAILED"] * 3, outcome(done)
    assert "maxFailedTrials" in done["errorMessage"], done["errorMessage"]
    assert re.search(r"\b[Tt]rial 6\b", done["errorMessage"]), done["errorMessage"]
    assert len(dumps(tmp_path)) == 6


def test_max_failed_trials_all_failing(cluster, tmp_path):
    job = synthetic_job(max_trials=10, parallel=1, extra_args=["--fail-mode=exit1"],
                        maxFailedTrials=3)
    cluster.submit("allfail", job)
    done = cluster.wait_job("allfail", timeout=30)
    assert done["state"] == "FAILED", done
    assert outcome(done) == ["FAILED"] * 3
    assert len(dumps(tmp_path)) == 3


@pytest.mark.parametrize("values, expected", [
    # 1 success: the 5th failure fails the job (5 >= 5 and 5 > 2 x 1).
    (["1", "0", "-1", "-2", "-3", "-4", "-5", "-6"], ["SUCCEEDED"] + ["FAILED"] * 5),
    # 3 successes: 5 and 6 failures are not > 6; the 7th fails the job.
    (["1", "2", "3", "0", "-1", "-2", "-3", "-4", "-5", "-6", "-7"],
     ["SUCCEEDED"] * 3 + ["FAILED"] * 7),
])
def test_default_failure_rule(cluster, values, expected):
    cluster.submit("rule", grid_job(values, max_trials=len(values)))
    done = cluster.wait_job("rule", timeout=40)
    assert done["state"] == "FAILED", done
    assert outcome(done) == expected
    assert "2 x succeeded" in done["errorMessage"] or "2 ×" in done["errorMessage"], \
        done["errorMessage"]


def test_grid_with_few_failures_succeeds(cluster):
    # Control for the rule above: 4 failures after a success never fail the job.
    values = ["1", "0", "-1", "-2", "-3", "2"]
    cluster.submit("few", grid_job(values, max_trials=len(values)))
    done = cluster.wait_job("few", timeout=30)
    assert done["state"] == "SUCCEEDED", done
    assert outcome(done) == ["SUCCEEDED"] + ["FAILED"] * 4 + ["SUCCEEDED"]
    # Best first: successes before failures.
    assert [t["state"] for t in done["trainingOutput"]["trials"]][:2] == ["SUCCEEDED"] * 2


def test_trainer_that_never_reports_fails_its_trial(cluster, tmp_path):
    job = synthetic_job(max_trials=1, parallel=1, extra_args=["--fail-mode=no-report"],
                        hyperparameterMetricTag="val_auc")
    cluster.submit("silent", job)
    done = cluster.wait_job("silent", timeout=30)
    assert done["state"] == "FAILED", done
    [trial] = done["trainingOutput"]["trials"]
    assert trial["state"] == "FAILED"
    assert "val_auc" in trial["errorMessage"], trial
    assert "finalMetric" not in trial
    # The agent made the metric file's directory (this trainer never did).
    [record] = dumps(tmp_path)
    assert pathlib.Path(record["env"]["CLOUD_ML_HP_METRIC_FILE"]).parent.is_dir()


# ------------------------------------------------------------- cancel

@pytest.mark.parametrize("mode", ["hang", "spawn-hang"])
def test_cancel_kills_every_process(cluster, tmp_path, mode):
    job = synthetic_job(max_trials=4, parallel=2, extra_args=[f"--fail-mode={mode}"])
    cluster.submit("cancel", job)

    def ready():
        records = dumps(tmp_path)
        if len(records) < 2:
            return None
        current = cluster.job("cancel")
        states = [t["state"] for t in current["trainingOutput"]["trials"]]
        if states.count("RUNNING") < 2:
            return None
        groups = {r["pgid"]: group_members(r["pgid"]) for r in records}
        want = 2 if mode == "spawn-hang" else 1
        if any(len(members) < want for members in groups.values()):
            return None
        return records, groups

    records, groups = wait_for(ready, timeout=20, what="2 trials running with their processes")
    pids = sorted({pid for members in groups.values() for pid in members})
    assert len(pids) == (4 if mode == "spawn-hang" else 2)
    for record in records:
        assert record["pgid"] == record["pid"], "each task leads its own process group"
    assert len(groups) == 2

    result = cluster.hpt("jobs", "cancel", "cancel")
    assert result.returncode == 0, result.stdout + result.stderr
    done = cluster.wait_job("cancel", timeout=20)
    assert done["state"] == "CANCELLED", done
    trials = done["trainingOutput"]["trials"]
    assert len(trials) == 2, "no trial started after the cancel"
    assert all(t["state"] == "CANCELLED" for t in trials), trials
    assert all(t.get("errorMessage") == "Job cancelled by the user" for t in trials), trials
    # The trainers are gone when the job says CANCELLED; what they spawned goes with
    # their process group (allow the kernel a moment to deliver the signal).
    assert not [r["pid"] for r in records if alive(r["pid"])]
    wait_for(lambda: not [pid for pid in pids if alive(pid)], timeout=5,
             what=f"every process of the cancelled tasks gone ({pids})")
    assert len(dumps(tmp_path)) == 2
    # The agent is free again: a new job runs to the end.
    cluster.submit("after", synthetic_job(max_trials=1, parallel=1))
    assert cluster.wait_job("after", timeout=30)["state"] == "SUCCEEDED"


STUBBORN = """
import json, os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
os.makedirs(os.environ["HPT_TEST_DUMP_DIR"], exist_ok=True)
dump = os.path.join(os.environ["HPT_TEST_DUMP_DIR"], "stubborn-%d" % os.getpid())
open(dump, "w").write(str(os.getpid()))
with open(os.environ["CLOUD_ML_HP_METRIC_FILE"], "w") as out:
    out.write(json.dumps({"timestamp": time.time(), "trial": os.environ["CLOUD_ML_TRIAL_ID"],
                          os.environ["CLOUD_ML_HP_METRIC_TAG"]: "0.5", "global_step": "1",
                          "checkpoint_path": ""}) + "\\n")
while True:
    time.sleep(3600)
"""


def test_cancel_kills_a_trainer_that_ignores_sigterm(cluster, tmp_path):
    job = synthetic_job(max_trials=2, parallel=1)
    job["command"] = ["/usr/bin/python3", "-c", STUBBORN]
    cluster.submit("stubborn", job)
    pid = wait_for(lambda: [int(p.read_text()) for p in (tmp_path / "dump").glob("stubborn-*")
                            if p.read_text()], timeout=20, what="the stubborn trainer")[0]
    wait_for(lambda: cluster.job("stubborn")["trainingOutput"]["trials"][0]["state"] == "RUNNING",
             what="trial 1 RUNNING")
    started = time.time()
    assert cluster.hpt("jobs", "cancel", "stubborn").returncode == 0
    done = cluster.wait_job("stubborn", timeout=20)
    took = time.time() - started
    assert done["state"] == "CANCELLED", done
    assert [t["state"] for t in done["trainingOutput"]["trials"]] == ["CANCELLED"]
    assert not alive(pid), "SIGKILL after the grace period"
    # cluster.yaml stopGracePeriod is 2s: SIGTERM is ignored, so SIGKILL ends it.
    assert 1.5 <= took <= 10, took


def test_max_running_time_ends_the_job(cluster, tmp_path):
    job = synthetic_job(max_trials=2, parallel=1, extra_args=["--fail-mode=hang"])
    job["scheduling"] = {"maxRunningTime": "2s"}
    cluster.submit("slow", job)
    done = cluster.wait_job("slow", timeout=8)  # 2s + 2s grace + slack
    assert done["state"] in ("FAILED", "CANCELLED"), done
    assert "maxRunningTime" in done.get("errorMessage", ""), done
    # The job is FAILED at once; its running trial ends CANCELLED once its task is gone.
    trials = wait_for(lambda: (lambda ts: ts if all(t["state"] in ("FAILED", "CANCELLED")
                                                     for t in ts) else None)(
        cluster.job("slow")["trainingOutput"]["trials"]), timeout=5, what="trials ended")
    assert len(trials) == 1, trials
    assert cluster.job("slow")["state"] == done["state"]
    assert not [r["pid"] for r in dumps(tmp_path) if alive(r["pid"])]


def test_max_wait_time_cancels_a_job_that_waits_too_long(cluster, tmp_path):
    # The first job holds all 4 agent CPUs; the second cannot start in time.
    cluster.submit("hog", synthetic_job(max_trials=4, parallel=4, extra_args=["--fail-mode=hang"]))
    job = synthetic_job(max_trials=1, parallel=1)
    job["scheduling"] = {"maxWaitTime": "1s"}
    cluster.submit("patient", job)
    done = cluster.wait_job("patient", timeout=8)
    assert done["state"] == "CANCELLED", done
    assert "maxWaitTime" in done.get("errorMessage", ""), done
    # Nothing of it ran (a trial it had suggested ends CANCELLED).
    assert all(t["state"] == "CANCELLED" for t in done["trainingOutput"].get("trials", [])), done
    assert not [r for r in dumps(tmp_path) if r["env"].get("HPT_JOB_ID") == "patient"]
    assert cluster.job("hog")["state"] == "RUNNING"
    assert cluster.hpt("jobs", "cancel", "hog").returncode == 0
    assert cluster.wait_job("hog", timeout=10)["state"] == "CANCELLED"


# ------------------------------------------------------------- agent socket garbage

def test_garbage_on_the_agent_socket_does_not_hurt_the_master(cluster):
    zmq = pytest.importorskip("zmq")
    context = zmq.Context()

    def dealer():
        sock = context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, 5000)
        sock.connect(cluster.agents_endpoint)
        return sock

    def frames(sock, *parts):
        sock.send_multipart([p if isinstance(p, bytes) else p.encode() for p in parts])

    hello = {"protocol": 2, "name": "intruder", "version": "9.9.9", "advertise": "127.0.0.1",
             "ports": [20000, 20100], "resources": {"cpus": 2, "memoryGb": 1},
             "tasks": [], "ackedSeq": 0, "lastSeq": 0}
    try:
        junk = dealer()
        frames(junk, os.urandom(200))                                   # one random frame
        frames(junk, os.urandom(64), os.urandom(64), os.urandom(64))    # three frames
        frames(junk, "HPT/2 HEARTBEAT", "")                             # empty body
        frames(junk, "HPT/2 HEARTBEAT", '{"seq": 1')                    # bad JSON
        frames(junk, "HPT/2 HEARTBEAT", b'{"seq": 1, "x": "\xff\xfe"}')  # bad UTF-8
        frames(junk, "HPT/2 NO_SUCH_TYPE", "{}")                         # unknown type
        frames(junk, "HPT/2 " + "A" * 200, "{}")                         # long signature
        frames(junk, "HPT/2 METRICS", b"{" + b" " * (2 << 20) + b"}")    # over 1 MiB
        frames(junk, "HPT/2 HELLO", json.dumps(dict(hello, bogus=1)))     # unknown member

        # A HELLO of a newer protocol version: a final REJECT in that version.
        newer = dealer()
        frames(newer, "HPT/3 HELLO", json.dumps(dict(hello, protocol=3)))
        signature, body = newer.recv_multipart()
        assert signature == b"HPT/3 REJECT", (signature, body)
        reject = json.loads(body)
        assert reject["protocols"] == [2], reject
        assert "version" in reject["reason"], reject
        assert not reject.get("retryMs"), "a version REJECT is final"

        # An event before HELLO: ERROR NOT_REGISTERED.
        stranger = dealer()
        frames(stranger, "HPT/2 METRICS", json.dumps({
            "seq": 1, "taskId": "nojob/1/master/0",
            "points": [{"tag": "loss", "value": 0.5, "step": 1, "time": int(time.time() * 1000)}]}))
        signature, body = stranger.recv_multipart()
        assert signature == b"HPT/2 ERROR", (signature, body)
        assert json.loads(body)["code"] == "NOT_REGISTERED", body
    finally:
        context.destroy(linger=0)

    assert cluster.master.poll() is None, "the master died"
    assert [n for n in cluster.get("/v1/nodes")["nodes"] if n["name"] == "intruder"] == []
    assert cluster.node("a1")["state"] == "READY"
    cluster.submit("survivor", synthetic_job(max_trials=2, parallel=2))
    done = cluster.wait_job("survivor", timeout=30)
    assert done["state"] == "SUCCEEDED", done
    metrics = cluster.get("/metrics")
    match = re.search(r"^hpt_agent_messages_dropped_total (\d+)$", metrics, re.M)
    assert match, metrics
    assert int(match.group(1)) >= 8, metrics


def test_an_agent_cannot_report_for_another_agents_task(cluster):
    zmq = pytest.importorskip("zmq")
    cluster.submit("victim", synthetic_job(max_trials=1, parallel=1,
                                           extra_args=["--fail-mode=hang"]))
    wait_for(lambda: [t for t in cluster.job("victim")["trainingOutput"]["trials"]
                      if t["state"] == "RUNNING" and t.get("finalMetric")],
             timeout=20, what="trial 1 running with its first report")
    context = zmq.Context()
    try:
        other = context.socket(zmq.DEALER)
        other.setsockopt(zmq.LINGER, 0)
        other.setsockopt(zmq.RCVTIMEO, 5000)
        other.connect(cluster.agents_endpoint)
        # Too small for any trial, so the master never places work on it.
        hello = {"protocol": 2, "name": "other", "version": "0.1.0", "advertise": "127.0.0.1",
                 "ports": [20000, 20100], "resources": {"cpus": 0.5, "memoryGb": 0.1},
                 "tasks": [], "ackedSeq": 0, "lastSeq": 0}
        other.send_multipart([b"HPT/2 HELLO", json.dumps(hello).encode()])
        assert other.recv_multipart()[0] == b"HPT/2 WELCOME"
        now = int(time.time() * 1000)
        other.send_multipart([b"HPT/2 METRICS", json.dumps({
            "seq": 1, "taskId": "victim/1/master/0",
            "points": [{"tag": "loss", "value": -1e9, "step": 99, "time": now}]}).encode()])
        other.send_multipart([b"HPT/2 TASK_EXITED", json.dumps({
            "seq": 2, "taskId": "victim/1/master/0", "exitCode": 0, "signal": 0,
            "reason": "exited with status 0", "endTime": now}).encode()])
        other.send_multipart([b"HPT/2 LOGS", json.dumps({
            "seq": 3, "taskId": "victim/1/master/0", "stream": "stdout",
            "data": "SPOOFED LINE\n"}).encode()])
        # Whatever the master answers (ACK, ERROR), it has handled both by now.
        wait_for(lambda: other.poll(100) and other.recv_multipart()[0] in
                 (b"HPT/2 ACK", b"HPT/2 ERROR", b"HPT/2 HEARTBEAT"), what="an answer")
        time.sleep(0.3)
    finally:
        context.destroy(linger=0)
    [trial] = cluster.job("victim")["trainingOutput"]["trials"]
    assert trial["state"] == "RUNNING", trial
    steps = [str(m["trainingStep"]) for m in trial.get("allMetrics", [])]
    assert "99" not in steps, trial
    assert str(trial["finalMetric"]["trainingStep"]) == "1", trial
    logs = cluster.get("/v1/projects/default/jobs/victim/logs")
    assert not [e for e in logs["entries"] if "SPOOFED" in e.get("text", "")], logs


def test_bye_marks_the_agent_gone_at_once(cluster):
    zmq = pytest.importorskip("zmq")
    context = zmq.Context()
    try:
        peer = context.socket(zmq.DEALER)
        peer.setsockopt(zmq.LINGER, 0)
        peer.setsockopt(zmq.RCVTIMEO, 5000)
        peer.connect(cluster.agents_endpoint)
        hello = {"protocol": 2, "name": "leaver", "version": "0.1.0", "advertise": "127.0.0.1",
                 "ports": [20000, 20100], "resources": {"cpus": 0.5, "memoryGb": 0.1},
                 "tasks": [], "ackedSeq": 0, "lastSeq": 0}
        peer.send_multipart([b"HPT/2 HELLO", json.dumps(hello).encode()])
        assert peer.recv_multipart()[0] == b"HPT/2 WELCOME"
        assert cluster.node("leaver")["state"] == "READY"
        peer.send_multipart([b"HPT/2 BYE", b'{"reason":"shutting down (SIGTERM)"}'])
        sent = time.time()
        # agentTimeout is 2s: well before it, BYE alone must have done it.
        wait_for(lambda: cluster.node("leaver") is None or cluster.node("leaver")["state"] != "READY",
                 timeout=1.0, what="the agent gone after BYE")
        assert time.time() - sent < 1.5
    finally:
        context.destroy(linger=0)


def test_no_orphans_after_the_agent_is_killed_and_restarted(cluster, tmp_path):
    import signal
    cluster.submit("orphans", synthetic_job(max_trials=1, parallel=1,
                                            extra_args=["--fail-mode=spawn-hang"]))
    record = wait_for(lambda: (lambda rs: rs[0] if rs and len(group_members(rs[0]["pgid"])) >= 2
                               else None)(dumps(tmp_path)), timeout=20,
                      what="the trainer and its child")
    pgid = record["pgid"]
    try:
        cluster.kill(cluster.agents["a1"], signal.SIGKILL)
        # Either the tasks die with the agent, or the agent kills them when it comes back.
        cluster.start_agent("a1", cpus=4, memory_gb=4)
        wait_for(lambda: not group_members(pgid), timeout=5,
                 what=f"no process left in the task's group {pgid}")
    finally:
        try:
            os.killpg(pgid, 9)  # never leave the orphans behind
        except ProcessLookupError:
            pass


def test_cancel_right_after_submit_leaves_nothing_running(cluster, tmp_path):
    # Cancel races the first LAUNCHes: whatever was started must be stopped.
    cluster.submit("race", synthetic_job(max_trials=6, parallel=3,
                                         extra_args=["--fail-mode=spawn-hang"]))
    assert cluster.hpt("jobs", "cancel", "race").returncode == 0
    done = cluster.wait_job("race", timeout=20)
    assert done["state"] == "CANCELLED", done
    assert all(t["state"] == "CANCELLED" for t in done["trainingOutput"].get("trials", [])), done
    time.sleep(0.5)  # a LAUNCH in flight at the cancel would have started by now
    groups = {r["pgid"] for r in dumps(tmp_path)}
    wait_for(lambda: not [g for g in groups if group_members(g)], timeout=5,
             what="every process of the cancelled job gone")
    assert len(dumps(tmp_path)) <= 3


def test_agent_sigterm_stops_its_tasks_and_says_bye(cluster, tmp_path):
    import signal
    cluster.submit("term", synthetic_job(max_trials=2, parallel=2,
                                         extra_args=["--fail-mode=spawn-hang"]))
    records = wait_for(lambda: (lambda rs: rs if len(rs) == 2 and all(
        len(group_members(r["pgid"])) >= 2 for r in rs) else None)(dumps(tmp_path)),
        timeout=20, what="2 trainers and their children")
    groups = [r["pgid"] for r in records]
    try:
        agent = cluster.agents["a1"]
        started = time.time()
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=10) == 0, "hptagent exits 0 on SIGTERM"
        # Every process of its tasks is gone when it has exited (it stopped them) ...
        assert not [g for g in groups if group_members(g)]
        # ... and it said BYE: gone at once, not after the 2s agent timeout.
        wait_for(lambda: cluster.node("a1")["state"] != "READY", timeout=1.0,
                 what="a1 no longer READY")
        assert time.time() - started < 1.8
        # Its trials failed naming the agent, or were requeued (the master's documented
        # agent-loss rule decides which): none is left RUNNING there.
        trials = wait_for(lambda: (lambda ts: ts if ts and not [
            t for t in ts if t["hptState"] in ("PROVISIONING", "RUNNING")] else None)(
            cluster.job("term")["trainingOutput"]["trials"]), timeout=10, what="trials settled")
        assert all("a1" in t["errorMessage"] for t in trials if t["state"] == "FAILED"), trials
    finally:
        for g in groups:
            try:
                os.killpg(g, 9)
            except ProcessLookupError:
                pass
