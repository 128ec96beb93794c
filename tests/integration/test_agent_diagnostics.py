"""An agent tells its operator what is wrong (docs/interfaces.md,
"hptagent"): it logs "waiting for the master at ENDPOINT (N s)" while it
is not registered, says when the endpoint is an HTTP port or nothing
listens there, refuses an http:// --master with what to give instead,
and warns when --cpus or --memory-gb exceed the host. Two agents that
advertise one host address never give two tasks the same host:port in
TF_CONFIG."""
import json
import os
import pathlib
import re
import subprocess
import time

import pytest

from hpt_harness import BIN, PYTHON, Cluster, free_port, wait_for

TOPOLOGY = pathlib.Path(__file__).parents[1] / "data" / "topologies" / "cpu-host-32.xml"


def agent(tmp_path, master, *extra, name="a1"):
    """An agent process pointed at master, its log in tmp_path."""
    log = open(tmp_path / f"{name}.log", "wb")
    proc = subprocess.Popen([str(BIN / "hptagent"), "--master", master, "--name", name,
                             "--workdir", str(tmp_path / f"work-{name}"), *extra],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    return proc, tmp_path / f"{name}.log"


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def log_has(path, *words):
    text = path.read_text()
    return text if all(w in text for w in words) else None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("diag"))
    cluster.start_master()
    yield cluster
    cluster.stop()


WAITING = re.compile(r"waiting for the master at (\S+) \((\d+) s\)([^\"\n]*)")


def waiting_lines(path):
    return [m.groups() for m in WAITING.finditer(path.read_text())]


def test_the_api_port_given_as_master_is_named(cluster, tmp_path):
    endpoint = f"tcp://127.0.0.1:{cluster.api_port}"
    proc, log = agent(tmp_path, endpoint)
    try:
        # The probe takes about a second; a loaded machine may need a later
        # waiting line before the verdict is part of one.
        wait_for(lambda: any(advice for _, _, advice in waiting_lines(log)), timeout=40,
                 what="a waiting line that says what is wrong")
    finally:
        stop(proc)
    text = log.read_text()
    lines = waiting_lines(log)
    assert all(where == endpoint for where, _, _ in lines), text
    seconds = [int(s) for _, s, _ in lines]
    assert seconds[0] >= 2 and seconds == sorted(set(seconds)) and len(seconds) >= 2, text
    assert f"{endpoint} is an HTTP port (the master's REST API, master.api?)" in text, text
    assert "master.agents" in text
    # The later waiting lines repeat what is wrong.
    assert lines[-1][2].startswith(f": {endpoint} is an HTTP port"), text
    assert cluster.node("a1") is None


def test_nothing_listening_is_said(tmp_path):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    proc, log = agent(tmp_path, endpoint)
    try:
        text = wait_for(lambda: log_has(log, "nothing listens at"), timeout=20,
                        what="the probe's verdict")
    finally:
        stop(proc)
    assert f"nothing listens at {endpoint}: is hptmaster running there" in text, text
    assert waiting_lines(log)[0][0] == endpoint, text


def test_waiting_stops_once_registered(tmp_path):
    """An agent started before its master waits, then registers, and then
    logs no more waiting lines."""
    (tmp_path / "late").mkdir()
    late = Cluster(tmp_path / "late")
    proc, log = agent(tmp_path, late.agents_endpoint)
    try:
        wait_for(lambda: log_has(log, "waiting for the master", "nothing listens at"),
                 timeout=20, what="waiting")
        late.start_master()
        wait_for(lambda: log_has(log, "registered with the master"), timeout=20,
                 what="registration")
        time.sleep(4.5)  # past the next waiting line, had the wait not ended
        after = log.read_text().split("registered with the master", 1)[1]
        assert "waiting for the master" not in after, after
    finally:
        stop(proc)
        late.stop()


def test_http_master_is_refused_with_what_to_give(tmp_path):
    r = subprocess.run([str(BIN / "hptagent"), "--master", "http://127.0.0.1:7470"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, r
    assert "agents speak ZeroMQ to the master's agents endpoint" in r.stderr, r.stderr
    assert "tcp://127.0.0.1:7460" in r.stderr and "not its REST API" in r.stderr, r.stderr


def test_offering_more_than_the_host_has_warns(cluster, tmp_path):
    proc, log = agent(tmp_path, cluster.agents_endpoint, "--topology", str(TOPOLOGY),
                      "--cpus", "64", "--memory-gb", "100000", name="big")
    try:
        wait_for(lambda: cluster.node("big") and cluster.node("big")["state"] == "READY",
                 what="agent big READY")
        text = log.read_text()
    finally:
        stop(proc)
    assert "--cpus 64 is more than the 32 cores this host has" in text, text
    assert "--memory-gb 100000 is more than the" in text, text
    # Offered anyway: the operator may mean it.
    assert cluster.node("big")["cpus"] == 64
    proc, log = agent(tmp_path, cluster.agents_endpoint, "--topology", str(TOPOLOGY),
                      "--cpus", "32", name="fits")
    try:
        wait_for(lambda: cluster.node("fits") and cluster.node("fits")["state"] == "READY",
                 what="agent fits READY")
    finally:
        stop(proc)
    assert "is more than" not in log.read_text()


DUMP = """
import json, os, sys, time
task = json.loads(os.environ["TF_CONFIG"])["task"]
with open(os.path.join(sys.argv[1], "%s-%s.json" % (task["type"], task["index"])), "w") as f:
    f.write(os.environ["TF_CONFIG"])
if task["type"] == "master":
    # The trial ends with its master: let the worker write first.
    for _ in range(600):
        if os.path.exists(os.path.join(sys.argv[1], "worker-0.json")):
            break
        time.sleep(0.05)
    with open(os.environ["CLOUD_ML_HP_METRIC_FILE"], "w") as f:
        f.write(json.dumps({"timestamp": 1.0, "loss": "1", "global_step": "1"}) + "\\n")
"""


def test_agents_on_one_host_share_its_ports(tmp_path):
    """Two agents advertising one address, with the same (default) port
    range, each hold one task of a trial: the two addresses differ. A
    master of its own, so that no other agent can take a task."""
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    (tmp_path / "master").mkdir()
    cluster = Cluster(tmp_path / "master")
    try:
        cluster.start_master()
        for name in ("same-a", "same-b"):
            cluster.start_agent(name, cpus=1, memory_gb=1, extra=["--advertise", "127.0.0.1"])
        cluster.submit("ports", {
            "scaleTier": "CUSTOM", "masterType": "standard", "workerType": "standard",
            "workerCount": 1, "command": [PYTHON, "-c", DUMP, str(dumps)],
            "hyperparameters": {
                "goal": "MINIMIZE", "hyperparameterMetricTag": "loss", "maxTrials": 1,
                "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0,
                            "maxValue": 1}]}})
        job = cluster.wait_job("ports", timeout=60)
    finally:
        cluster.stop()
    files = sorted(dumps.glob("*.json"))
    assert [f.name for f in files] == ["master-0.json", "worker-0.json"], (files, job)
    configs = [json.loads(f.read_text()) for f in files]
    addresses = configs[0]["cluster"]["master"] + configs[0]["cluster"]["worker"]
    assert all(a.startswith("127.0.0.1:") for a in addresses), addresses
    assert len(set(addresses)) == 2, addresses
    assert job["state"] == "SUCCEEDED", job
