"""`hpt` as gcloud users know it, against a real master and agent:

- --format with gcloud's projections (json, yaml, table(...), value(...),
  csv(...), none, keyed json/yaml) on every command that prints resources;
- jobs list --filter (repeated: ANDed), --sort-by (~: descending) before
  --limit, --uri;
- jobs update --update-labels/--remove-labels/--clear-labels (PATCH with
  updateMask=labels,etag);
- jobs submit training's gcloud flags over the config file, --package-path
  building a source distribution that a pythonModule job really runs;
- the narrating stream-logs: queued with its reason, trial started (node
  and parameters), ended (objective, or reason with the stderr tail), best
  trial at the end; --task-name, --allow-multiline-logs, --polling-interval;
  a master never reached gives up in bounded time, naming --master,
  HPT_MASTER and master.api;
- describe --summarize: best trial only among SUCCEEDED trials with a final
  metric, 6 significant digits.
"""
import json
import os
import pathlib
import re
import subprocess
import tarfile
import time

import pytest
import yaml

from hpt_harness import BIN, PYTHON, SYNTHETIC, Cluster, free_port, synthetic_job, unstamped

JOBS = "/v1/projects/default/jobs"

# A trainer that reports objective x (MAXIMIZE) and fails after reporting
# when x > 0: its failed trials have the best objectives, which must not
# make them the best trial.
FLAKY = r'''
import json, os, sys, time
x = float([a.split("=", 1)[1] for a in sys.argv if a.startswith("--x=")][0])
path = os.environ["CLOUD_ML_HP_METRIC_FILE"]
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "w") as f:
    f.write(json.dumps({"timestamp": time.time(), "trial": os.environ.get("CLOUD_ML_TRIAL_ID", "0"),
                        os.environ["CLOUD_ML_HP_METRIC_TAG"]: str(x), "global_step": "1",
                        "checkpoint_path": ""}) + "\n")
if x > 0:
    print("flaky: x=%s is too big" % x, file=sys.stderr)
    print("flaky: giving up", file=sys.stderr)
    sys.exit(3)
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A master, one 2-CPU agent and three finished jobs: alpha_1 and
    alpha_2 (synthetic, alpha_2 labelled), beta_1 (every trial failing)."""
    cluster = Cluster(tmp_path_factory.mktemp("gcloud"))
    cluster.start_master()
    cluster.start_agent("a1", cpus=2)
    cluster.submit("alpha_1", synthetic_job(max_trials=2, parallel=2))
    cluster.request("POST", JOBS, {"jobId": "alpha_2", "labels": {"team": "vision"},
                                   "trainingInput": synthetic_job(max_trials=3, parallel=2)})
    cluster.submit("beta_1", synthetic_job(max_trials=1, parallel=1,
                                           extra_args=["--fail-mode=exit1"]))
    for job in ("alpha_1", "alpha_2", "beta_1"):
        cluster.wait_job(job)
    yield cluster
    cluster.stop()


def ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# ---------------------------------------------------------------- --format

def test_describe_projections(site):
    assert ok(site.hpt("jobs", "describe", "alpha_2", "--format", "value(jobId, state)")) == \
        "alpha_2\tSUCCEEDED\n"
    assert ok(site.hpt("jobs", "describe", "alpha_2", "--format",
                       "csv(jobId, labels.team:label=TEAM, trainingOutput.completedTrialCount)")) == \
        "jobId,TEAM,trainingOutput.completedTrialCount\nalpha_2,vision,3\n"
    table = ok(site.hpt("jobs", "describe", "alpha_2", "--format",
                        "table(jobId, labels.team:label='THE TEAM', trainingOutput.trials[0].trialId)"))
    assert table.splitlines()[0].split() == ["JOB_ID", "THE", "TEAM", "TRIAL_ID"]
    assert table.splitlines()[1].split()[:2] == ["alpha_2", "vision"]
    assert ok(site.hpt("jobs", "describe", "alpha_2", "--format", "table[no-heading](jobId)")) == \
        "alpha_2\n"
    keyed = json.loads(ok(site.hpt("jobs", "describe", "alpha_2", "--format",
                                   "json(jobId, labels, trainingOutput.completedTrialCount)")))
    assert keyed == {"jobId": "alpha_2", "labels": {"team": "vision"},
                     "trainingOutput": {"completedTrialCount": "3"}}
    assert yaml.safe_load(ok(site.hpt("jobs", "describe", "alpha_2", "--format", "yaml(state)"))) \
        == {"state": "SUCCEEDED"}
    assert ok(site.hpt("jobs", "describe", "alpha_2", "--format", "none")) == ""
    whole = json.loads(ok(site.hpt("jobs", "describe", "alpha_2", "--format", "json")))
    assert whole["jobId"] == "alpha_2" and len(whole["trainingOutput"]["trials"]) == 3


@pytest.mark.parametrize("bad,why", [
    ("xml", "is not a format hpt prints"),
    ("table(createTime.date())", "transforms are not supported"),
    ("table(jobId:sort=1)", "key attribute 'sort' of jobId is not supported"),
    ("table[box](jobId)", "format attribute 'box' is not supported"),
    ("value(jobId", "expected ',' or ')'"),
    ("table(a..b)", "expected a field name"),
    ("none(jobId)", "none takes no keys"),
])
def test_bad_formats_are_usage_errors(site, bad, why):
    r = site.hpt("jobs", "describe", "alpha_2", "--format", bad)
    assert r.returncode == 2 and why in r.stderr and r.stdout == "", r.stderr
    assert r.stderr.startswith("hpt jobs describe: --format: ")


def test_every_listing_command_takes_format(site):
    assert ok(site.hpt("nodes", "list", "--format", "value(name, cpus)")) == "a1\t2\n"
    assert json.loads(ok(site.hpt("nodes", "describe", "a1", "--format", "json(name)"))) == \
        {"name": "a1"}
    assert ok(site.hpt("auth", "whoami", "--format", "value(role)")) == "admin\n"
    assert ok(site.hpt("auth", "whoami")) == "name: loopback\nrole: admin\n"
    assert ok(site.hpt("users", "list", "--format", "json")) == "[]\n"
    audit = ok(site.hpt("audit", "list", "--format", "csv(method, status)"))
    assert audit.splitlines()[0] == "method,status" and "POST,200" in audit.splitlines()
    listed = yaml.safe_load_all(ok(site.hpt("jobs", "list", "--format", "yaml(jobId)")))
    assert [d["jobId"] for d in listed] == ["alpha_1", "alpha_2", "beta_1"]
    # A list's table, value or csv without keys prints the usual columns.
    assert ok(site.hpt("jobs", "list", "--format", "csv")).splitlines()[0] == \
        "JOB_ID,STATUS,CREATED"
    assert ok(site.hpt("jobs", "list", "--format", "none")) == ""


# ---------------------------------------------------------------- jobs list

def test_list_repeated_filters_are_anded(site):
    out = ok(site.hpt("jobs", "list", "--filter", "jobId=alpha*", "--filter", "state=SUCCEEDED",
                      "--format", "value(jobId)"))
    assert out == "alpha_1\nalpha_2\n"
    out = ok(site.hpt("jobs", "list", "--filter", "jobId=*_1", "--filter", "state=FAILED",
                      "--format", "value(jobId)"))
    assert out == "beta_1\n"
    # Neither filter alone: the first gives alpha_*, the last beta_1.
    r = site.hpt("jobs", "list", "--filter", "jobId=alpha*", "--filter", "state=FAILED")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "Listed 0 items.\n"


def test_list_sort_limit_and_uri(site):
    out = ok(site.hpt("jobs", "list", "--sort-by", "~jobId", "--format", "value(jobId)"))
    assert out == "beta_1\nalpha_2\nalpha_1\n"
    # Sorted before limited, as gcloud does: the last in submission order.
    out = ok(site.hpt("jobs", "list", "--sort-by", "~jobId", "--limit", "1", "--page-size", "1",
                      "--format", "value(jobId)"))
    assert out == "beta_1\n"
    out = ok(site.hpt("jobs", "list", "--sort-by", "state,~jobId", "--format", "value(jobId)"))
    assert out == "beta_1\nalpha_2\nalpha_1\n"
    assert ok(site.hpt("jobs", "list", "--uri", "--limit", "2")) == \
        f"{site.url}{JOBS}/alpha_1\n{site.url}{JOBS}/alpha_2\n"
    r = site.hpt("jobs", "list", "--sort-by", "~")
    assert r.returncode == 2 and "--sort-by" in r.stderr


# ---------------------------------------------------------------- jobs update

def test_update_labels_round_trip(site):
    out = ok(site.hpt("jobs", "update", "alpha_1", "--update-labels", "owner=ann,stage=dev"))
    assert yaml.safe_load(out)["labels"] == {"owner": "ann", "stage": "dev"}
    etag = yaml.safe_load(out)["etag"]
    out = ok(site.hpt("jobs", "update", "alpha_1", "--remove-labels", "stage",
                      "--update-labels", "stage=prod", "--format", "json(labels)"))
    assert json.loads(out) == {"labels": {"owner": "ann", "stage": "prod"}}
    assert site.job("alpha_1")["labels"] == {"owner": "ann", "stage": "prod"}
    assert site.job("alpha_1")["etag"] != etag
    ok(site.hpt("jobs", "update", "alpha_1", "--clear-labels", "--update-labels", "kept=1"))
    assert site.job("alpha_1")["labels"] == {"kept": "1"}
    ok(site.hpt("jobs", "update", "alpha_1", "--clear-labels"))
    assert site.job("alpha_1").get("labels", {}) == {}
    patches = [line for line in ok(site.hpt("audit", "list", "--format", "value(method, route)"))
               .splitlines() if line.startswith("PATCH")]
    assert len(patches) == 4


def test_update_refuses_bad_labels_before_sending(site):
    before = site.job("alpha_2")["etag"]
    r = site.hpt("jobs", "update", "alpha_2", "--update-labels", "novalue")
    assert r.returncode == 2 and "KEY=VALUE" in r.stderr
    r = site.hpt("jobs", "update", "alpha_2", "--update-labels", "Bad Key=x")
    assert r.returncode == 2 and "labels" in r.stderr, r.stderr
    r = site.hpt("jobs", "update", "alpha_2")
    assert r.returncode == 2 and "usage" in r.stderr
    assert site.job("alpha_2")["etag"] == before
    r = site.hpt("jobs", "update", "nope_9", "--clear-labels")
    assert r.returncode == 1 and "NOT_FOUND" in r.stderr


# ---------------------------------------------------------------- submit flags

def hp_only(tmp_path, **hp):
    """A config with hyperparameters and no trainer."""
    config = tmp_path / "hp.yaml"
    config.write_text(yaml.safe_dump({"trainingInput": {"hyperparameters": {
        "goal": "MAXIMIZE", "hyperparameterMetricTag": "score", "maxTrials": 2,
        "maxParallelTrials": 1,
        "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": -1, "maxValue": 1}],
        **hp}}}))
    return config


def test_submit_flags_override_the_config(site, tmp_path):
    config = tmp_path / "job.yaml"
    config.write_text(yaml.safe_dump({"labels": {"team": "file", "keep": "yes"},
                                      "trainingInput": {**synthetic_job(max_trials=1),
                                                        "jobDir": "/from/file"}}))
    r = site.hpt("jobs", "submit", "training", "flags_1", "--config", str(config),
                 "--job-dir", str(tmp_path / "out"), "--labels", "team=flag,extra=1",
                 "--master-machine-type", "standard", "--worker-machine-type", "standard",
                 "--worker-count", "1", "--region", "us-central1", "--runtime-version", "2.11",
                 "--python-version", "3.7", "--staging-bucket", "gs://b", "--async",
                 "--format", "value(jobId)", "--", "--steps=2")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "flags_1\n"
    assert r.stderr.count("NOTE: --region, --runtime-version, --python-version recorded") == 1
    assert r.stderr.count("NOTE: --staging-bucket is not used by hpt") == 1
    job = site.job("flags_1")
    given = job["trainingInput"]
    assert job["labels"] == {"extra": "1", "keep": "yes", "team": "flag"}
    assert given["jobDir"] == str(tmp_path / "out")
    assert given["scaleTier"] == "CUSTOM"
    assert (given["masterType"], given["workerType"], given["workerCount"]) == \
        ("standard", "standard", "1")
    assert (given["region"], given["runtimeVersion"], given["pythonVersion"]) == \
        ("us-central1", "2.11", "3.7")
    assert given["args"][-1] == "--steps=2"
    assert site.wait_job("flags_1")["state"] == "SUCCEEDED"


@pytest.mark.parametrize("flags,why", [
    (["--worker-count", "x"], "--worker-count must be a number"),
    (["--master-accelerator", "count=2"], "type=TYPE[,count=N]"),
    (["--labels", "oops"], "--labels takes KEY=VALUE"),
    (["--scale-tier", "enormous"], "with the flags"),
    (["--async", "--stream-logs"], "exclude each other"),
    (["--package-path", "/nonexistent/pkg", "--module-name", "m"], "not a directory"),
    (["--packages", "/nonexistent.tar.gz", "--module-name", "m"], "no such file"),
])
def test_bad_flags_never_reach_the_master(site, tmp_path, flags, why):
    config = tmp_path / "job.yaml"
    config.write_text(yaml.safe_dump({"trainingInput": synthetic_job(max_trials=1)}))
    r = site.hpt("jobs", "submit", "training", "bad_flags", "--config", str(config), *flags)
    assert r.returncode == 2 and why in r.stderr, r.stderr
    r = site.hpt("jobs", "describe", "bad_flags")
    assert r.returncode == 1 and "NOT_FOUND" in r.stderr


def test_submit_needs_a_config_or_a_trainer(site):
    r = site.hpt("jobs", "submit", "training", "nothing_1")
    assert r.returncode == 2 and "--config FILE is required" in r.stderr


def test_package_path_ships_an_sdist_that_runs(site, tmp_path):
    package = tmp_path / "src" / "mytrainer"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(f"import runpy\nrunpy.run_path({str(SYNTHETIC)!r}, "
                                     "run_name='__main__')\n")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "junk.pyc").write_text("x")
    config = hp_only(tmp_path)
    staging = tmp_path / "staging"
    r = site.hpt("jobs", "submit", "training", "pkg_1", "--config", str(config),
                 "--module-name", "mytrainer.task", "--package-path", str(package),
                 "--stream-logs", env={"HPT_STAGING_DIR": staging})
    assert r.returncode == 0, r.stdout + r.stderr
    archive = staging / "pkg_1" / "mytrainer-0.0.0.tar.gz"
    job = site.job("pkg_1")
    assert job["trainingInput"]["pythonModule"] == "mytrainer.task"
    assert job["trainingInput"]["packageUris"] == [f"file://{archive}"]
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"mytrainer-0.0.0/mytrainer/task.py", "mytrainer-0.0.0/mytrainer/__init__.py",
            "mytrainer-0.0.0/setup.py", "mytrainer-0.0.0/PKG-INFO"} <= names
    assert not any("__pycache__" in name for name in names)
    assert job["state"] == "SUCCEEDED" and job["trainingOutput"]["completedTrialCount"] == "2"
    assert "synthetic: params" in r.stdout


# ---------------------------------------------------------------- narration

def test_stream_logs_narrates_a_job(site, tmp_path):
    trainer = tmp_path / "flaky.py"
    trainer.write_text(FLAKY)
    spec = {"command": [PYTHON, str(trainer)],
            "hyperparameters": {"goal": "MAXIMIZE", "hyperparameterMetricTag": "score",
                                "maxTrials": 4, "maxParallelTrials": 1, "maxFailedTrials": 4,
                                "algorithm": "GRID_SEARCH",
                                "params": [{"parameterName": "x", "type": "DISCRETE",
                                            "discreteValues": [-0.5, -0.25, 0.5, 0.75]}]}}
    config = tmp_path / "job.json"
    config.write_text(json.dumps({"trainingInput": spec}))
    r = site.hpt("jobs", "submit", "training", "narrated_1", "--config", str(config),
                 "--stream-logs")
    out = unstamped(r.stdout)
    assert r.returncode == 0, out + r.stderr
    for trial, x in ((1, "-0.5"), (2, "-0.25"), (3, "0.5"), (4, "0.75")):
        started = out.index(f"[hpt] trial {trial} started on a1: x={x}\n")
        ended = out.index(f"[hpt] trial {trial} ")
        assert started == ended
    assert "[hpt] trial 1 SUCCEEDED: objective -0.5 at step 1\n" in out
    failed = out.index("[hpt] trial 3 FAILED: ")
    assert out.index("[trial 3 master-0] flaky: giving up") < failed
    tail = out[failed:].split("\n[hpt]")[0]
    assert "exited with status 3" in tail and "last lines of its stderr:" in tail
    assert "        flaky: x=0.5 is too big\n        flaky: giving up\n" \
        "      its whole log: hpt jobs stream-logs narrated_1 --trial 3" in tail
    # The best trial is a SUCCEEDED one, though failed ones reported more.
    assert out.rstrip().splitlines()[-3] == \
        "[hpt] job SUCCEEDED; best trial 2: objective -0.25 at step 1 (x=-0.25)"
    assert out.endswith("jobId: narrated_1\nstate: SUCCEEDED\n")
    # The master's own lines about trial ends are replaced by the narration.
    assert "[hpt] trial 1 SUCCEEDED\n" not in out

    summary = ok(site.hpt("jobs", "describe", "narrated_1", "--summarize"))
    assert "Best trial: 2 (objective -0.25 at step 1)\n" in summary
    summarized = json.loads(ok(site.hpt("jobs", "describe", "narrated_1", "--summarize",
                                        "--format", "json")))
    assert summarized["bestTrial"]["trialId"] == "2"
    assert [t["state"] for t in summarized["trials"]].count("FAILED") == 2

    again = site.hpt("jobs", "stream-logs", "narrated_1", "--task-name", "master-replica-0",
                     "--trial", "3")
    assert again.returncode == 0, again.stderr
    assert "[trial 3 master-0] flaky: giving up" in again.stdout
    assert "[trial 1 " not in again.stdout and "trial 1 started" not in again.stdout
    none = site.hpt("jobs", "stream-logs", "narrated_1", "--task-name", "worker-replica-0")
    assert "[trial " not in none.stdout and "[hpt] trial 3 FAILED" in none.stdout


def test_stream_logs_tells_a_trial_stopped_early(site, tmp_path):
    """The median rule stops the bad last trial of a grid: the narration
    says so, with the rule's reason, before that trial's end."""
    params = [{"parameterName": "x", "type": "DISCRETE",
               "discreteValues": [0.45, 0.5, 0.55, 5]}]
    spec = synthetic_job(max_trials=4, parallel=1, params=params,
                         extra_args=["--steps=20", "--sleep=0.02"], goal="MAXIMIZE",
                         hyperparameterMetricTag="objective", algorithm="GRID_SEARCH",
                         enableTrialEarlyStopping=True)
    config = tmp_path / "job.json"
    config.write_text(json.dumps({"trainingInput": spec}))
    r = site.hpt("jobs", "submit", "training", "early_1", "--config", str(config), "--stream-logs")
    assert r.returncode == 0, r.stdout + r.stderr
    out = unstamped(r.stdout)
    stopped = re.search(r"^\[hpt\] trial 4 stopped early: (.*median.*)$", out, re.M)
    assert stopped, r.stdout
    assert out.index(stopped.group(0)) < out.index("[hpt] trial 4 SUCCEEDED: objective")
    assert r.stdout.count("stopped early") == 1
    assert "[hpt] trial 1 stopped early" not in r.stdout


def test_stream_logs_tells_why_a_job_waits(site, tmp_path):
    """A job that cannot run yet is narrated as QUEUED with the master's
    reason, then runs once the agent is free."""
    site.submit("blocker_1", synthetic_job(max_trials=2, parallel=2,
                                           extra_args=["--fail-mode=hang"]))
    deadline = time.time() + 30
    while time.time() < deadline and [t.get("hptState") for t in site.job("blocker_1")
                                      .get("trainingOutput", {}).get("trials", [])] != \
            ["RUNNING", "RUNNING"]:
        time.sleep(0.1)
    config = tmp_path / "job.json"
    config.write_text(json.dumps({"trainingInput": synthetic_job(max_trials=1, parallel=1)}))
    proc = subprocess.Popen([str(BIN / "hpt"), "jobs", "submit", "training", "waiter_1",
                             "--config", str(config), "--stream-logs"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**{k: v for k, v in os.environ.items()
                                    if not k.startswith("HPT_")},
                                 "HPT_MASTER": site.url, "HPT_CONFIG": os.devnull})
    try:
        reason = None
        deadline = time.time() + 30
        while time.time() < deadline and not reason:
            try:
                reason = site.job("waiter_1").get("hptQueueReason")
            except Exception:  # not submitted yet
                pass
            time.sleep(0.1)
        time.sleep(1.5)  # the narration reads the Job every second
    finally:
        site.request("POST", f"{JOBS}/blocker_1:cancel")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert reason, "the waiting job had no queue reason"
    assert reason.endswith("held by job blocker_1"), reason
    assert f"[hpt] job QUEUED: {reason}\n" in out
    assert out.index("[hpt] job QUEUED") < out.index("[hpt] trial 1 started on a1: x=")


def test_stream_logs_polling_interval_is_checked(site):
    for bad in ("0", "-1", "x", "7200"):
        r = site.hpt("jobs", "stream-logs", "alpha_1", "--polling-interval", bad)
        assert r.returncode == 2 and "--polling-interval must be seconds" in r.stderr
    r = site.hpt("jobs", "stream-logs", "alpha_1", "--polling-interval", "0.05")
    assert r.returncode == 0 and "[hpt] job SUCCEEDED" in r.stdout


def test_stream_logs_gives_up_on_a_master_never_reached(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    started = time.time()
    r = subprocess.run([str(BIN / "hpt"), "--master", dead, "jobs", "stream-logs", "x"],
                       capture_output=True, text=True, timeout=60,
                       env={"HPT_CONFIG": os.devnull, "PATH": os.environ.get("PATH", "")})
    took = time.time() - started
    assert r.returncode == 1
    assert 9 <= took < 30, took
    assert r.stderr.count("WARNING: cannot reach the hpt master") == 1
    assert "gave up after 10 s: the master never answered" in r.stderr
    for hint in ("--master", "HPT_MASTER", "master.api", dead):
        assert hint in r.stderr, r.stderr
