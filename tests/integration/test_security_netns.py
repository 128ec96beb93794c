"""hpt across real network addresses, with CURVE on (docs/security.md).

Two network namespaces joined to this one by veth pairs give two agent
hosts their own IP addresses (10.199.N.2 and 10.199.N+1.2, N drawn per
run so that what a killed run left behind cannot answer for this one);
the master binds every interface of this namespace (so it can only start
with keys) and the agents reach it at 10.199.N.1 and 10.199.N+1.1.
Each agent pretends to
be a 4-V100 host (an hwloc XML topology). Then:

- a CUSTOM job whose trial needs 8 GPUs (a master and three workers of two
  V100s each) runs across both hosts: every task sees exactly its two
  GPUs, and TF_CONFIG names both hosts by their own addresses;
- from the second host, a plaintext client, a client with an unknown key
  and an enrolled key claiming the first agent's name are all refused,
  counted, and nothing of them is stored; the first agent is undisturbed.

Needs root (namespaces, veth); skipped with the reason otherwise."""
import json
import os
import random
import subprocess
import time
import uuid

import pytest

from hpt_harness import BIN, PYTHON, SRC, SYNTHETIC, Cluster, read_dumps, wait_for

TOPOLOGY = SRC / "tests" / "data" / "topologies" / "gpu-host-v100-a.xml"
ROGUE = SRC / "tests" / "integration" / "hpt_rogue.py"


def run(*argv):
    subprocess.run(argv, check=True, capture_output=True, text=True)


@pytest.fixture
def hosts():
    """Two namespaces: name -> (namespace, its address, the master's
    address as it sees it)."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    tag = uuid.uuid4().hex[:6]
    base = random.randrange(1, 250)
    made = {}
    try:
        for i, name in ((1, "a1"), (2, "a2")):
            ns, outer, inner = f"hpt{tag}{i}", f"hv{tag}{i}o", f"hv{tag}{i}i"
            net = f"10.199.{base + i - 1}"
            run("ip", "netns", "add", ns)
            made[name] = (ns, f"{net}.2", f"{net}.1")
            run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            run("ip", "link", "set", inner, "netns", ns)
            run("ip", "addr", "add", f"{net}.1/24", "dev", outer)
            run("ip", "link", "set", outer, "up")
            run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{net}.2/24", "dev", inner)
            run("ip", "netns", "exec", ns, "ip", "link", "set", inner, "up")
            run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
    except subprocess.CalledProcessError as err:
        for ns, _, _ in made.values():
            subprocess.run(["ip", "netns", "del", ns], check=False)
        pytest.skip(f"cannot make network namespaces here: {err.stderr.strip()}")
    yield made
    for ns, _, _ in made.values():
        subprocess.run(["ip", "netns", "del", ns], check=False)


def keygen(keys, name=None):
    argv = ([str(BIN / "hptagent"), "keygen", "--name", name, str(keys)] if name
            else [str(BIN / "hptmaster"), "keygen", str(keys)])
    run(*argv)


@pytest.fixture
def lab(tmp_path, hosts):
    keys, enrolled = tmp_path / "keys", tmp_path / "agent-certs"
    enrolled.mkdir()
    keygen(keys)
    for name in ("a1", "a2", "a3"):
        keygen(keys, name)
    for name in ("a1", "a2", "a3"):
        (enrolled / f"{name}.cert").write_bytes((keys / f"{name}.cert").read_bytes())
    cluster = Cluster(tmp_path, machine_types={
        "v100_pair": {"cpus": 2, "memoryGb": 1,
                      "accelerators": {"type": "NVIDIA_TESLA_V100", "count": 2}}},
        master_config="\n".join(["  security:", "    curve:",
                                 f"      cert: {keys / 'master.cert_secret'}",
                                 f"      agentCerts: {enrolled}"]))
    cluster.config.write_text(cluster.config.read_text().replace(
        f"agents: {cluster.agents_endpoint}", f"agents: tcp://*:{cluster.agents_port}"))
    cluster.start_master()
    cluster.keys, cluster.hosts, cluster.dumps = keys, hosts, tmp_path / "dumps"
    cluster.dumps.mkdir()
    try:
        _start_agents(cluster, tmp_path, hosts, keys)
        yield cluster
    finally:
        # Even when an agent never came up: a daemon left running would keep
        # its namespace, and its addresses, alive after the test.
        cluster.stop()


def _start_agents(cluster, tmp_path, hosts, keys):
    for name, (ns, address, master) in hosts.items():
        cluster.agents[name] = cluster._spawn(
            ["ip", "netns", "exec", ns, str(BIN / "hptagent"),
             "--master", f"tcp://{master}:{cluster.agents_port}", "--advertise", address,
             "--workdir", str(tmp_path / f"agent-{name}"), "--topology", str(TOPOLOGY),
             "--cpus", "16", "--memory-gb", "16",
             "--cert", str(keys / f"{name}.cert_secret"),
             "--master-cert", str(keys / "master.cert")],
            f"agent-{name}", env={"HPT_TEST_DUMP_DIR": str(cluster.dumps)})
        wait_for(lambda n=name: (cluster.node(n) or {}).get("state") == "READY", timeout=30,
                 what=f"agent {name} READY over its own network")


def test_gpu_cluster_across_hosts(lab):
    # Slow enough that every worker has started (and dumped what it was
    # given) before the master replica finishes and the workers are stopped.
    spec = {"command": [PYTHON, str(SYNTHETIC), "--steps=3", "--sleep=1"], "scaleTier": "CUSTOM",
            "masterType": "v100_pair", "workerType": "v100_pair", "workerCount": "3",
            "hyperparameters": {"goal": "MAXIMIZE", "maxTrials": 1, "maxParallelTrials": 1,
                                "params": [{"parameterName": "x", "type": "DOUBLE",
                                            "minValue": 0, "maxValue": 1}]}}
    lab.submit("wide", spec)
    job = lab.wait_job("wide", timeout=90)
    assert job["state"] == "SUCCEEDED", job
    records = read_dumps(lab.dumps)
    assert len(records) == 4, records
    addresses = {lab.hosts[name][1] for name in lab.hosts}
    for record in records:
        gpus = record["env"]["CUDA_VISIBLE_DEVICES"].split(",")
        assert len(gpus) == 2, record["env"]
        cluster = json.loads(record["env"]["TF_CONFIG"])["cluster"]
        hosts_used = {a.split(":")[0] for role in cluster.values() for a in role}
        assert hosts_used == addresses, cluster
        assert len(cluster["master"]) == 1 and len(cluster["worker"]) == 3, cluster


def rogue(lab, name, *keys):
    ns, _, master = lab.hosts["a2"]
    out = subprocess.run(["ip", "netns", "exec", ns, PYTHON, str(ROGUE),
                          f"tcp://{master}:{lab.agents_port}", name, *keys],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    return json.loads(out)


def test_rogue_clients_from_another_host(lab):
    assert rogue(lab, "plain")["signature"] is None
    assert rogue(lab, "stranger", "--random-key", str(lab.keys / "master.cert"))["signature"] \
        is None
    answer = rogue(lab, "a1", "--keys", str(lab.keys / "a3.cert_secret"),
                   str(lab.keys / "master.cert"))
    assert answer["signature"] == "HPT/2 REJECT", answer
    assert "agent a3's" in answer["body"]["reason"], answer
    metrics = lab.get("/metrics")
    assert 'hpt_proto_dropped_total{kind="name_mismatch"} 1' in metrics, metrics
    assert "hpt_agent_keys_refused_total 0" not in metrics, metrics
    assert "hpt_agent_handshakes_failed_total" in metrics
    for name in ("plain", "stranger", "a3"):
        assert lab.node(name) is None
    assert lab.node("a1")["state"] == "READY"
    assert lab.node("a1")["address"] == lab.hosts["a1"][1]


RATE_CLIENT = """
import sys, urllib.request, urllib.error
codes = {}
for _ in range(int(sys.argv[2])):
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
            codes[r.status] = codes.get(r.status, 0) + 1
    except urllib.error.HTTPError as e:
        codes[e.code] = codes.get(e.code, 0) + 1
print(codes)
"""

#  Opens N connections and keeps them open, then sends a GET on the first
#  and on the last few; prints each answer's status and message.
CONNECTIONS_CLIENT = """
import json, socket, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = [socket.create_connection((host, port), timeout=10) for _ in range(count)]
answers = []
for s in [socks[0]] + socks[-6:]:
    s.sendall(f"GET /v1/nodes HTTP/1.1\\r\\nHost: {host}\\r\\n\\r\\n".encode())
    head = b""
    while b"\\r\\n\\r\\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    status = int(head.split()[1]) if head else 0
    answers.append((status, head.decode(errors="replace")))
print(json.dumps([[status, text] for status, text in answers]))
"""


def test_remote_clients_are_rate_limited(tmp_path, hosts):
    """A client on another host gets 429 RESOURCE_EXHAUSTED past
    master.apiRequestsPerSecond, and past 64 open connections; the host's
    own tools are not limited."""
    cluster = Cluster(tmp_path, master_config="\n".join([
        "  apiRequestsPerSecond: 20", f"  apiHostNames: [{hosts['a1'][2]}]",
        "  security:", "    insecure: true"]))
    cluster.config.write_text(cluster.config.read_text().replace(
        f"api: 127.0.0.1:{cluster.api_port}", f"api: 0.0.0.0:{cluster.api_port}"))
    cluster.start_master()
    try:
        ns, _, master = hosts["a1"]
        out = subprocess.run(["ip", "netns", "exec", ns, PYTHON, "-c", RATE_CLIENT,
                              f"http://{master}:{cluster.api_port}/v1/nodes", "120"],
                             check=True, capture_output=True, text=True, timeout=120).stdout
        codes = eval(out)  # a dict the client printed
        assert codes.get(429, 0) >= 50 and codes.get(200, 0) >= 40, codes
        for _ in range(100):
            cluster.get("/v1/nodes")  # loopback: never 429
        #  Past 64 open connections from one host, each further one is
        #  answered 429 and closed; the first stays served.
        time.sleep(2.5)  # the request bucket refills
        out = subprocess.run(["ip", "netns", "exec", ns, PYTHON, "-c", CONNECTIONS_CLIENT,
                              master, str(cluster.api_port), "70"],
                             check=True, capture_output=True, text=True, timeout=120).stdout
        answers = json.loads(out)
        assert answers[0][0] == 200, answers[0]
        for status, head in answers[1:]:
            assert status == 429 and "connection: close" in head.lower(), head
        assert "insecure" in (cluster.tmp / "master.log").read_text()
    finally:
        cluster.stop()
