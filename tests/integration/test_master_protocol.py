"""HPT/2 as a real hptmaster speaks it, seen from a stand-in agent (a ZeroMQ
DEALER of this test, proto/PROTOCOL.md):

- an agent of another version (HPT/1) is refused in its own version's
  signature, so it can read why, and told which versions the master speaks
  (§7); the master counts the message as a version fault on /metrics;
- what an agent's HEARTBEAT says of its host (tasks, load, its last seq)
  shows on GET /v1/nodes;
- a LAUNCH carries the task's devices, not HPT/1's informational members;
- a task that dumped core fails its trial with "(core dumped)" (TASK_EXITED
  coreDumped);
- a connection that has not registered gets ERROR NOT_REGISTERED at most
  once a second, however much it sends (§6.5), each connection its own;
- a message for an agent whose connection is gone is dropped and counted
  (ROUTER_MANDATORY, §2), and the master carries on;
- a burst of events handled as one group commit is acknowledged in order,
  each ACK only once what it acknowledges is in the store, replays among
  them included;
- a heartbeat queued behind a burst of events is handled when it is read,
  not after them (master/hpt_core.c, "Frames' wait")."""
import json
import re
import sqlite3
import threading
import time

import pytest

from hpt_harness import STAND_IN_HELLO as HELLO
from hpt_harness import Cluster, stand_in_agent, synthetic_job, wait_for


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


def test_a_burst_is_acknowledged_in_order_once_stored(cluster, dealer):
    """Group commit (master/hpt_core.c): the frames queued together share
    one transaction. A replay of an event of the same group must not be
    acknowledged before the group commits: its ACK would overtake the
    group's own ACKs (and announce a mark the store does not hold yet)."""
    send(dealer, "HELLO", HELLO)
    assert recv(dealer)[0] == "HPT/2 WELCOME"
    last = 300
    for seq in range(1, last + 1):
        # Each event, then at once its replay (as after a reconnection).
        for _ in range(2):
            send(dealer, "LOGS", {"seq": seq, "taskId": "nobody/1/master/0",
                                  "stream": "stdout", "data": "x\n"})
    db = sqlite3.connect(f"file:{cluster.state / 'hpt.db'}?mode=ro", uri=True, timeout=10)
    acks = []
    while not acks or acks[-1] < last:
        signature, body = recv(dealer)
        if signature != "HPT/2 ACK":
            continue
        stored = db.execute("SELECT last_acked_seq FROM agents WHERE name = 'stand-in'")
        mark = stored.fetchone()[0]
        assert mark >= body["seq"], (body, mark)
        acks.append(body["seq"])
    db.close()
    assert acks == sorted(acks), acks
    assert set(range(1, last + 1)) <= set(acks)
    metrics = cluster.get("/metrics")
    assert dropped(metrics, "unknown_task") == last, "each event applied once"


def burst_while_held(cluster, dealer, last, then, get, gets=1):
    """Holds the master's loop in the commit of the first of `last` LOGS
    events (another connection holds the store's write lock) while the
    agent queues the rest and then() queues more; `gets` calls of get()
    wait too, each in a thread of its own. Lets the loop go, and returns
    what they answered, in the order the answers came."""
    db = sqlite3.connect(cluster.state / "hpt.db", timeout=10, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    answers = []
    getters = [threading.Thread(target=lambda: answers.append(get())) for _ in range(gets)]
    try:
        for seq in range(1, last + 1):
            send(dealer, "LOGS", {"seq": seq, "taskId": "nobody/1/master/0",
                                  "stream": "stdout", "data": "x\n"})
            if seq == 1:
                time.sleep(0.2)  # the loop is now held in that event's commit
        then()
        for getter in getters:
            getter.start()
        time.sleep(0.3)  # every frame queued, and the GETs
    finally:
        db.execute("ROLLBACK")
        db.close()
    for getter in getters:
        getter.join(timeout=20)
    return answers


@pytest.fixture
def held(tmp_path):
    """A master without heartbeat rounds during the test (a round reads
    every queued frame too, and would show the heartbeat whatever the
    groups do), and a registered stand-in agent's socket."""
    zmq = pytest.importorskip("zmq")
    cluster = Cluster(tmp_path, heartbeat="10s", agent_timeout="60s")
    context = zmq.Context()
    try:
        cluster.start_master()
        yield cluster, stand_in_agent(context, cluster.agents_endpoint)
    finally:
        context.destroy(linger=0)
        cluster.stop()


def test_a_heartbeat_is_not_held_behind_a_burst(held):
    """The master reads the frames queued on its agents' socket ahead of
    handling them, and handles a READY agent's heartbeat as it reads it.
    The loop is held in a commit (another process holds the store's write
    lock) while the agent queues 900 events and then a heartbeat, and two
    GETs of the node wait too. Once the lock goes, the loop answers one
    GET, reads the queue, handles an event and answers the other GET
    (the API goes first): the first answer that shows the heartbeat must
    still count events pending. Handled in order, the heartbeat would wait
    behind all 900."""
    cluster, dealer = held
    last = 900

    def heartbeat():
        send(dealer, "HEARTBEAT", {"seq": last, "runningTasks": 0, "load": 0.75})

    answers = burst_while_held(cluster, dealer, last, heartbeat,
                               lambda: cluster.node("stand-in"), gets=2)
    seen = answers[-1]
    if seen.get("load") != 0.75:
        # A slow build (the sanitizers') reads fewer frames in a turn's
        # 10 ms than the queue holds: the heartbeat shows a few turns on.
        seen = wait_for(lambda: (lambda n: n if n.get("load") == 0.75 else None)(
            cluster.node("stand-in")), timeout=20, what="the heartbeat's load")
    assert seen["pendingEvents"] > 0, seen
    wait_for(lambda: cluster.node("stand-in")["pendingEvents"] == 0, timeout=20,
             what="the burst stored")


def test_the_api_goes_before_a_burst(held):
    """The loop serves a waiting API request before the agents' frames
    (master/hpt_core.c, "Transactions"). The loop is held in the commit of
    an agent's first event while the agent queues 900 more and a GET
    /metrics waits: once the store's lock goes, the GET is answered
    before those 900 are handled. Handled agents first, it would wait for
    a whole group (64 frames, 10 ms) or more."""
    cluster, dealer = held
    last = 900
    metrics = burst_while_held(cluster, dealer, last, lambda: None,
                               lambda: cluster.get("/metrics"))[0]
    handled = dropped(metrics, "unknown_task")
    assert handled <= 2, f"{handled} events were handled before the waiting GET"
    wait_for(lambda: dropped(cluster.get("/metrics"), "unknown_task") == last,
             timeout=20, what="the burst handled")


def dropped(metrics, kind):
    match = re.search(rf'^hpt_proto_dropped_total\{{kind="{kind}"\}} (\S+)$', metrics, re.M)
    return float(match.group(1)) if match else 0


def test_not_registered_at_most_once_a_second(cluster, dealer):
    zmq = pytest.importorskip("zmq")
    heartbeat = {"seq": 0, "runningTasks": 0, "load": 0.0}
    start = time.monotonic()
    for _ in range(50):
        send(dealer, "HEARTBEAT", heartbeat)
    answers = []
    dealer.setsockopt(zmq.RCVTIMEO, 300)
    try:
        while True:
            answers.append(recv(dealer))
    except zmq.Again:
        pass
    assert time.monotonic() - start < 0.9, "the burst took too long to prove the rate"
    assert len(answers) == 1, answers
    assert answers[0][0] == "HPT/2 ERROR" and answers[0][1]["code"] == "NOT_REGISTERED", answers
    # Every message was dropped and counted, not only the answered one.
    assert dropped(cluster.get("/metrics"), "not_registered") >= 50

    # Another connection has its own second.
    other = dealer.context.socket(zmq.DEALER)
    other.setsockopt(zmq.LINGER, 0)
    other.setsockopt(zmq.RCVTIMEO, 2000)
    other.connect(cluster.agents_endpoint)
    send(other, "HEARTBEAT", heartbeat)
    assert recv(other)[1]["code"] == "NOT_REGISTERED"

    # A second later the first one is answered again.
    time.sleep(max(0.0, start + 1.1 - time.monotonic()))
    send(dealer, "HEARTBEAT", heartbeat)
    dealer.setsockopt(zmq.RCVTIMEO, 2000)
    assert recv(dealer)[1]["code"] == "NOT_REGISTERED"


def test_a_message_for_a_gone_agent_is_dropped_and_counted(cluster, dealer):
    send(dealer, "HELLO", dict(HELLO, name="leaver"))
    assert recv(dealer)[0] == "HPT/2 WELCOME"
    # Gone without BYE: the master's heartbeats (every 0.2 s here) now
    # have no connection to go to.
    dealer.close(linger=0)
    wait_for(lambda: dropped(cluster.get("/metrics"), "send_unroutable") >= 1, timeout=10,
             what="a heartbeat to the gone agent counted")
    assert cluster.master.poll() is None, "the master died"
    assert cluster.node("leaver") is not None
