"""HPT/2 as a real hptmaster speaks it, seen from a stand-in agent (a ZeroMQ
DEALER of this test, proto/PROTOCOL.md):

- an agent of another version (HPT/1) is refused in its own version's
  signature, so it can read why, and told which versions the master speaks
  (§7); the master counts the message as a version fault on /metrics;
- what an agent's HEARTBEAT says of its host (tasks, load, its last seq)
  shows on GET /v1/nodes;
- a LAUNCH carries the task's devices, not HPT/1's informational members;
- a task that dumped core fails its trial with "(core dumped)" (TASK_EXITED
  coreDumped)."""
import json
import re
import time

import pytest

from hpt_harness import Cluster, synthetic_job, wait_for

HELLO = {"protocol": 2, "name": "stand-in", "version": "9.9.9", "advertise": "127.0.0.1",
         "ports": [20000, 20100], "resources": {"cpus": 2, "memoryGb": 2}, "tasks": [],
         "ackedSeq": 0, "lastSeq": 0}


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    c.start_master()
    yield c
    c.stop()


@pytest.fixture
def dealer(cluster):
    zmq = pytest.importorskip("zmq")
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 5000)
    sock.connect(cluster.agents_endpoint)
    yield sock
    context.destroy(linger=0)


def send(sock, kind, body, version=2):
    sock.send_multipart([f"HPT/{version} {kind}".encode(), json.dumps(body).encode()])


def recv(sock):
    signature, body = sock.recv_multipart()
    return signature.decode(), json.loads(body)


def test_an_hpt1_agent_is_refused_in_hpt1(cluster, dealer):
    # What an agent of the first version sends: its HELLO as HPT/1 had it.
    send(dealer, "HELLO", dict(HELLO, protocol=1, name="old-agent"), version=1)
    signature, reject = recv(dealer)
    assert signature == "HPT/1 REJECT"
    assert reject == {"reason": "unsupported protocol version HPT/1 (this master speaks HPT/2)",
                      "protocols": [2]}, reject
    metrics = cluster.get("/metrics")
    assert re.search(r'^hpt_proto_dropped_total\{kind="version"\} 1$', metrics, re.M), metrics
    assert cluster.node("old-agent") is None


def test_heartbeats_launch_and_core_dumps(cluster, dealer):
    send(dealer, "HELLO", HELLO)
    assert recv(dealer)[0] == "HPT/2 WELCOME"
    send(dealer, "HEARTBEAT", {"seq": 0, "runningTasks": 0, "load": 1.25})
    node = wait_for(lambda: (lambda n: n if n.get("load") == 1.25 else None)(
        cluster.node("stand-in")), what="the load on /v1/nodes")
    assert node["agentRunningTasks"] == 0 and node["pendingEvents"] == 0, node
    assert node["agentVersion"] == "9.9.9", node

    cluster.submit("crash", synthetic_job(max_trials=1, parallel=1))
    deadline = time.time() + 10
    launch = None
    while launch is None and time.time() < deadline:
        signature, body = recv(dealer)
        if signature == "HPT/2 LAUNCH":
            launch = body
        send(dealer, "HEARTBEAT", {"seq": 0, "runningTasks": 0, "load": 1.25})
    assert launch, "no LAUNCH"
    # HPT/2: the master no longer sends what the agent never read, nor
    # sets the accelerator variables (the agent does, from gpus/tpus).
    for gone in ("jobId", "cpus", "memoryMb", "graceMs"):
        assert gone not in launch, launch
    assert "CUDA_VISIBLE_DEVICES" not in launch["env"], launch["env"]
    assert launch["env"]["HPT_JOB_ID"] == "crash"

    now = int(time.time() * 1000)
    task = launch["taskId"]
    send(dealer, "TASK_STARTED", {"seq": 1, "taskId": task, "pid": 4242, "startTime": now})
    send(dealer, "TASK_EXITED", {"seq": 2, "taskId": task, "exitCode": -1, "signal": 11,
                                 "coreDumped": True, "reason": "", "endTime": now + 5})
    send(dealer, "HEARTBEAT", {"seq": 7, "runningTasks": 3, "load": 0.5})
    done = cluster.wait_job("crash", timeout=10)
    assert done["state"] == "FAILED", done
    assert "was killed by signal 11 (core dumped)" in json.dumps(done), done
    node = cluster.node("stand-in")
    # Events 3..7 are the agent's and not stored yet (it never sent them).
    assert (node["agentRunningTasks"], node["load"], node["pendingEvents"]) == (3, 0.5, 5), node
