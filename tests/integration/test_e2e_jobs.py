"""End to end: whole jobs on a real hptmaster and hptagent over loopback.

What a user relies on when a job goes well: exactly maxTrials trials with
ids "1".."N", results best first by the objective, finalMetric equal to
the trainer's last report, the trainer contract of docs/trainer-contract.md (argv, TF_CONFIG,
CLOUD_ML_*, the job's env, a working directory per task), maxParallelTrials
never exceeded, the REST errors of docs/interfaces.md, and `hpt jobs describe
--summarize` / `hpt jobs stream-logs` on the finished job.

The trainer is examples/synthetic/trainer/task.py: its objective is a known
function of the hyperparameters, so every expected value is computed here,
and with HPT_TEST_DUMP_DIR in the agent's environment it writes what it was
given (argv, environment, cwd, pid) to one JSON file per task."""
import json
import pathlib
import re
import signal
import socket
import time

import pytest

from hpt_harness import PYTHON, SYNTHETIC, ApiError, Cluster, synthetic_job, unstamped

IN_FLIGHT = ("PENDING", "PROVISIONING", "RUNNING", "STOPPING")


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    """A master and one agent with 4 CPUs (room for 4 one-CPU trials); the
    agent's trainers dump what they see into tmp_path/dump."""
    monkeypatch.setenv("HPT_TEST_DUMP_DIR", str(tmp_path / "dump"))
    c = Cluster(tmp_path)
    c.start_master()
    c.start_agent("a1", cpus=4, memory_gb=4)
    yield c
    c.stop()


def all_dumps(tmp_path):
    """Every task's dump record; no (job, trial) may have run twice."""
    directory = tmp_path / "dump"
    records = []
    seen = set()
    if directory.is_dir():
        for path in sorted(directory.glob("task-*.json")):
            record = json.loads(path.read_text())
            key = (record["env"].get("CLOUD_ML_JOB_ID"), record["env"].get("CLOUD_ML_TRIAL_ID"))
            assert key not in seen, f"trial {key} ran twice: {path}"
            seen.add(key)
            records.append(record)
    return records


def dumps(tmp_path, job=None):
    """trial id -> the dump record of its (single, master) task, for one
    job (any job when the test runs only one)."""
    records = {}
    for record in all_dumps(tmp_path):
        if job is None or record["env"].get("CLOUD_ML_JOB_ID") == job:
            trial = record["env"].get("CLOUD_ML_TRIAL_ID")
            assert trial not in records, f"several jobs' trial {trial}: pass job="
            records[trial] = record
    return records


def objective(hyperparameters, targets=None):
    """The synthetic trainer's function (see its docstring)."""
    targets = targets or {}
    value = 1.0
    for name, text in hyperparameters.items():
        try:
            x = float(text)
        except ValueError:
            if name in targets and text != targets[name]:
                value -= 0.25
            continue
        value -= (x - float(targets.get(name, 0.5))) ** 2
    return value


def ms(stamp):
    """RFC 3339 UTC time with milliseconds -> epoch milliseconds."""
    match = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z", stamp)
    assert match, f"not an RFC 3339 UTC time: {stamp!r}"
    y, mo, d, h, mi, s, frac = match.groups()
    seconds = time.mktime((int(y), int(mo), int(d), int(h), int(mi), int(s), 0, 0, 0)) - time.timezone
    return int(seconds) * 1000 + int(((frac or "0") + "000")[:3])


# ------------------------------------------------------------- results

@pytest.mark.parametrize("goal", ["MINIMIZE", "MAXIMIZE"])
def test_whole_job_succeeds_with_ranked_results(cluster, tmp_path, goal):
    steps = 3
    job = synthetic_job(max_trials=5, parallel=2, extra_args=[f"--steps={steps}"], goal=goal)
    cluster.submit("whole", job)
    done = cluster.wait_job("whole", timeout=60)
    assert done["state"] == "SUCCEEDED", done
    out = done["trainingOutput"]
    trials = out["trials"]
    assert out["isHyperparameterTuningJob"] is True
    assert out["hyperparameterMetricTag"] == "loss"
    assert str(out["completedTrialCount"]) == "5"
    assert sorted(t["trialId"] for t in trials) == ["1", "2", "3", "4", "5"]
    records = dumps(tmp_path)
    assert sorted(records) == ["1", "2", "3", "4", "5"], "each trial ran exactly once"
    for t in trials:
        assert t["state"] == "SUCCEEDED", t
        hp = t["hyperparameters"]
        assert set(hp) == {"x", "y"}
        assert -5 <= float(hp["x"]) <= 5
        assert re.fullmatch(r"\d+", hp["y"]) and 0 <= int(hp["y"]) <= 10, hp
        # The trainer got exactly these values on its command line ...
        assert f"--x={hp['x']}" in records[t["trialId"]]["argv"]
        assert f"--y={hp['y']}" in records[t["trialId"]]["argv"]
        # ... and its last report (step N) is the known function's value.
        final = t["finalMetric"]
        assert str(final["trainingStep"]) == str(steps)
        assert final["objectiveValue"] == pytest.approx(objective(hp), rel=1e-9, abs=1e-9)
        if "allMetrics" in t:
            assert [str(m["trainingStep"]) for m in t["allMetrics"]] == ["1", "2", "3"]
            assert t["allMetrics"][-1]["objectiveValue"] == final["objectiveValue"]
    values = [t["finalMetric"]["objectiveValue"] for t in trials]
    assert values == sorted(values, reverse=(goal == "MAXIMIZE")), f"not best first: {values}"

    summary = cluster.hpt("jobs", "describe", "whole", "--summarize")
    assert summary.returncode == 0, summary.stderr
    best = trials[0]["trialId"]
    rows = [line.split() for line in summary.stdout.splitlines()
            if re.match(r"\d+\s+(SUCCEEDED|FAILED)", line)]
    assert [r[0] for r in rows] == [t["trialId"] for t in trials], summary.stdout
    assert rows[0][1] == "SUCCEEDED"
    # The table prints 6 significant digits.
    assert float(rows[0][2]) == pytest.approx(trials[0]["finalMetric"]["objectiveValue"], rel=1e-5)
    assert "SUCCEEDED" in summary.stdout
    assert re.search(rf"Best trial:\s+{best}\b", summary.stdout), summary.stdout

    # A finished job keeps no placements in memory: the trial's detail
    # reads them from the store, before and after a restart.
    for restart in (False, True):
        if restart:
            cluster.kill(cluster.master, signal.SIGKILL)
            cluster.master.wait(timeout=10)
            cluster.start_master()
        detail = cluster.get("/v1/projects/default/jobs/whole/trials/1")
        task = detail["hptTasks"][0]
        assert task["node"] == "a1" and task["host"] and task["port"] > 0, task
        assert "cores" in task and "clusterSpec" in task, task


def test_ties_rank_the_cheaper_trial_first(cluster):
    # "steps" is the trainer's own option: every trial reaches the same final
    # objective (1.0) after a different number of steps, so only the documented
    # tie-break (fewer steps first) orders them.
    job = synthetic_job(max_trials=3, parallel=1, goal="MAXIMIZE", algorithm="GRID_SEARCH",
                        params=[{"parameterName": "steps", "type": "CATEGORICAL",
                                 "categoricalValues": ["3", "1", "2"]}])
    cluster.submit("ties", job)
    done = cluster.wait_job("ties", timeout=30)
    assert done["state"] == "SUCCEEDED", done
    trials = done["trainingOutput"]["trials"]
    assert [t["finalMetric"]["objectiveValue"] for t in trials] == [1.0, 1.0, 1.0]
    assert [t["hyperparameters"]["steps"] for t in trials] == ["1", "2", "3"]
    assert [t["trialId"] for t in trials] == ["2", "3", "1"]
    assert [str(t["finalMetric"]["trainingStep"]) for t in trials] == ["1", "2", "3"]


# ------------------------------------------------------------- contract

def test_trainer_sees_exactly_the_contract(cluster, tmp_path):
    job_dir = tmp_path / "job-dir"
    job = {
        "command": [PYTHON, str(SYNTHETIC)],
        "args": ["--steps", "2", "--report-loss=0"],
        "jobDir": str(job_dir),
        # The trainer dumps only CLOUD_ML_*, HPT_*, CUDA_* and TPU_* variables, and
        # a job may not set the reserved ones: CUDA_ names that hpt leaves alone.
        "env": {"CUDA_TEST_USER_VAR": "a value with spaces", "CUDA_TEST_OTHER": "42"},
        "hyperparameters": {
            "goal": "MAXIMIZE",
            "hyperparameterMetricTag": "accuracy",
            "maxTrials": 3,
            "maxParallelTrials": 3,
            "params": [
                {"parameterName": "lr", "type": "DOUBLE", "minValue": 0.001, "maxValue": 0.1,
                 "scaleType": "UNIT_LOG_SCALE"},
                {"parameterName": "units", "type": "INTEGER", "minValue": 16, "maxValue": 64},
                {"parameterName": "act", "type": "CATEGORICAL",
                 "categoricalValues": ["relu", "tanh x", "sig,moid"]},
            ],
        },
    }
    cluster.submit("contract", job)
    done = cluster.wait_job("contract", timeout=60)
    assert done["state"] == "SUCCEEDED", done
    trials = {t["trialId"]: t for t in done["trainingOutput"]["trials"]}
    records = dumps(tmp_path)
    assert sorted(records) == ["1", "2", "3"]
    workdir = (tmp_path / "agent-a1").resolve()
    cwds, metric_files = set(), set()
    for trial_id, record in records.items():
        hp = trials[trial_id]["hyperparameters"]
        argv = record["argv"]
        # command (argv[0] python, argv[1] the script) + args + --job-dir + params
        assert argv[:3] == ["--steps", "2", "--report-loss=0"], argv
        assert argv[3] == f"--job-dir={job_dir}", argv
        params = argv[4:]
        assert sorted(params) == sorted([f"--lr={hp['lr']}", f"--units={hp['units']}",
                                         f"--act={hp['act']}"]), argv
        assert re.fullmatch(r"--units=\d+", [p for p in params if p.startswith("--units=")][0])
        assert hp["act"] in ("relu", "tanh x", "sig,moid")
        assert 0.001 <= float(hp["lr"]) <= 0.1

        env = record["env"]
        assert env["CLOUD_ML_TRIAL_ID"] == trial_id
        assert env["CLOUD_ML_HP_METRIC_TAG"] == "accuracy"
        assert env["CUDA_TEST_USER_VAR"] == "a value with spaces"
        assert env["CUDA_TEST_OTHER"] == "42"
        metric_file = pathlib.Path(env["CLOUD_ML_HP_METRIC_FILE"])
        assert metric_file.is_absolute()
        assert metric_file.parent.is_dir()
        metric_files.add(str(metric_file))

        tf = json.loads(env["TF_CONFIG"])
        assert set(tf["cluster"]) == {"master"}, tf["cluster"]
        [address] = tf["cluster"]["master"]
        host, _, port = address.rpartition(":")
        assert host and port.isdigit() and 0 < int(port) < 65536, address
        assert tf["task"] == {"type": "master", "index": 0, "trial": trial_id}
        assert tf["job"] == done["trainingInput"]
        assert tf["environment"] == "cloud"

        cwd = pathlib.Path(record["cwd"]).resolve()
        assert cwd.is_dir()
        assert workdir in cwd.parents, f"{cwd} not under the agent's workdir {workdir}"
        cwds.add(str(cwd))
        # The reported metric came from this task's own file.
        assert trials[trial_id]["finalMetric"]["objectiveValue"] == pytest.approx(
            objective(hp), rel=1e-9, abs=1e-9)
    assert len(cwds) == 3, f"working directories shared between trials: {cwds}"
    assert len(metric_files) == 3, f"metric files shared between trials: {metric_files}"


def test_use_chief_in_tf_config(cluster, tmp_path):
    job = synthetic_job(max_trials=1, parallel=1)
    job["useChiefInTfConfig"] = True
    cluster.submit("chief", job)
    assert cluster.wait_job("chief", timeout=30)["state"] == "SUCCEEDED"
    [record] = dumps(tmp_path).values()
    tf = json.loads(record["env"]["TF_CONFIG"])
    assert set(tf["cluster"]) == {"chief"}, tf
    assert tf["task"] == {"type": "chief", "index": 0, "trial": "1"}


def test_every_report_is_kept_across_metric_file_rewrites(cluster):
    # The hypertune file keeps only the last 100 reports and is rewritten whole on
    # each: the agent must deduplicate and still deliver every point once.
    steps = 150
    job = synthetic_job(max_trials=1, parallel=1, extra_args=[f"--steps={steps}", "--sleep=0.004"])
    cluster.submit("rewrites", job)
    done = cluster.wait_job("rewrites", timeout=40)
    assert done["state"] == "SUCCEEDED", done
    [trial] = done["trainingOutput"]["trials"]
    assert str(trial["finalMetric"]["trainingStep"]) == str(steps)
    assert trial["finalMetric"]["objectiveValue"] == pytest.approx(
        objective(trial["hyperparameters"]), rel=1e-9, abs=1e-9)
    seen = [int(m["trainingStep"]) for m in trial["allMetrics"]]
    assert seen == list(range(1, steps + 1)), f"{len(seen)} points: {seen[:5]}..{seen[-5:]}"


MODULE = """import json, os, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
value = -(float(args["x"]) - 1) ** 2
with open(os.environ["CLOUD_ML_HP_METRIC_FILE"], "w") as out:
    out.write(json.dumps({"timestamp": time.time(), "trial": os.environ["CLOUD_ML_TRIAL_ID"],
                          os.environ["CLOUD_ML_HP_METRIC_TAG"]: str(value), "global_step": "7",
                          "checkpoint_path": ""}) + "\\n")
print("module", __name__, sys.argv[0], json.dumps(sys.argv[1:]), flush=True)
"""


def module_job(**input):
    return dict(input, pythonModule="trainer.task", hyperparameters={
        "goal": "MAXIMIZE", "maxTrials": 2, "maxParallelTrials": 2,
        "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0, "maxValue": 2}]})


def check_module_job(cluster, name):
    done = cluster.wait_job(name, timeout=60)
    assert done["state"] == "SUCCEEDED", done
    for t in done["trainingOutput"]["trials"]:
        x = float(t["hyperparameters"]["x"])
        assert t["finalMetric"]["objectiveValue"] == pytest.approx(-(x - 1) ** 2, rel=1e-9, abs=1e-12)
        assert str(t["finalMetric"]["trainingStep"]) == "7"
    # Entries are chunks of a task's output as the agent read them: join per task.
    logs = cluster.get(f"/v1/projects/default/jobs/{name}/logs")["entries"]
    outputs = {}
    for e in logs:
        if e.get("stream") == "stdout":
            outputs[e["taskId"]] = outputs.get(e["taskId"], "") + e["text"]
    assert len(outputs) == 2, outputs
    texts = [line for text in outputs.values() for line in text.splitlines()]
    # `python3 -m trainer.task`: runs as __main__ from the package's task.py.
    assert any(re.match(r'module __main__ \S*/trainer/task\.py \["--x=', text) for text in texts), texts


def test_python_module_runs_with_python3_dash_m(cluster, tmp_path):
    package = tmp_path / "src" / "trainer"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(MODULE)
    cluster.submit("module", module_job(env={"PYTHONPATH": str(tmp_path / "src")}))
    check_module_job(cluster, "module")


def test_python_module_from_a_file_package_uri(cluster, tmp_path):
    import io
    import tarfile
    archive = tmp_path / "trainer-0.1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in (("trainer/__init__.py", b""), ("trainer/task.py", MODULE.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    cluster.submit("packaged", module_job(packageUris=[archive.as_uri()]))
    check_module_job(cluster, "packaged")


# ------------------------------------------------------------- parallelism

def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_max_parallel_trials_is_never_exceeded(cluster, tmp_path):
    parallel, total = 2, 6
    # 4 agent CPUs could take 4 one-CPU trials: only the limit holds it at 2.
    job = synthetic_job(max_trials=total, parallel=parallel,
                        extra_args=["--steps=3", "--sleep=0.1"])
    cluster.submit("par", job)
    most_in_flight = most_alive = 0
    deadline = time.time() + 60
    state = None
    while time.time() < deadline:
        current = cluster.job("par")
        state = current["state"]
        in_flight = [t for t in current.get("trainingOutput", {}).get("trials", [])
                     if t["hptState"] in IN_FLIGHT]
        most_in_flight = max(most_in_flight, len(in_flight))
        alive = sum(1 for r in dumps(tmp_path).values() if _alive(r["pid"]))
        most_alive = max(most_alive, alive)
        assert len(in_flight) <= parallel, current
        assert alive <= parallel, f"{alive} trainer processes alive at once"
        if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.02)
    assert state == "SUCCEEDED"
    done = cluster.job("par")
    trials = done["trainingOutput"]["trials"]
    assert sorted(int(t["trialId"]) for t in trials) == list(range(1, total + 1))
    # The trials' own start/end times never overlap more than `parallel`.
    events = []
    for t in trials:
        events.append((ms(t["startTime"]), 1))
        events.append((ms(t["endTime"]), -1))
    overlap = most = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        overlap += delta
        most = max(most, overlap)
    assert most <= parallel, f"{most} trials overlapped in time"
    # "that many trials in flight when capacity allows"
    assert max(most_in_flight, most_alive, most) == parallel


def test_trials_and_jobs_wait_while_the_agent_is_busy(tmp_path, monkeypatch):
    monkeypatch.setenv("HPT_TEST_DUMP_DIR", str(tmp_path / "dump"))
    c = Cluster(tmp_path)
    try:
        c.start_master()
        c.start_agent("small", cpus=1, memory_gb=1)  # room for one one-CPU trial
        c.submit("first", synthetic_job(max_trials=3, parallel=3,
                                        extra_args=["--steps=2", "--sleep=0.1"]))
        c.submit("second", synthetic_job(max_trials=1, parallel=1))
        queued = c.job("second")
        assert queued["state"] == "QUEUED", queued
        assert "first" in queued.get("hptQueueReason", ""), queued
        # A job that runs says why its next trials wait, too.
        running = c.job("first")
        assert running["state"] in ("PREPARING", "RUNNING"), running
        assert running.get("hptQueueReason") == "waiting for free resources on the agents", running
        most = 0
        while True:
            first = c.job("first")
            running = [t for t in first["trainingOutput"]["trials"]
                       if t["hptState"] in ("PROVISIONING", "RUNNING")]
            most = max(most, len(running))
            assert len(running) <= 1, first
            assert sum(1 for r in all_dumps(tmp_path) if _alive(r["pid"])) <= 1
            if first["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            time.sleep(0.02)
        assert first["state"] == "SUCCEEDED", first
        assert sorted(t["trialId"] for t in first["trainingOutput"]["trials"]) == ["1", "2", "3"]
        assert c.wait_job("second", timeout=30)["state"] == "SUCCEEDED"
    finally:
        c.stop()


def test_a_trial_no_agent_can_fit_is_refused_with_the_reason(tmp_path):
    c = Cluster(tmp_path, machine_types={"standard": {"cpus": 1, "memoryGb": 0.5},
                                         "huge": {"cpus": 64, "memoryGb": 1}})
    try:
        c.start_master()
        c.start_agent("small", cpus=2, memory_gb=1)
        job = synthetic_job(max_trials=2, parallel=1)
        job.update(scaleTier="CUSTOM", masterType="huge")
        try:
            c.submit("huge", job)
        except ApiError as err:  # refused at once ...
            assert err.status == 400, err
            message = err.body["error"]["message"]
        else:  # ... or accepted and failed at once
            done = c.wait_job("huge", timeout=10)
            assert done["state"] == "FAILED", done
            message = done["errorMessage"]
        assert "huge" in message and "64" in message, message
    finally:
        c.stop()


# ------------------------------------------------------------- REST errors

def test_invalid_job_over_rest_reports_every_error(cluster):
    bad = {
        "command": [PYTHON, str(SYNTHETIC)],
        "hyperparameters": {
            "goal": "SIDEWAYS",
            "maxTrials": -1,
            "params": [
                {"parameterName": "x", "type": "DOUBLE", "minValue": 1},
                {"parameterName": "c", "type": "CATEGORICAL"},
            ],
        },
    }
    with pytest.raises(ApiError) as raised:
        cluster.submit("bad", bad)
    err = raised.value
    assert err.status == 400
    body = err.body["error"]
    assert body["code"] == 400
    assert body["status"] == "INVALID_ARGUMENT"
    assert body["message"]
    [detail] = [d for d in body["details"]
                if d["@type"] == "type.googleapis.com/google.rpc.BadRequest"]
    # Google's field paths in field, JSON pointers in the hptPointer extension.
    fields = [v["field"] for v in detail["fieldViolations"]]
    pointers = [v["hptPointer"] for v in detail["fieldViolations"]]
    assert all(v["description"] for v in detail["fieldViolations"])
    assert all(p.startswith("/") for p in pointers), pointers
    hp = "training_input.hyperparameters"
    for expected in (f"{hp}.goal", f"{hp}.max_trials", f"{hp}.params[0]", f"{hp}.params[1]"):
        assert any(f == expected or f.startswith(expected + ".") for f in fields), \
            f"no violation at {expected}: {fields}"
    assert len(fields) >= 4
    assert body["message"].startswith("Invalid job: "), body
    assert fields[0] in body["message"], body
    with pytest.raises(ApiError) as missing:
        cluster.job("bad")
    assert missing.value.status == 404


def test_duplicate_and_unknown_jobs(cluster):
    job = synthetic_job(max_trials=1, parallel=1)
    cluster.submit("dup", job)
    with pytest.raises(ApiError) as dup:
        cluster.submit("dup", job)
    assert dup.value.status == 409
    assert dup.value.body["error"]["status"] == "ALREADY_EXISTS"
    assert "dup" in dup.value.body["error"]["message"]
    with pytest.raises(ApiError) as unknown:
        cluster.job("no_such_job")
    assert unknown.value.status == 404
    assert unknown.value.body["error"]["status"] == "NOT_FOUND"
    with pytest.raises(ApiError) as unknown_cancel:
        cluster.request("POST", "/v1/projects/default/jobs/no_such_job:cancel", {})
    assert unknown_cancel.value.status == 404
    # The duplicate did not disturb the original.
    assert cluster.wait_job("dup", timeout=60)["state"] == "SUCCEEDED"
    listed = cluster.get("/v1/projects/default/jobs")["jobs"]
    assert [j["jobId"] for j in listed] == ["dup"]


def test_cli_submit_of_invalid_config_never_reaches_the_master(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("trainingInput:\n"
                      "  hyperparameters:\n"
                      "    goal: SIDEWAYS\n"
                      "    maxTrials: -1\n"
                      "    params:\n"
                      "      - parameterName: x\n"
                      "        type: DOUBLE\n")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        c = Cluster(tmp_path)  # only for its hpt() helper: the master is our listener
        c.api_port = port
        result = c.hpt("jobs", "submit", "training", "bad_job", "--config", str(config))
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "bad.yaml:3" in result.stderr and "goal" in result.stderr, result.stderr
    assert "maxTrials" in result.stderr, result.stderr
    assert "submitted" not in result.stdout + result.stderr


# ------------------------------------------------------------- logs

def test_stream_logs_prints_trainer_lines_with_prefix(cluster):
    job = synthetic_job(max_trials=2, parallel=2, extra_args=["--steps=3"])
    cluster.submit("logs", job)
    done = cluster.wait_job("logs", timeout=60)
    assert done["state"] == "SUCCEEDED"
    result = cluster.hpt("jobs", "stream-logs", "logs")
    assert result.returncode == 0, result.stderr
    # Every line carries its time, as gcloud prints it; the narration too.
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \["
    assert all(re.match(stamp, line) for line in result.stdout.splitlines()), result.stdout
    lines = unstamped(result.stdout).splitlines()
    for t in done["trainingOutput"]["trials"]:
        trial = t["trialId"]
        mine = [line for line in lines if line.startswith(f"[trial {trial} master-0] ")]
        texts = [line[len(f"[trial {trial} master-0] "):] for line in mine]
        assert any(text.startswith("synthetic: params ") for text in texts), lines
        values = [float(x) for text in texts for x in re.findall(r"^step \d+ loss=(\S+)$", text)]
        steps = [text.split()[1] for text in texts if text.startswith("step ")]
        assert steps == ["1", "2", "3"], mine
        assert values[-1] == pytest.approx(t["finalMetric"]["objectiveValue"], abs=1e-6)
    only = cluster.hpt("jobs", "stream-logs", "logs", "--trial", "1")
    assert only.returncode == 0
    only_lines = unstamped(only.stdout).splitlines()
    assert all(not line.startswith("[trial 2 ") for line in only_lines)
    assert any(line.startswith("[trial 1 master-0] step 3 ") for line in only_lines)


def test_submit_with_stream_logs_exits_by_the_jobs_outcome(cluster, tmp_path):
    for name, extra, status, state in (("fine", [], 0, "SUCCEEDED"),
                                       ("broken", ["--fail-mode=exit1"], 1, "FAILED")):
        config = tmp_path / f"{name}.yaml"  # JSON is YAML
        config.write_text(json.dumps({"trainingInput": synthetic_job(
            max_trials=2, parallel=1, extra_args=extra)}))
        result = cluster.hpt("jobs", "submit", "training", name, "--config", str(config),
                             "--stream-logs")
        assert result.returncode == status, (name, result.stdout, result.stderr)
        assert f"Job [{name}] submitted successfully." in result.stderr
        assert cluster.job(name)["state"] == state
        assert "[trial 1 master-0] " in result.stdout, result.stdout


def test_cancel_of_a_queued_job_and_cli_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HPT_TEST_DUMP_DIR", str(tmp_path / "dump"))
    c = Cluster(tmp_path)
    try:
        c.start_master()
        c.start_agent("small", cpus=1, memory_gb=1)
        c.submit("busy", synthetic_job(max_trials=1, parallel=1, extra_args=["--fail-mode=hang"]))
        c.submit("waiting", synthetic_job(max_trials=2, parallel=1))
        assert c.job("waiting")["state"] == "QUEUED"
        assert c.hpt("jobs", "cancel", "waiting").returncode == 0
        waiting = c.wait_job("waiting", timeout=10)
        assert waiting["state"] == "CANCELLED", waiting
        assert c.hpt("jobs", "cancel", "busy").returncode == 0
        assert c.wait_job("busy", timeout=10)["state"] == "CANCELLED"
        assert not [r for r in all_dumps(tmp_path) if r["env"]["HPT_JOB_ID"] == "waiting"]

        # The master's errors reach the user as it wrote them, with a non-zero exit.
        again = c.hpt("jobs", "cancel", "busy")
        assert again.returncode != 0
        assert "CANCELLED" in again.stderr and "busy" in again.stderr, again.stderr
        missing = c.hpt("jobs", "describe", "nosuch")
        assert missing.returncode != 0
        assert "nosuch" in missing.stderr, missing.stderr

        # list with a filter on the state
        listed = c.get("/v1/projects/default/jobs?filter=state%3DCANCELLED")["jobs"]
        assert sorted(j["jobId"] for j in listed) == ["busy", "waiting"]
        listed = c.get("/v1/projects/default/jobs?filter=state%3DSUCCEEDED")["jobs"]
        assert listed == []
        table = c.hpt("jobs", "list")
        assert table.returncode == 0
        assert "busy" in table.stdout and "waiting" in table.stdout
    finally:
        c.stop()


def test_final_metric_comes_from_the_job_tag_only(cluster):
    # With --report-loss=1 the trainer also reports "loss" = 1 - value into the same
    # hypertune file (one line per tag): only the job's tag may count.
    job = synthetic_job(max_trials=2, parallel=2, extra_args=["--steps=2", "--report-loss=1"],
                        goal="MAXIMIZE", hyperparameterMetricTag="accuracy")
    cluster.submit("tags", job)
    done = cluster.wait_job("tags", timeout=30)
    assert done["state"] == "SUCCEEDED", done
    for t in done["trainingOutput"]["trials"]:
        assert t["finalMetric"]["objectiveValue"] == pytest.approx(
            objective(t["hyperparameters"]), rel=1e-9, abs=1e-9)
        assert [str(m["trainingStep"]) for m in t.get("allMetrics", [])] in ([], ["1", "2"])


BINARY_OUTPUT = """import json, os, sys, time
sys.stdout.buffer.write(b"bytes \\xff\\xfe\\x00 not utf-8\\n" + "caf\\u00e9 ok\\n".encode())
sys.stdout.buffer.flush()
with open(os.environ["CLOUD_ML_HP_METRIC_FILE"], "w") as out:
    out.write(json.dumps({"timestamp": time.time(), "trial": os.environ["CLOUD_ML_TRIAL_ID"],
                          os.environ["CLOUD_ML_HP_METRIC_TAG"]: "0.25", "global_step": "1",
                          "checkpoint_path": ""}) + "\\n")
"""


def test_output_that_is_not_utf8_keeps_logs_readable(cluster):
    job = synthetic_job(max_trials=1, parallel=1)
    job["command"] = [PYTHON, "-c", BINARY_OUTPUT]
    cluster.submit("bytes", job)
    done = cluster.wait_job("bytes", timeout=30)
    assert done["state"] == "SUCCEEDED", done
    assert done["trainingOutput"]["trials"][0]["finalMetric"]["objectiveValue"] == 0.25
    logs = cluster.get("/v1/projects/default/jobs/bytes/logs")  # parsed as JSON by the harness
    text = "".join(e["text"] for e in logs["entries"] if e.get("stream") == "stdout")
    assert "not utf-8" in text and "caf\u00e9 ok" in text, text
    result = cluster.hpt("jobs", "stream-logs", "bytes")
    assert result.returncode == 0, result.stderr
    lines = unstamped(result.stdout).splitlines()
    assert "[trial 1 master-0] caf\u00e9 ok" in lines, result.stdout
    assert [line for line in lines if line.startswith("[trial 1 master-0] bytes ")
            and line.endswith(" not utf-8")], result.stdout


def test_values_reach_the_trainer_as_the_job_reports_them(cluster, tmp_path):
    job = synthetic_job(max_trials=4, parallel=2, params=[
        {"parameterName": "d", "type": "DISCRETE", "discreteValues": [0.001, 0.5, 100]},
        {"parameterName": "big", "type": "INTEGER", "minValue": 1000000000, "maxValue": 3000000000},
        {"parameterName": "tiny", "type": "DOUBLE", "minValue": 1e-9, "maxValue": 1e-7,
         "scaleType": "UNIT_LOG_SCALE"}])
    cluster.submit("values", job)
    done = cluster.wait_job("values", timeout=30)
    assert done["state"] == "SUCCEEDED", done
    records = dumps(tmp_path)
    for t in done["trainingOutput"]["trials"]:
        hp = t["hyperparameters"]
        assert float(hp["d"]) in (0.001, 0.5, 100), hp
        assert re.fullmatch(r"[0-9]+", hp["big"]) and 1000000000 <= int(hp["big"]) <= 3000000000
        assert 1e-9 <= float(hp["tiny"]) <= 1e-7, hp
        assert sorted(records[t["trialId"]]["argv"]) == sorted(
            f"--{name}={value}" for name, value in hp.items())
