"""metricCollector (hpt extension): metrics read from the trainer's stdout."""
import time

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


def test_refused_patterns_name_the_field_and_the_construct(cluster):
    """The regex of the bug report: a nested quantifier and a
    back-reference, both of which a POSIX matcher can take exponential time
    on. Refused at submission (and by hpt validate, which uses the same
    reader), naming the field and each construct."""
    from hpt_harness import ApiError
    collector = {"stdoutRegex": r"(?<value>([0-9]+)+)\2="}
    with pytest.raises(ApiError) as refused:
        cluster.submit("slow", job("true", collector))
    assert refused.value.status == 400, refused.value.body
    violations = refused.value.body["error"]["details"][0]["fieldViolations"]
    assert [(v["field"], v["hptPointer"]) for v in violations] == \
        [("training_input.metric_collector.stdout_regex",
          "/trainingInput/metricCollector/stdoutRegex")]
    text = violations[0]["description"]
    assert "nested quantifier '([0-9]+)+' at offset 9" in text, text
    assert "back-reference '\\2' at offset 19" in text, text


def test_slow_matching_does_not_stall_the_agent(cluster):
    """A trainer printing 4 KiB lines of digits for 6 s against a pattern
    that is allowed but costs glibc tens of ms per such line (it tries every
    start position): unbudgeted, the 64 lines the launcher reads per call
    would hold the agent's loop for seconds, past the 2 s agentTimeout. The
    agent matches within a time budget instead, so it keeps heartbeating
    (never LOST), says it skipped lines, and still reads the report that
    comes after a pause."""
    script = ('/usr/bin/python3 -c "\n'
              "import sys, time\n"
              "line = '1' * 4096 + chr(10)\n"
              "end = time.time() + 6\n"
              "while time.time() < end:\n"
              "    sys.stdout.write(line * 16); sys.stdout.flush()\n"
              "time.sleep(1)\n"
              "print('0.25x', flush=True)\n"
              '"')
    spec = job(script, {"stdoutRegex": "(?<value>[0-9.]+)x"})
    spec["hyperparameters"].update(maxTrials=1, maxParallelTrials=1)
    cluster.submit("budget", spec)
    states = set()
    while True:
        states.add(cluster.node("a1")["state"])
        done = cluster.job("budget")
        if done["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.1)
    assert states == {"READY"}, states
    assert done["state"] == "SUCCEEDED", done
    assert done["trainingOutput"]["trials"][0]["finalMetric"]["objectiveValue"] == 0.25, done
    log = (cluster.tmp / "agent-a1.log").read_text()
    assert "lines not matched for metrics" in log, log[-2000:]
