"""Liveness by arrival (docs/scheduling.md "Agent liveness", issue 18).

The master judges an agent's silence only over time it was listening: a
loop held longer than agentTimeout (here the whole process stopped with
SIGSTOP, the harshest stall there is) must not declare healthy agents
LOST, nor fail the trials they run. Nor must a master whose loop is
blocked on its store (a slow disk; here another process holds the write
lock), and the bound on how long agent frames waited then covers the
time they queued (master/hpt_core.c, "Frames' wait")."""
import os
import signal
import sqlite3
import time

import pytest

from hpt_harness import Cluster, synthetic_job, wait_for


def metrics(cluster):
    """The master's /metrics as {name: value} (samples without labels)."""
    text = cluster.request("GET", "/metrics")
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.split()
            values[name] = float(value)
    return values


def test_a_stalled_master_loses_no_agent(tmp_path):
    cluster = Cluster(tmp_path, heartbeat="0.2s", agent_timeout="1s")
    try:
        cluster.start_master()
        for name in ("n1", "n2"):
            cluster.start_agent(name, cpus=1, memory_gb=1)
        cluster.submit("stall", synthetic_job(max_trials=2, parallel=2,
                                              extra_args=["--steps=4", "--sleep=1"]))
        wait_for(lambda: cluster.job("stall")["state"] == "RUNNING", what="job RUNNING")
        # Held three agent timeouts: every agent's last heartbeat is then
        # older than agentTimeout when the loop runs again.
        os.kill(cluster.master.pid, signal.SIGSTOP)
        time.sleep(3)
        os.kill(cluster.master.pid, signal.SIGCONT)
        wait_for(lambda: metrics(cluster)["hpt_loop_stalls_total"] >= 1, timeout=10,
                 what="the stall counted")
        time.sleep(1.5)  # several heartbeat rounds after the stall
        figures = metrics(cluster)
        assert figures["hpt_agents_lost_total"] == 0, figures
        assert figures["hpt_loop_stalled_seconds_total"] >= 2, figures
        assert all(cluster.node(n)["state"] == "READY" for n in ("n1", "n2"))
        job = cluster.wait_job("stall", timeout=60)
        assert job["state"] == "SUCCEEDED", job
        assert all(t["state"] == "SUCCEEDED" for t in job["trainingOutput"]["trials"]), job
        assert " lost: " not in (tmp_path / "master.log").read_text()
    finally:
        cluster.stop()


def test_a_master_blocked_on_its_store_counts_the_frames_wait(tmp_path):
    # A stopped process does not read its sockets either, so only a loop
    # held while ZeroMQ's own thread keeps receiving shows frames queuing.
    cluster = Cluster(tmp_path, heartbeat="0.2s", agent_timeout="1s")
    try:
        cluster.start_master()
        cluster.start_agent("n1", cpus=1, memory_gb=1)
        wait_for(lambda: metrics(cluster)["hpt_agent_frame_wait_seconds_count"] >= 5,
                 what="heartbeats handled")
        before = metrics(cluster)["hpt_agent_frame_wait_max_seconds"]
        assert before < 1, before
        db = sqlite3.connect(cluster.state / "hpt.db", timeout=10, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")  # the next heartbeat round waits for it
        time.sleep(2.5)
        db.execute("ROLLBACK")
        db.close()
        wait_for(lambda: metrics(cluster)["hpt_agent_frame_wait_max_seconds"] >= 2,
                 timeout=10, what="the frames' wait over the blocked loop")
        figures = metrics(cluster)
        assert figures["hpt_agents_lost_total"] == 0, figures
        # The agent's heartbeats are counted apart too, among the frames.
        beats = figures["hpt_agent_heartbeat_wait_seconds_count"]
        assert 0 < beats < figures["hpt_agent_frame_wait_seconds_count"], figures
        assert cluster.node("n1")["state"] == "READY"
    finally:
        cluster.stop()


def test_a_message_read_by_the_heartbeat_round_does_not_block_the_loop(tmp_path):
    """The heartbeat round reads the agent messages already queued
    (liveness by arrival); zloop may then call the agents' reader for the
    poll that saw them. That reader must not wait for a message that is
    no longer there: with no agent speaking afterwards, the loop would be
    held for good (the API answering 503). A master stopped past its
    heartbeat interval with one message queued makes the round and the
    reader fall in the same turn."""
    pytest.importorskip("zmq")
    from hpt_rogue import Rogue
    cluster = Cluster(tmp_path, heartbeat="0.2s", agent_timeout="1s")
    rogue = None
    try:
        cluster.start_master()
        rogue = Rogue(cluster.agents_endpoint)
        assert rogue.hello("quiet")[0] == "HPT/2 WELCOME"
        wait_for(lambda: cluster.node("quiet"), what="the quiet agent known")
        os.kill(cluster.master.pid, signal.SIGSTOP)
        try:
            # One message, then silence: a heartbeat of the registered peer.
            assert rogue.send("HEARTBEAT", {"seq": 0, "load": 0.1, "runningTasks": 0})
            time.sleep(0.6)
        finally:
            os.kill(cluster.master.pid, signal.SIGCONT)
        for _ in range(3):
            started = time.monotonic()
            cluster.get("/v1/nodes")
            assert time.monotonic() - started < 5, "the loop was held"
            time.sleep(0.3)
    finally:
        if rogue:
            rogue.close()
        cluster.stop()
