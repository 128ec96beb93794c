"""One name, one agent (docs/security.md, PROTOCOL.md §2): without keys,
two agents started with the same --name must not take the name from each
other in turn (each "registered" every second, one node listed, nobody
told why). A second agent on the same workdir is refused at start; a
second agent on its own workdir is refused by the master, in both logs,
while the first is connected, and let in once the first is declared
lost; a restarted agent (same workdir) is let in at once."""
import re
import subprocess
import time

import pytest

from hpt_harness import BIN, Cluster, synthetic_job, wait_for


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, heartbeat="0.2s", agent_timeout="2s")
    c.start_master()
    yield c
    c.stop()


def metric(cluster, pattern):
    match = re.search(pattern + r" (\d+)$", cluster.get("/metrics"), re.M)
    return int(match.group(1)) if match else 0


def agent_id(cluster, name):
    return cluster.node(name)["resources"]["agentId"]


def test_a_second_agent_on_the_same_workdir_is_refused_at_start(cluster, tmp_path):
    first = cluster.start_agent("a1")
    result = subprocess.run([str(BIN / "hptagent"), "--master", cluster.agents_endpoint,
                             "--name", "other", "--workdir", str(tmp_path / "agent-a1")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert f"another hptagent (pid {first.pid}) uses the workdir" in result.stderr, result.stderr
    # The first agent and its spool are untouched.
    assert cluster.node("a1")["state"] == "READY"
    assert cluster.node("other") is None


def test_a_second_agent_with_the_same_name_is_refused_while_the_first_is_there(cluster,
                                                                                tmp_path):
    first = cluster.start_agent("a1")
    first_id = agent_id(cluster, "a1")
    assert re.fullmatch(r"[0-9a-f]{32}", first_id)
    second_log = tmp_path / "second.log"
    with open(second_log, "wb") as log:
        second = subprocess.Popen([str(BIN / "hptagent"), "--master", cluster.agents_endpoint,
                                   "--name", "a1", "--workdir", str(tmp_path / "second"),
                                   "--cpus", "2", "--memory-gb", "2"],
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: "is in use by another agent" in second_log.read_text(), timeout=20,
                 what="the second agent told why it is refused")
        text = second_log.read_text()
        assert f"the name a1 is in use by another agent that is connected (agent id {first_id[:8]}" \
            in text, text
        master_log = (tmp_path / "master.log").read_text()
        assert "refused a second agent named a1" in master_log, master_log
        assert metric(cluster, r'hpt_proto_dropped_total\{kind="name_in_use"\}') >= 1
        # The first keeps the name, without flapping: it registered once and
        # runs a job as usual.
        time.sleep(1.0)
        assert agent_id(cluster, "a1") == first_id
        assert cluster.node("a1")["state"] == "READY"
        assert (tmp_path / "agent-a1.log").read_text().count("registered") == 1
        cluster.submit("named", synthetic_job(max_trials=1, parallel=1))
        assert cluster.wait_job("named", timeout=30)["state"] == "SUCCEEDED"
        assert agent_id(cluster, "a1") == first_id

        # The first goes away for good: once it is declared lost, the
        # second takes the name (it retries every agentTimeout).
        cluster.kill(first)
        second_id = (tmp_path / "second" / "agent-id").read_text().strip()
        wait_for(lambda: cluster.node("a1")["state"] == "READY"
                 and agent_id(cluster, "a1") == second_id, timeout=20,
                 what="the second agent registered after the first was lost")
    finally:
        cluster.kill(second)


def test_a_restarted_agent_is_let_in_at_once(cluster, tmp_path):
    first = cluster.start_agent("a1")
    first_id = agent_id(cluster, "a1")
    cluster.kill(first)
    # Restarted before the master noticed anything (agentTimeout is 2 s):
    # same workdir, same id, so the last HELLO wins.
    started = time.monotonic()
    cluster.start_agent("a1")
    log = tmp_path / "agent-a1.log"
    wait_for(lambda: log.read_text().count("registered") == 2, timeout=10,
             what="the restarted agent registered")
    assert time.monotonic() - started < 2.0
    assert "refused" not in log.read_text()
    assert agent_id(cluster, "a1") == first_id
