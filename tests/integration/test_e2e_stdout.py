"""metricCollector (hpt extension): metrics read from the trainer's stdout."""
import pytest

from hpt_harness import Cluster

PARAMS = [{"parameterName": "x", "type": "INTEGER", "minValue": 1, "maxValue": 3}]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("stdout"))
    c.start_master()
    c.start_agent("a1", cpus=2)
    yield c
    c.stop()


def job(script, collector, tag="loss"):
    return {
        "command": ["/bin/sh", "-c", script, "trainer"],
        "metricCollector": collector,
        "hyperparameters": {"goal": "MINIMIZE", "hyperparameterMetricTag": tag, "maxTrials": 2,
                            "maxParallelTrials": 2, "params": PARAMS},
    }


def test_default_pattern(cluster):
    script = 'echo "starting"; echo "epoch 1 loss=0.5 accuracy=0.7 step=3"; echo "loss: 0.25 step: 7"'
    cluster.submit("plain", job(script, {"stdout": True}))
    done = cluster.wait_job("plain", timeout=60)
    assert done["state"] == "SUCCEEDED", done
    for trial in done["trainingOutput"]["trials"]:
        assert trial["finalMetric"] == {"trainingStep": "7", "objectiveValue": 0.25}
        assert [m["trainingStep"] for m in trial["allMetrics"]] == ["3", "7"]


def test_custom_regex_with_named_groups(cluster):
    script = 'for s in 10 20 30; do echo "[it $s] val-err is 0.$s"; done'
    collector = {"stdoutRegex": r"\[it (?<step>[0-9]+)\] (?<tag>[a-z-]+) is (?<value>[0-9.]+)"}
    cluster.submit("custom", job(script, collector, tag="val-err"))
    done = cluster.wait_job("custom", timeout=60)
    assert done["state"] == "SUCCEEDED", done
    for trial in done["trainingOutput"]["trials"]:
        assert trial["finalMetric"] == {"trainingStep": "30", "objectiveValue": 0.3}


def test_without_a_collector_stdout_is_only_logs(cluster):
    cluster.submit("off", job('echo "loss=0.5 step=3"', {"stdout": False}))
    done = cluster.wait_job("off", timeout=60)
    assert done["state"] == "FAILED", done
    # Either trial may fail first; the other can then be cancelled with the job.
    messages = [t.get("errorMessage", "") for t in done["trainingOutput"]["trials"]]
    assert any("without reporting the metric 'loss'" in m for m in messages), done


def test_an_evaluator_can_report_the_objective(cluster):
    """metricCollector.replica: evaluator (hpt extension): evaluator 0's
    reports are the objective; the master still decides when the trial ends."""
    script = ('if echo "$TF_CONFIG" | grep -q \'"type":"evaluator"\'; then echo "loss=0.125 step=4"; '
              'else sleep 1; echo "loss=0.5 step=9"; fi')
    spec = job(script, {"stdout": True, "replica": "evaluator"})
    spec.update(scaleTier="CUSTOM", masterType="standard", evaluatorType="standard",
                evaluatorCount=1)
    spec["hyperparameters"]["maxTrials"] = 1
    cluster.submit("evaluated", spec)
    done = cluster.wait_job("evaluated", timeout=60)
    assert done["state"] == "SUCCEEDED", done
    (trial,) = done["trainingOutput"]["trials"]
    assert trial["finalMetric"] == {"trainingStep": "4", "objectiveValue": 0.125}


def test_a_burst_of_metric_lines_arrives_whole(cluster):
    """A trainer printing tens of thousands of metric lines at once: the
    agent batches them and keeps at most a window of events in flight, so
    nothing overruns the socket (a dropped message would show as a seq gap
    at the master) and every point is stored."""
    lines = 30000
    script = (f"awk 'BEGIN {{ for (i = 1; i <= {lines}; i++) "
              f"printf \"loss=%.6f step=%d\\n\", 1 / i, i }}'")
    cluster.submit("burst", job(script, {"stdout": True}))
    done = cluster.wait_job("burst", timeout=120)
    assert done["state"] == "SUCCEEDED", done
    for trial in done["trainingOutput"]["trials"]:
        # allMetrics holds the last 1000 points; the metrics route has all.
        steps = [int(m["trainingStep"]) for m in trial["allMetrics"]]
        assert steps == list(range(lines - 999, lines + 1))
        assert trial["hptMetricsTruncated"] is True
        assert trial["finalMetric"]["trainingStep"] == str(lines)
        path = f"/v1/projects/default/jobs/burst/trials/{trial['trialId']}/metrics?tag=loss"
        points, token = [], ""
        while True:
            page = cluster.get(path + "&pageSize=10000" + (f"&pageToken={token}" if token else ""))
            points += page["metrics"]
            token = page.get("nextPageToken")
            if not token:
                break
        assert [int(m["trainingStep"]) for m in points] == list(range(1, lines + 1))
    metrics = cluster.get("/metrics")
    gaps = [line for line in metrics.splitlines() if 'kind="seq_gap"' in line]
    assert all(line.split()[-1] == "0" for line in gaps), gaps
