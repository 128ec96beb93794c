"""The agent channel under attack (docs/security.md): a real master with
CURVE on, real enrolled agents running a job, and rogue clients (ZeroMQ
DEALERs of this test) trying every way in:

- a plaintext client, and a CURVE client whose key is not enrolled, never
  get past the handshake (counted on /metrics);
- an enrolled key that claims another agent's name is refused for good,
  and the agent it named is not disturbed;
- a key removed from agentCerts is refused from then on, and its agent is
  gone at once;
- an ACK sent to the master (a master-to-agent message) is dropped;
- a flood of HELLOs under fresh names stops at master.maxAgents;
- an agent given the wrong master certificate never speaks to that master,
  and says why.
Nothing a rogue client sends is stored, and the legitimate job finishes."""
import json
import re
import signal
import subprocess
import time

import pytest

zmq = pytest.importorskip("zmq")

from hpt_harness import BIN, Cluster, synthetic_job, wait_for  # noqa: E402
from hpt_rogue import Rogue, cert_keys, hello  # noqa: E402


def keygen(keys, name=None):
    argv = ([str(BIN / "hptagent"), "keygen", "--name", name, str(keys)] if name
            else [str(BIN / "hptmaster"), "keygen", str(keys)])
    subprocess.run(argv, check=True, capture_output=True)


def metric(cluster, pattern):
    match = re.search(pattern + r" (\d+)$", cluster.get("/metrics"), re.M)
    return int(match.group(1)) if match else 0


def handshake_failures(cluster):
    return sum(int(v) for v in re.findall(r'^hpt_agent_handshakes_failed_total\{reason="\w+"\} (\d+)$',
                                          cluster.get("/metrics"), re.M))


@pytest.fixture
def secure(tmp_path):
    keys = tmp_path / "keys"
    enrolled = tmp_path / "agent-certs"
    enrolled.mkdir()
    keygen(keys)
    for name in ("a1", "a2", "a3"):
        keygen(keys, name)
    for name in ("a1", "a2"):
        (enrolled / f"{name}.cert").write_bytes((keys / f"{name}.cert").read_bytes())
    cluster = Cluster(tmp_path, master_config="\n".join([
        "  security:", "    curve:", f"      cert: {keys / 'master.cert_secret'}",
        f"      agentCerts: {enrolled}"]))
    cluster.keys, cluster.enrolled = keys, enrolled
    cluster.start_master()
    for name in ("a1", "a2"):
        cluster.start_agent(name, cpus=1, extra=["--cert", str(keys / f"{name}.cert_secret"),
                                                 "--master-cert", str(keys / "master.cert")])
    yield cluster
    cluster.stop()


def test_enrolled_agents_run_a_job(secure):
    secure.submit("ok", synthetic_job(max_trials=2, parallel=2))
    assert secure.wait_job("ok", timeout=60)["state"] == "SUCCEEDED"
    assert "secure connection" in (secure.tmp / "agent-a1.log").read_text()


def test_rogue_clients_are_refused(secure):
    server, _ = cert_keys(secure.keys / "master.cert")
    secure.submit("busy", synthetic_job(max_trials=2, parallel=1,
                                        extra_args=["--steps=20", "--sleep=0.2"]))
    # Plaintext: the handshake itself fails.
    plain = Rogue(secure.agents_endpoint)
    plain.send("HELLO", hello("plain"))
    assert plain.recv() == (None, None)
    plain.close()
    wait_for(lambda: handshake_failures(secure) > 0, what="a failed handshake counted")
    # CURVE with a key nobody enrolled: ZAP refuses it.
    public, secret = zmq.curve_keypair()
    stranger = Rogue(secure.agents_endpoint, public, secret, server)
    stranger.send("HELLO", hello("stranger"))
    assert stranger.recv() == (None, None)
    stranger.close()
    wait_for(lambda: metric(secure, "hpt_agent_keys_refused_total") >= 1,
             what="the unknown key counted")
    # An enrolled key (a3's) claiming a1's name. Its certificate is first
    # seen empty, as when the master reads it while cp is still writing
    # it: the bytes written after must still admit it.
    enrolled = secure.enrolled / "a3.cert"
    enrolled.write_bytes(b"")
    public, secret = cert_keys(secure.keys / "a3.cert_secret")
    early = Rogue(secure.agents_endpoint, public, secret, server)
    early.send("HELLO", hello("a3"))
    assert early.recv() == (None, None)
    early.close()
    wait_for(lambda: "a3.cert is not a certificate" in (secure.tmp / "master.log").read_text(),
             what="the empty certificate skipped")
    enrolled.write_bytes((secure.keys / "a3.cert").read_bytes())
    impostor = Rogue(secure.agents_endpoint, public, secret, server)
    signature, body = None, None
    deadline = time.time() + 10
    while signature is None and time.time() < deadline:
        impostor.send("HELLO", dict(hello("a1"), ackedSeq=10**12, lastSeq=10**12))
        signature, body = impostor.recv()
    assert signature == "HPT/2 REJECT", (signature, body)
    assert "agent a3's" in body["reason"] and "a1" in body["reason"], body
    assert "retryMs" not in body, body
    # The same connection now sends what a master would: dropped.
    impostor.send("ACK", {"seq": 2**53 - 1})
    impostor.close()
    assert metric(secure, r'hpt_proto_dropped_total\{kind="name_mismatch"\}') >= 1
    for name in ("plain", "stranger"):
        assert secure.node(name) is None
    assert secure.node("a1")["state"] == "READY"
    assert secure.wait_job("busy", timeout=60)["state"] == "SUCCEEDED"


def test_revoked_key_is_gone_at_once(secure):
    secure.submit("long", synthetic_job(max_trials=2, parallel=2, maxFailedTrials=2,
                                        extra_args=["--steps=30", "--sleep=0.2"]))
    wait_for(lambda: secure.node("a2")["runningTasks"] > 0, what="a task on a2")
    (secure.enrolled / "a2.cert").unlink()
    node = wait_for(lambda: (lambda n: n if n["state"] == "LOST" else None)(secure.node("a2")),
                    timeout=10, what="a2 LOST after its key was removed")
    assert node, node
    log = (secure.tmp / "master.log").read_text()
    assert "key was revoked" in log, log[-2000:]
    # It cannot come back: its HELLOs are refused.
    time.sleep(2)
    assert secure.node("a2")["state"] == "LOST"
    assert secure.node("a1")["state"] == "READY"


def test_wrong_master_certificate(secure):
    other = secure.tmp / "other"
    keygen(other)
    proc = secure._spawn([str(BIN / "hptagent"), "--master", secure.agents_endpoint,
                          "--workdir", str(secure.tmp / "agent-fooled"),
                          "--cert", str(secure.keys / "a3.cert_secret"),
                          "--master-cert", str(other / "master.cert")], "agent-fooled")
    try:
        wait_for(lambda: "is --master-cert the certificate" in
                 (secure.tmp / "agent-fooled.log").read_text(), timeout=15,
                 what="the agent saying the master is not the one it trusts")
        assert secure.node("a3") is None
    finally:
        secure.kill(proc)


def test_hello_flood_stops_at_max_agents(tmp_path):
    cluster = Cluster(tmp_path, master_config="  maxAgents: 4")
    cluster.start_master()
    try:
        cluster.start_agent("a1", cpus=1)
        flood = Rogue(cluster.agents_endpoint)
        for i in range(50):
            flood.send("HELLO", hello(f"flood-{i}"))
        time.sleep(1)
        flood.close()
        nodes = cluster.get("/v1/nodes")["nodes"]
        assert len(nodes) == 4, [n["name"] for n in nodes]
        assert metric(cluster, r'hpt_proto_dropped_total\{kind="too_many_agents"\}') >= 40
        # A LOST node frees its place once deleted; a connected one cannot be.
        refused = cluster.hpt("nodes", "delete", "a1")
        assert refused.returncode == 1 and "connected" in refused.stderr, refused
        cluster.kill(cluster.agents["a1"], signal.SIGKILL)
        wait_for(lambda: cluster.node("a1")["state"] == "LOST", timeout=15, what="a1 LOST")
        cluster.hpt("nodes", "delete", "a1", check=True)
        assert cluster.node("a1") is None
        cluster.start_agent("a2", cpus=1)
        cluster.submit("after", synthetic_job(max_trials=1, parallel=1))
        job = wait_for(lambda: (lambda j: j if j["state"] in ("SUCCEEDED", "FAILED") else None)(
            cluster.job("after")), timeout=60, what="the job after the flood")
        assert job["state"] == "SUCCEEDED", job
    finally:
        cluster.stop()


def test_non_loopback_needs_keys(tmp_path):
    cluster = Cluster(tmp_path)
    cluster.config.write_text(cluster.config.read_text().replace(
        f"agents: {cluster.agents_endpoint}", f"agents: tcp://*:{cluster.agents_port}"))
    result = subprocess.run([str(BIN / "hptmaster"), "--cluster", str(cluster.config)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result
    assert "master.security.curve" in result.stderr, result.stderr
    agent = subprocess.run([str(BIN / "hptagent"), "--master", "tcp://192.0.2.1:7460",
                            "--workdir", str(tmp_path / "w")], capture_output=True, text=True,
                           timeout=30)
    assert agent.returncode == 2 and "--insecure" in agent.stderr, agent
