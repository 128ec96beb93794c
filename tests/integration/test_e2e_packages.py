"""pythonModule + packageUris: the agent fetches the package (file:// here;
http(s) the same way), unpacks it onto PYTHONPATH and runs python3 -m."""
import os
import subprocess
import tarfile

import pytest

from hpt_harness import Cluster

TASK = '''
import json, os, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
x = float(args["x"])
with open(os.environ["CLOUD_ML_HP_METRIC_FILE"], "w") as f:
    f.write(json.dumps({"timestamp": time.time(), os.environ["CLOUD_ML_HP_METRIC_TAG"]: str(-(x - 1) ** 2),
                        "global_step": "1", "trial": os.environ["CLOUD_ML_TRIAL_ID"]}) + "\\n")
print("packaged trainer ran with", sys.argv[1:])
'''


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    c.start_master()
    c.start_agent("a1", cpus=2)
    yield c
    c.stop()


def make_package(tmp_path):
    src = tmp_path / "pkg" / "trainer-0.1" / "trainer"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "task.py").write_text(TASK)
    archive = tmp_path / "trainer-0.1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "pkg" / "trainer-0.1", arcname="trainer-0.1")
    return archive


def test_python_module_from_a_package(cluster, tmp_path):
    archive = make_package(tmp_path)
    spec = {
        "pythonModule": "trainer.task",
        "packageUris": [f"file://{archive}"],
        "hyperparameters": {
            "goal": "MAXIMIZE", "hyperparameterMetricTag": "score", "maxTrials": 3,
            "maxParallelTrials": 1,
            "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0, "maxValue": 2}],
        },
    }
    cluster.submit("pkg", spec)
    job = cluster.wait_job("pkg", timeout=60)
    assert job["state"] == "SUCCEEDED", job
    for trial in job["trainingOutput"]["trials"]:
        x = float(trial["hyperparameters"]["x"])
        assert trial["finalMetric"]["objectiveValue"] == pytest.approx(-(x - 1) ** 2)
    logs = cluster.hpt("jobs", "stream-logs", "pkg")
    assert "packaged trainer ran with" in logs.stdout


def test_a_missing_package_fails_the_trial_with_the_url(cluster, tmp_path):
    spec = {
        "pythonModule": "trainer.task",
        "packageUris": [f"file://{tmp_path}/nope.tar.gz"],
        "hyperparameters": {
            "maxTrials": 1, "hyperparameterMetricTag": "score",
            "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0, "maxValue": 2}],
        },
    }
    cluster.submit("nopkg", spec)
    job = cluster.wait_job("nopkg", timeout=60)
    assert job["state"] == "FAILED"
    (trial,) = job["trainingOutput"]["trials"]
    assert "nope.tar.gz" in trial["errorMessage"], trial
