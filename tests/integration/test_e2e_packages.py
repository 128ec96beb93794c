"""pythonModule + packageUris: the agent fetches the package (file:// here;
http(s) the same way), unpacks it onto PYTHONPATH and runs python3 -m."""
import json
import os
import subprocess
import tarfile

import pytest

from hpt_harness import BIN, ApiError, Cluster

TASK = '''
import json, os, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
x = float(args["x"])
with open(os.environ["CLOUD_ML_HP_METRIC_FILE"], "w") as f:
    f.write(json.dumps({"timestamp": time.time(), os.environ["CLOUD_ML_HP_METRIC_TAG"]: str(-(x - 1) ** 2),
                        "global_step": "1", "trial": os.environ["CLOUD_ML_TRIAL_ID"]}) + "\\n")
print("packaged trainer ran with", sys.argv[1:])
print("byte code: prefix=%s dont_write=%d" % (sys.pycache_prefix, sys.flags.dont_write_bytecode))
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
    # No byte code goes into the verified cache, and none is looked for
    # under a prefix (which would compile every installed module again at
    # each start).
    assert "byte code: prefix=None dont_write=1" in logs.stdout, logs.stdout
    cache = tmp_path / "agent-a1" / "packages"
    assert not [p for p in cache.rglob("__pycache__")], list(cache.rglob("__pycache__"))


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


def test_config_names_its_package_relative_to_itself(cluster, tmp_path):
    """hpt extension: a packageUris entry of a config file that is a path
    is relative to the file. `hpt jobs submit --config` from another
    directory builds the package directory into a source distribution and
    ships it as file://; an archive goes as file:// of its absolute path.
    The master refuses a path that reaches it unresolved, naming it."""
    project = tmp_path / "project"
    (project / "trainer").mkdir(parents=True)
    (project / "trainer" / "__init__.py").write_text("")
    (project / "trainer" / "task.py").write_text(TASK)
    config = project / "job.yaml"
    config.write_text("trainingInput:\n"
                      "  pythonModule: trainer.task\n"
                      "  packageUris: [trainer]\n"
                      "  hyperparameters:\n"
                      "    goal: MAXIMIZE\n"
                      "    hyperparameterMetricTag: score\n"
                      "    maxTrials: 1\n"
                      "    params:\n"
                      "      - {parameterName: x, type: DOUBLE, minValue: 0, maxValue: 2}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"HPT_STAGING_DIR": str(tmp_path / "staging")}
    result = subprocess.run([str(BIN / "hpt"), "--master", cluster.url, "jobs", "submit",
                             "training", "rel", "--config", str(config)],
                            cwd=elsewhere, env=dict(os.environ, **env), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    built = tmp_path / "staging" / "rel" / "trainer-0.0.0.tar.gz"
    assert f"Built the trainer package {built}" in result.stderr
    job = cluster.wait_job("rel", timeout=60)
    assert job["state"] == "SUCCEEDED", job
    assert job["trainingInput"]["packageUris"] == [f"file://{built}"]

    archive = make_package(tmp_path)
    config.write_text(config.read_text().replace("[trainer]", f"[../{archive.name}]"))
    result = subprocess.run([str(BIN / "hpt"), "--master", cluster.url, "jobs", "submit",
                             "training", "rel2", "--config", str(config)],
                            cwd=elsewhere, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert cluster.job("rel2")["trainingInput"]["packageUris"] == [f"file://{archive}"]

    config.write_text(config.read_text().replace(f"../{archive.name}", "missing"))
    result = subprocess.run([str(BIN / "hpt"), "--master", cluster.url, "jobs", "submit",
                             "training", "rel3", "--config", str(config)],
                            cwd=elsewhere, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "trainingInput.packageUris[0]: 'missing': no such file or directory" in result.stderr

    with pytest.raises(ApiError) as refused:
        cluster.submit("raw", {"pythonModule": "trainer.task", "packageUris": ["trainer"]})
    assert refused.value.status == 400
    assert "'trainer' is a local path" in json.dumps(refused.value.body)
