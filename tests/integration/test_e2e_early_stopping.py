"""enableTrialEarlyStopping, end to end: the median rule (default) and ASHA
(hpt extension earlyStopping) stop a clearly bad trial and leave good ones."""
import signal

import pytest

from hpt_harness import Cluster, synthetic_job

# Grid order is stable: three good trials (target 0.5) first, then a bad one.
PARAMS = [{"parameterName": "x", "type": "DISCRETE", "discreteValues": [0.45, 0.5, 0.55, 5]}]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("stopping"))
    c.start_master()
    c.start_agent("a1", cpus=2)
    yield c
    c.stop()


def run(cluster, job_id, early=None):
    spec = synthetic_job(max_trials=4, parallel=1, params=PARAMS,
                         extra_args=["--steps=20", "--sleep=0.02"],
                         goal="MAXIMIZE", hyperparameterMetricTag="objective",
                         algorithm="GRID_SEARCH", enableTrialEarlyStopping=True)
    if early:
        spec["hyperparameters"]["earlyStopping"] = early
    cluster.submit(job_id, spec)
    job = cluster.wait_job(job_id, timeout=120)
    assert job["state"] == "SUCCEEDED", job
    return {t["hyperparameters"]["x"]: t for t in job["trainingOutput"]["trials"]}


def test_median_rule_stops_the_bad_trial_only(cluster):
    trials = run(cluster, "median")
    for x in ("0.45", "0.5", "0.55"):
        assert trials[x]["isTrialStoppedEarly"] is False, trials[x]
        assert trials[x]["finalMetric"]["trainingStep"] == "20"
    bad = trials["5"]
    assert bad["state"] == "SUCCEEDED" and bad["isTrialStoppedEarly"] is True, bad
    assert "median" in bad["errorMessage"]
    # Its finalMetric is its last report, before the full 20 steps.
    steps = [int(m["trainingStep"]) for m in bad["allMetrics"]]
    assert bad["finalMetric"]["trainingStep"] == str(steps[-1])
    assert 1 <= steps[-1] < 20
    # The optimizer learned a projection of its final value, not the last
    # report: at least that report (the curves rise), at most the median
    # final of the completed trials.
    learned = bad["hptEstimatedObjectiveValue"]
    finals = sorted(trials[x]["finalMetric"]["objectiveValue"] for x in ("0.45", "0.5", "0.55"))
    assert bad["finalMetric"]["objectiveValue"] <= learned <= finals[1], (learned, finals)
    for x in ("0.45", "0.5", "0.55"):
        assert "hptEstimatedObjectiveValue" not in trials[x]
    # It is stored: a master killed and restarted reports the same value.
    cluster.kill(cluster.master, signal.SIGKILL)
    cluster.start_master()
    again = {t["hyperparameters"]["x"]: t for t in
             cluster.job("median")["trainingOutput"]["trials"]}
    assert again["5"]["hptEstimatedObjectiveValue"] == learned


def test_asha_stops_the_bad_trial(cluster):
    trials = run(cluster, "asha", {"rule": "asha", "reductionFactor": 3, "minResource": 2})
    assert trials["0.5"]["isTrialStoppedEarly"] is False
    assert trials["5"]["isTrialStoppedEarly"] is True
    assert "asha" in trials["5"]["errorMessage"].lower()
    assert int(trials["5"]["finalMetric"]["trainingStep"]) < 20


def test_without_the_flag_nothing_stops(cluster):
    spec = synthetic_job(max_trials=4, parallel=1, params=PARAMS, extra_args=["--steps=5"],
                         goal="MAXIMIZE", hyperparameterMetricTag="objective",
                         algorithm="GRID_SEARCH")
    cluster.submit("nostop", spec)
    job = cluster.wait_job("nostop", timeout=120)
    assert not any(t["isTrialStoppedEarly"] for t in job["trainingOutput"]["trials"])
