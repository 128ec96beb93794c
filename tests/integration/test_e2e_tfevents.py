"""TensorFlow event files as a metric source, end to end: a trainer that
writes only events.out.tfevents.* under --job-dir/<trial>; and when it
also writes the hypertune file, the hypertune file wins."""
import os
import pathlib
import sys

import pytest

from hpt_harness import SRC, Cluster

FIXTURES = SRC / "tests" / "data" / "tfevents"

TRAINER = r'''
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import make_fixtures as mf
args = dict(a[2:].split("=", 1) for a in sys.argv[2:] if a.startswith("--") and "=" in a)
x = float(args["x"])
trial = os.environ["CLOUD_ML_TRIAL_ID"]
path = os.path.join(args["job-dir"], trial, "events.out.tfevents.1.host")
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "wb") as f:
    f.write(mf.frame(mf.version_event()))
    for step in range(1, 6):
        f.write(mf.frame(mf.scalar("val/accuracy", step, x * step)))
        f.flush()
        time.sleep(0.05)
if args.get("also-hypertune") == "1":
    with open(os.environ["CLOUD_ML_HP_METRIC_FILE"], "w") as h:
        h.write(json.dumps({"timestamp": time.time(), "val/accuracy": "42", "global_step": "9"}) + "\n")
'''


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("tfevents"))
    c.start_master()
    c.start_agent("a1", cpus=2)
    yield c
    c.stop()


def spec(tmp_path, extra=()):
    script = tmp_path / "trainer.py"
    script.write_text(TRAINER)
    return {
        "command": ["/usr/bin/python3", str(script), str(FIXTURES), *extra],
        "jobDir": str(tmp_path / "jobdir"),
        "hyperparameters": {
            "goal": "MAXIMIZE", "hyperparameterMetricTag": "val/accuracy", "maxTrials": 2,
            "maxParallelTrials": 2,
            "params": [{"parameterName": "x", "type": "DISCRETE", "discreteValues": [0.25, 0.5]}],
            "algorithm": "GRID_SEARCH",
        },
    }


def test_event_files_give_the_metric(cluster, tmp_path):
    cluster.submit("events", spec(tmp_path))
    job = cluster.wait_job("events", timeout=60)
    assert job["state"] == "SUCCEEDED", job
    for trial in job["trainingOutput"]["trials"]:
        x = float(trial["hyperparameters"]["x"])
        assert trial["finalMetric"] == {"trainingStep": "5", "objectiveValue": pytest.approx(5 * x)}
        assert [m["trainingStep"] for m in trial["allMetrics"]] == ["1", "2", "3", "4", "5"]
    # Best first: x = 0.5 reaches 2.5.
    assert job["trainingOutput"]["trials"][0]["hyperparameters"]["x"] == "0.5"


def test_the_hypertune_file_wins_over_event_files(cluster, tmp_path):
    cluster.submit("both", spec(tmp_path, ["--also-hypertune=1"]))
    job = cluster.wait_job("both", timeout=60)
    assert job["state"] == "SUCCEEDED", job
    for trial in job["trainingOutput"]["trials"]:
        assert trial["finalMetric"] == {"trainingStep": "9", "objectiveValue": 42}
