"""The master near its open-file limit (docs/operations.md, "File
descriptors"): started with RLIMIT_NOFILE 64 (soft and hard), it takes agents
until fewer descriptors are free than its reserve (16 at that limit), then
refuses new ones with a REJECT that says why and can be retried, counted as
hpt_agents_refused_total{reason="fd_limit"}; the API keeps answering, a real
hptagent that is refused lets go of its connection while it waits (and
registers once descriptors are free again), and the
master's log stays a few lines even when connections take every descriptor
(libmicrohttpd's accept failures are throttled, not one line each)."""
import json
import os
import re
import resource
import socket
import time

import pytest

from hpt_harness import BIN, Cluster, wait_for

LIMIT = 64

HELLO = {"protocol": 2, "version": "9.9.9", "advertise": "127.0.0.1",
         "ports": [20000, 20100], "resources": {"cpus": 2, "memoryGb": 2}, "tasks": [],
         "ackedSeq": 0, "lastSeq": 0}


def _low_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def metric(text, name):
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, heartbeat="1s", agent_timeout="5s")
    c.start_master(preexec_fn=_low_limit)
    yield c
    c.stop()


def hello(zmq, context, endpoint, name):
    """A stand-in agent's DEALER that said HELLO; returns it and the
    answer (signature, body)."""
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 5000)
    sock.connect(endpoint)
    sock.send_multipart([b"HPT/2 HELLO", json.dumps(dict(HELLO, name=name)).encode()])
    signature, body = sock.recv_multipart()
    return sock, signature.decode(), json.loads(body)


def test_refuses_new_agents_near_the_fd_limit(cluster):
    zmq = pytest.importorskip("zmq")
    log = cluster.tmp / "master.log"
    assert f"open-file limit {LIMIT} " in log.read_text()
    context = zmq.Context()
    try:
        welcomed, refusal = [], None
        for i in range(LIMIT):
            sock, signature, body = hello(zmq, context, cluster.agents_endpoint, f"fd-{i}")
            if signature != "HPT/2 WELCOME":
                refusal = (signature, body)
                sock.close()
                break
            welcomed.append(sock)
        assert refusal, "every agent was welcomed"
        signature, body = refusal
        assert signature == "HPT/2 REJECT", refusal
        assert "near its open-file limit" in body["reason"], body
        assert body.get("retryMs", 0) > 0, "an fd_limit refusal is worth retrying"
        # The reserve is a sixteenth of the limit, at least 16: room is
        # left for the agents up to it, not for every one.
        assert 5 <= len(welcomed) <= LIMIT - 16, len(welcomed)

        # The API answers, and says what happened.
        metrics = cluster.get("/metrics")
        assert metric(metrics, 'hpt_agents_refused_total{reason="fd_limit"}') == 1, metrics
        assert metric(metrics, "process_max_fds") == LIMIT
        assert metric(metrics, "process_open_fds") > LIMIT - 16
        assert metric(metrics, "hpt_agents_ready") == len(welcomed), metrics
        assert cluster.node("fd-0")["state"] == "READY"

        # A real agent is refused too, says why, and lets go of its
        # connection while it waits (the descriptor is the master's).
        before = open_fds(cluster.master.pid)
        agent = cluster._spawn([str(BIN / "hptagent"), "--master", cluster.agents_endpoint,
                                "--name", "late", "--workdir", str(cluster.tmp / "agent-late"),
                                "--cpus", "1", "--memory-gb", "1"], "agent-late")
        cluster.agents["late"] = agent
        agent_log = cluster.tmp / "agent-late.log"
        wait_for(lambda: "near its open-file limit" in agent_log.read_text(), timeout=20,
                 what="the agent's refusal")
        wait_for(lambda: open_fds(cluster.master.pid) <= before, timeout=5,
                 what="the refused agent's connection closed")
        assert cluster.node("late") is None

        # Connections past the limit (not agents: they never say HELLO):
        # the master cannot accept them nor API clients, but its log stays
        # a few lines, and it answers again once they are gone.
        size = len(log.read_text())
        flood = []
        for _ in range(LIMIT):
            flood.append(socket.create_connection(("127.0.0.1", cluster.agents_port)))
        time.sleep(1.5)
        for conn in flood:
            conn.close()
        grown = len(log.read_text()) - size
        assert grown < 4096, log.read_text()[size:]
        wait_for(lambda: cluster.get("/v1/nodes") is not None, timeout=20,
                 what="the API after the flood")
        assert cluster.master.poll() is None, "the master died"

        # Descriptors freed (stand-ins gone): the refused agent comes back
        # after its retryMs (agentTimeout, 5 s here) and registers.
        for sock in welcomed[:8]:
            sock.close()
        wait_for(lambda: (cluster.node("late") or {}).get("state") == "READY", timeout=30,
                 what="the refused agent registered once descriptors were free")
        text = log.read_text()
        assert text.count("refusing new agents") == 1, text
        assert len(text) < 16384, text
    finally:
        context.destroy(linger=0)
