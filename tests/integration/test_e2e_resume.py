"""resumePreviousJobId: inheritance, conflicts, and a head start from the
previous job's trials."""
import statistics

import pytest

from hpt_harness import ApiError, Cluster, synthetic_job

PARAMS = [
    {"parameterName": "x", "type": "DOUBLE", "minValue": -5, "maxValue": 5},
    {"parameterName": "y", "type": "DOUBLE", "minValue": -5, "maxValue": 5},
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("resume"))
    c.start_master()
    c.start_agent("a1", cpus=4)
    yield c
    c.stop()


def resumed_spec(previous, **hp):
    spec = synthetic_job(max_trials=5, parallel=1)
    spec["hyperparameters"] = {"resumePreviousJobId": previous, "maxTrials": 5, **hp}
    return spec


def best(job):
    return job["trainingOutput"]["trials"][0]["finalMetric"]["objectiveValue"]


def test_resumed_jobs_start_ahead_of_fresh_ones(cluster):
    """Over several seeds (job ids seed the optimizer), the best of a
    resumed job's first 5 trials beats the best of a fresh job's first 5."""
    resumed, fresh = [], []
    for seed in range(3):
        first = f"first_{seed}"
        cluster.submit(first, synthetic_job(max_trials=20, parallel=4, params=PARAMS,
                                            goal="MAXIMIZE", hyperparameterMetricTag="objective"))
        assert cluster.wait_job(first, timeout=120)["state"] == "SUCCEEDED"
        cluster.submit(f"again_{seed}", resumed_spec(first))
        job = cluster.wait_job(f"again_{seed}", timeout=60)
        assert job["state"] == "SUCCEEDED", job
        trials = job["trainingOutput"]["trials"]
        # Its own trials, numbered from 1.
        assert sorted(int(t["trialId"]) for t in trials) == [1, 2, 3, 4, 5]
        # Inherited goal, tag and params are part of its spec.
        hp = job["trainingInput"]["hyperparameters"]
        assert hp["goal"] == "MAXIMIZE" and hp["hyperparameterMetricTag"] == "objective"
        assert [p["parameterName"] for p in hp["params"]] == ["x", "y"]
        resumed.append(best(job))
        cluster.submit(f"fresh_{seed}", synthetic_job(max_trials=5, parallel=1, params=PARAMS,
                                                      goal="MAXIMIZE",
                                                      hyperparameterMetricTag="objective"))
        job = cluster.wait_job(f"fresh_{seed}", timeout=60)
        fresh.append(best(job))
    print("resumed best:", resumed, "fresh best:", fresh)
    assert statistics.median(resumed) > statistics.median(fresh)
    assert sum(r > f for r, f in zip(resumed, fresh)) >= 2


def test_resume_errors(cluster):
    cluster.submit("base", synthetic_job(max_trials=2, parallel=2, params=PARAMS, goal="MAXIMIZE",
                                         hyperparameterMetricTag="objective"))
    assert cluster.wait_job("base", timeout=60)["state"] == "SUCCEEDED"
    with pytest.raises(ApiError) as missing:
        cluster.submit("r1", resumed_spec("no_such_job"))
    assert missing.value.status == 400
    assert "resumePreviousJobId: job no_such_job not found" in missing.value.body["error"]["message"]
    with pytest.raises(ApiError) as conflict:
        cluster.submit("r2", resumed_spec("base", goal="MINIMIZE"))
    assert conflict.value.status == 400
    assert "hyperparameters.goal: MINIMIZE conflicts" in conflict.value.body["error"]["message"]
    with pytest.raises(ApiError) as tag:
        cluster.submit("r3", resumed_spec("base", hyperparameterMetricTag="loss"))
    assert "hyperparameterMetricTag" in tag.value.body["error"]["message"]
    # A job still running cannot be resumed.
    cluster.submit("slow", synthetic_job(max_trials=1, parallel=1, params=PARAMS,
                                         extra_args=["--fail-mode=hang"]))
    with pytest.raises(ApiError) as running:
        cluster.submit("r4", resumed_spec("slow"))
    assert "only a finished job can be resumed" in running.value.body["error"]["message"]
    cluster.request("POST", "/v1/projects/default/jobs/slow:cancel", b"")
