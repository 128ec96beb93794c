"""GPU/TPU cluster provisioning, end to end (docs/lifecycle.md and docs/scheduling.md, issue 5).

Four agents fake the lab's hosts with the hwloc XML topologies under
tests/data/topologies (two 16-core hosts with 2 NUMA nodes x 2 V100, a
24-core TPU_V4 host, a 32-core CPU host); the master uses the machine types
and tiers of tests/data/clusters/seed-lab.yaml. Every trainer process dumps
what it was given (HPT_TEST_DUMP_DIR in the agents' environment), and the
placement the master chose is read back from its store (tasks.placement_json,
SQLite opened read-only), so each test checks the scheduler's decision and
what the process really got.

Every replica of a trial runs the same command; ROLE_WRAPPER (python3 -c)
gives the synthetic trainer a --fail-mode per replica, so that parameter
servers and workers can hang (as real ones wait for the chief) or fail."""
import json
import os
import pathlib
import signal
import sqlite3
import subprocess
import time

import pytest
import yaml

from hpt_harness import (BIN, PYTHON, SRC, SYNTHETIC, ApiError, Cluster, pid_alive, read_dumps,
                         synthetic_job, wait_for)

TOPOLOGIES = SRC / "tests" / "data" / "topologies"
SEED_LAB = yaml.safe_load((SRC / "tests" / "data" / "clusters" / "seed-lab.yaml").read_text())
SEED_CONFIG = SRC / "tests" / "data" / "configs" / "valid" / "seed_config.yaml"

# name -> (topology, cores, TF_CONFIG port range). Names sort in the order
# the scheduler tries nodes.
HOSTS = {
    "cpu32": ("cpu-host-32.xml", 32, "22000-22099"),
    "gpu-a": ("gpu-host-v100-a.xml", 16, "21000-21099"),
    "gpu-b": ("gpu-host-v100-b.xml", 16, "21100-21199"),
    "tpu": ("tpu-host.xml", 24, "21200-21299"),
}
MACHINE_TYPES = dict(SEED_LAB["machineTypes"], **{
    "huge_cpu": {"cpus": 40, "memoryGb": 1},
    "small": {"cpus": 1, "memoryGb": 1},
    "v100_eight": {"cpus": 4, "memoryGb": 8,
                   "accelerators": {"type": "NVIDIA_TESLA_V100", "count": 8}},
})

# Runs the synthetic trainer with a per-replica --fail-mode. argv[1] is
# "TYPE=MODE,TYPE:INDEX=MODE,..." (TYPE:INDEX wins over TYPE).
ROLE_WRAPPER = """
import json, os, sys
modes = dict(p.split("=", 1) for p in sys.argv[1].split(",") if p)
task = json.loads(os.environ["TF_CONFIG"])["task"]
mode = modes.get("%s:%s" % (task["type"], task["index"]), modes.get(task["type"], ""))
os.execv(sys.executable, [sys.executable, sys.argv[2]] + sys.argv[3:] +
         (["--fail-mode=" + mode] if mode else []))
"""


def role_command(modes, *trainer_args):
    return [PYTHON, "-c", ROLE_WRAPPER, modes, str(SYNTHETIC), *trainer_args]


class Lab:
    """A master with the seed-lab machine types and agents on fake hosts."""

    def __init__(self, tmp_path, hosts=HOSTS, master_config="", memory_gb=64):
        self.memory_gb = memory_gb
        self.dumps = tmp_path / "dumps"
        self.dumps.mkdir()
        tiers = yaml.safe_dump({"scaleTiers": SEED_LAB["scaleTiers"]}, default_flow_style=False)
        self.cluster = Cluster(tmp_path, machine_types=MACHINE_TYPES, extra_config=tiers,
                               master_config=master_config)
        self.cluster.start_master()
        for name in hosts:
            self.start_agent(name)

    def start_agent(self, name):
        topology, cores, ports = HOSTS[name]
        return self.cluster.start_agent(
            name, cpus=cores, memory_gb=self.memory_gb,
            extra=["--topology", str(TOPOLOGIES / topology), "--ports", ports,
                   "--advertise", "127.0.0.1"],
            env={"HPT_TEST_DUMP_DIR": str(self.dumps)})

    def tasks(self, job_id):
        """The master's stored tasks of job_id: dicts with trial, type,
        index, agent, state, attempt, placement, exit_code and signal."""
        db = sqlite3.connect(f"file:{self.cluster.state / 'hpt.db'}?mode=ro", uri=True,
                             timeout=10)
        try:
            rows = db.execute("SELECT trial_id, replica_type, replica_index, agent, state, "
                              "attempt, placement_json, exit_code, signal FROM tasks "
                              "WHERE job_id = ? "
                              "ORDER BY trial_id, replica_type, replica_index, attempt",
                              (job_id,)).fetchall()
        finally:
            db.close()
        return [{"trial": str(r[0]), "type": r[1], "index": r[2], "agent": r[3], "state": r[4],
                 "attempt": r[5], "placement": json.loads(r[6]) if r[6] else None,
                 "exit_code": r[7], "signal": r[8]}
                for r in rows]

    def read_dumps(self, job_id=None):
        return [d for d in read_dumps(self.dumps)
                if job_id is None or d["env"].get("HPT_JOB_ID") == job_id]

    def stop(self):
        self.cluster.stop()


@pytest.fixture
def lab(tmp_path):
    labs = []

    def make(hosts=HOSTS, master_config="", memory_gb=64):
        labs.append(Lab(tmp_path, hosts, master_config, memory_gb))
        return labs[-1]
    yield make
    for made in labs:
        made.stop()


def agent_of(record):
    """The agent whose workdir a dumped task ran in."""
    return pathlib.PurePath(record["cwd"]).parts[-3].removeprefix("agent-")


def numa_of_gpus(name):
    """gpu index -> NUMA node, and NUMA node -> cores, of a fake host."""
    topology = json.loads(subprocess.run(
        [str(BIN / "hptagent"), "--print-topology", "--topology", str(TOPOLOGIES / HOSTS[name][0])],
        check=True, capture_output=True, text=True).stdout)
    gpus = {a["index"]: a["numaNode"] for a in topology["accelerators"]}
    cores = {n["index"]: set(n["cpus"]) for n in topology["numaNodes"]}
    return gpus, cores


# --- the seed's cluster ------------------------------------------------------

def test_seed_cluster_tf_config(lab):
    # 12 GB an agent: the cluster (10 x 2 GB + 3 x 4 GB) must span hosts.
    lab = lab(memory_gb=12)
    seed = yaml.safe_load(SEED_CONFIG.read_text())["trainingInput"]
    seed["hyperparameters"]["maxTrials"] = 1
    seed["command"] = role_command("worker=hang,ps=hang", "--steps=3", "--sleep=0.5")
    lab.cluster.submit("seed", seed)
    job = lab.cluster.wait_job("seed", timeout=60)
    assert job["state"] == "SUCCEEDED", job
    (trial,) = job["trainingOutput"]["trials"]
    assert trial["state"] == "SUCCEEDED", trial
    assert trial["finalMetric"]["trainingStep"] == "3", trial

    dumps = lab.read_dumps("seed")
    assert len(dumps) == 13, [d["file"] for d in dumps]
    configs = [json.loads(d["env"]["TF_CONFIG"]) for d in dumps]
    cluster = configs[0]["cluster"]
    assert sorted(cluster) == ["master", "ps", "worker"]
    assert (len(cluster["master"]), len(cluster["worker"]), len(cluster["ps"])) == (1, 9, 3)
    addresses = cluster["master"] + cluster["worker"] + cluster["ps"]
    assert len(set(addresses)) == 13, addresses
    tasks = set()
    for record, config in zip(dumps, configs):
        assert config["cluster"] == cluster, record["file"]
        assert config["environment"] == "cloud"
        task = config["task"]
        assert task["trial"] == "1"
        tasks.add((task["type"], task["index"]))
        # The address of the task's own slot is on the agent that ran it:
        # each agent has its own port range.
        host, port = cluster[task["type"]][task["index"]].rsplit(":", 1)
        low, high = map(int, HOSTS[agent_of(record)][2].split("-"))
        assert host == "127.0.0.1" and low <= int(port) <= high, (record["cwd"], task)
        assert record["env"]["CLUSTER_SPEC"] and json.loads(record["env"]["CLUSTER_SPEC"])[
            "cluster"] == cluster
    assert tasks == {("master", 0)} | {("worker", i) for i in range(9)} | \
        {("ps", i) for i in range(3)}
    hosts = {agent_of(d) for d in dumps}
    assert len(hosts) >= 3, hosts
    for name in hosts:
        assert sum(MACHINE_TYPES[{"ps": "large_model"}.get(
            json.loads(d["env"]["TF_CONFIG"])["task"]["type"], "complex_model_m")]["memoryGb"]
            for d in dumps if agent_of(d) == name) <= 12, name
    # The master exiting 0 ended the trial: the hanging workers and
    # parameter servers were stopped.
    wait_for(lambda: not any(pid_alive(d["pid"]) for d in dumps), timeout=15,
             what="every task of the trial to be stopped")
    master = next(c for c in configs if c["task"]["type"] == "master")
    print("\nTF_CONFIG of the seed's master task:\n" + json.dumps(master, indent=1))


def test_only_the_masters_metrics_count(lab):
    lab = lab(hosts=("cpu32",))
    spec = synthetic_job(max_trials=1, parallel=1)
    spec.update(scaleTier="CUSTOM", masterType="small", workerType="small", workerCount=2,
                command=role_command("worker=hang", "--steps=3", "--sleep=0.2"))
    lab.cluster.submit("whose", spec)
    job = lab.cluster.wait_job("whose", timeout=60)
    assert job["state"] == "SUCCEEDED", job
    (trial,) = job["trainingOutput"]["trials"]
    # The workers reported step 1 once each before hanging; the curve is
    # the master's three steps.
    assert len(lab.read_dumps("whose")) == 3
    assert [int(m["trainingStep"]) for m in trial["allMetrics"]] == [1, 2, 3], trial


def test_evaluators_are_not_in_the_cluster_and_are_stopped(lab):
    lab = lab(hosts=("cpu32",))
    spec = synthetic_job(max_trials=1, parallel=1)
    spec.update(scaleTier="CUSTOM", masterType="small", workerType="small", workerCount=1,
                evaluatorType="small", evaluatorCount=1, useChiefInTfConfig=True,
                command=role_command("worker=hang,evaluator=hang", "--steps=3", "--sleep=0.3"))
    lab.cluster.submit("evals", spec)
    job = lab.cluster.wait_job("evals", timeout=60)
    assert job["state"] == "SUCCEEDED", job
    dumps = lab.read_dumps("evals")
    configs = {json.loads(d["env"]["TF_CONFIG"])["task"]["type"]: json.loads(d["env"]["TF_CONFIG"])
               for d in dumps}
    assert sorted(configs) == ["chief", "evaluator", "worker"], configs
    for config in configs.values():
        assert sorted(config["cluster"]) == ["chief", "worker"], config
    assert configs["evaluator"]["task"] == {"type": "evaluator", "index": 0, "trial": "1"}
    wait_for(lambda: not any(pid_alive(d["pid"]) for d in dumps), timeout=15,
             what="the evaluator and worker to be stopped")


# --- GPUs ----------------------------------------------------------------------

def test_basic_gpu_gets_one_v100(lab):
    lab = lab(hosts=("gpu-a",))
    spec = synthetic_job(max_trials=1, parallel=1, extra_args=["--steps=1"])
    spec["scaleTier"] = "BASIC_GPU"
    spec["masterConfig"] = {"acceleratorConfig": {"type": "NVIDIA_TESLA_V100", "count": 1}}
    lab.cluster.submit("gpu1", spec)
    job = lab.cluster.wait_job("gpu1", timeout=60)
    assert job["state"] == "SUCCEEDED", job
    (record,) = lab.read_dumps("gpu1")
    (task,) = lab.tasks("gpu1")
    gpus = task["placement"]["gpus"]
    assert len(gpus) == 1 and task["agent"] == "gpu-a", task
    assert record["env"]["CUDA_VISIBLE_DEVICES"] == str(gpus[0])
    assert record["env"]["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"


def two_gpu_pair_trials(lab, job_id):
    """Two trials of one 2-V100 task each, at once, on one GPU host;
    returns the finished job and the stored tasks."""
    spec = synthetic_job(max_trials=2, parallel=2, extra_args=["--steps=3", "--sleep=0.3"])
    spec["scaleTier"] = "CUSTOM"
    spec["masterType"] = "gpu_pair"
    lab.cluster.submit(job_id, spec)
    # Both trials are placed at once (they overlap in time).
    wait_for(lambda: len([t for t in lab.tasks(job_id) if t["placement"]]) == 2, timeout=30,
             what="both trials placed")
    job = lab.cluster.wait_job(job_id, timeout=60)
    return job, lab.tasks(job_id)


def test_two_gpu_pairs_placed_on_one_numa_node_each(lab):
    lab = lab(hosts=("gpu-a",))
    _, tasks = two_gpu_pair_trials(lab, "pairs")
    gpu_numa, numa_cores = numa_of_gpus("gpu-a")
    assert len(tasks) == 2, tasks
    pairs = [set(t["placement"]["gpus"]) for t in tasks]
    assert all(len(p) == 2 for p in pairs) and not pairs[0] & pairs[1], pairs
    for task, pair in zip(tasks, pairs):
        nodes = {gpu_numa[g] for g in pair}
        assert len(nodes) == 1, (task, nodes)
        cores = set(task["placement"]["cores"])
        # gpu_pair asks for 4 CPUs: 4 cores, all local to its GPUs.
        assert len(cores) == 4 and cores <= numa_cores[nodes.pop()], task
    assert not set(tasks[0]["placement"]["cores"]) & set(tasks[1]["placement"]["cores"])


def core_pus(name):
    """core index -> set of PU (OS CPU) numbers in the fake host's XML."""
    import xml.etree.ElementTree as ET
    pus = {}
    for core in ET.parse(TOPOLOGIES / HOSTS[name][0]).iter("object"):
        if core.get("type") == "Core":
            pus[int(core.get("os_index"))] = {int(p.get("os_index")) for p in core.iter("object")
                                              if p.get("type") == "PU"}
    return pus


# The fake GPU host's NUMA node 1 is cores 8-15 (CPUs 16-31). On a machine
# with fewer CPUs the agent binds a task only to the listed CPUs that exist
# here, and runs it unbound when there are none.
def test_two_gpu_trials_run_bound_to_their_numa_node(lab):
    lab = lab(hosts=("gpu-a",))
    job, tasks = two_gpu_pair_trials(lab, "bound")
    assert job["state"] == "SUCCEEDED", job
    pus = core_pus("gpu-a")
    here = os.sched_getaffinity(0)
    dumps = {d["env"]["CLOUD_ML_TRIAL_ID"]: d for d in lab.read_dumps("bound")}
    for task in tasks:
        record = dumps[task["trial"]]
        gpus = task["placement"]["gpus"]
        assert record["env"]["CUDA_VISIBLE_DEVICES"] == ",".join(map(str, gpus)), record
        assert record["env"]["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
        # Bound to the CPUs of its cores that exist here; unbound (all of
        # ours) where none does.
        wanted = set().union(*(pus[c] for c in task["placement"]["cores"]))
        assert set(record["affinity"]) == ((wanted & here) or here), (task, record["affinity"])


# --- TPU -------------------------------------------------------------------------

def basic_tpu(lab, job_id):
    spec = synthetic_job(max_trials=1, parallel=1, extra_args=["--steps=1"])
    spec["scaleTier"] = "BASIC_TPU"
    spec["command"] = role_command("worker=hang", "--steps=2", "--sleep=0.4")
    spec["workerConfig"] = {"acceleratorConfig": {"type": "TPU_V4", "count": 1}}
    lab.cluster.submit(job_id, spec)
    job = lab.cluster.wait_job(job_id, timeout=60)
    assert job["state"] == "SUCCEEDED", job
    return job


def test_basic_tpu_lands_on_tpu_host(lab):
    lab = lab()
    basic_tpu(lab, "tpu1")
    tasks = {(t["type"], t["index"]): t for t in lab.tasks("tpu1")}
    assert sorted(tasks) == [("master", 0), ("worker", 0)], tasks
    worker = tasks[("worker", 0)]
    assert worker["agent"] == "tpu" and worker["placement"]["tpus"] == [0], worker
    assert tasks[("master", 0)]["placement"]["tpus"] == []
    dumps = {json.loads(d["env"]["TF_CONFIG"])["task"]["type"]: d for d in lab.read_dumps("tpu1")}
    assert agent_of(dumps["worker"]) == "tpu"
    assert dumps["worker"]["env"]["CUDA_VISIBLE_DEVICES"] == ""
    # The TPU visibility variable names the host's chips; the master
    # replica, with no TPU, gets none.
    assert dumps["worker"]["env"].get("TPU_VISIBLE_CHIPS") == "0", dumps["worker"]["env"]
    assert "TPU_VISIBLE_CHIPS" not in dumps["master"]["env"], dumps["master"]["env"]




# --- failures and feasibility -----------------------------------------------------

def test_worker_failure_fails_trial_and_stops_the_rest(lab):
    lab = lab(hosts=("cpu32",))
    spec = synthetic_job(max_trials=1, parallel=1)
    # Every replica but worker 1 would run forever; worker 1 reports once
    # after a second (so that its siblings have started) and exits 1.
    spec.update(scaleTier="CUSTOM", masterType="small", workerType="small", workerCount=3,
                parameterServerType="small", parameterServerCount=1,
                command=role_command("master=hang,worker=hang,ps=hang,worker:1=exit1",
                                     "--sleep=1"))
    lab.cluster.submit("wfail", spec)
    job = lab.cluster.wait_job("wfail", timeout=60)
    assert job["state"] == "FAILED", job
    (trial,) = job["trainingOutput"]["trials"]
    assert trial["state"] == "FAILED", trial
    assert "worker-1" in trial["errorMessage"] and "status 1" in trial["errorMessage"], trial
    tasks = {(t["type"], t["index"]): t for t in lab.tasks("wfail")}
    assert len(tasks) == 5, tasks
    wait_for(lambda: all(t["state"] == "EXITED" for t in lab.tasks("wfail")), timeout=15,
             what="every task of the failed trial to exit")
    tasks = {(t["type"], t["index"]): t for t in lab.tasks("wfail")}
    assert tasks[("worker", 1)]["exit_code"] == 1, tasks
    # The others cannot end on their own: they were stopped by a signal.
    for key, task in tasks.items():
        if key != ("worker", 1):
            assert task["signal"], (key, task)
    dumps = lab.read_dumps("wfail")
    assert not [d["pid"] for d in dumps if pid_alive(d["pid"])], dumps


def test_infeasible_job_rejected_naming_the_resource(lab):
    lab = lab()
    cases = [  # (machine type, masterConfig, what the message must name)
        ("v100_eight", None, "8 x NVIDIA_TESLA_V100"),
        ("huge_cpu", None, "40 CPUs"),
        ("small", {"acceleratorConfig": {"type": "TPU_V3", "count": 8}}, "TPU_V3"),
    ]
    for machine_type, config, needed in cases:
        spec = synthetic_job(max_trials=1, parallel=1)
        spec.update(scaleTier="CUSTOM", masterType=machine_type)
        if config:
            spec["masterConfig"] = config
        with pytest.raises(ApiError) as err:
            lab.cluster.submit("huge", spec)
        assert err.value.status == 400, err.value.body
        message = err.value.body["error"]["message"]
        assert err.value.body["error"]["status"] == "INVALID_ARGUMENT"
        assert "master-0" in message and needed in message, message
        with pytest.raises(ApiError) as missing:
            lab.cluster.job("huge")
        assert missing.value.status == 404


# --- node drain ---------------------------------------------------------------------

def two_nodes(tmp_path, dumps):
    """A master and two 1-CPU agents n1 and n2 (one BASIC trial each)."""
    cluster = Cluster(tmp_path)
    cluster.start_master()
    for name in ("n1", "n2"):
        cluster.start_agent(name, cpus=1, memory_gb=2, env={"HPT_TEST_DUMP_DIR": str(dumps)})
    return cluster


def on_node(dumps, name, job_id, alive=True):
    return [d for d in read_dumps(dumps) if agent_of(d) == name
            and d["env"]["HPT_JOB_ID"] == job_id and (not alive or pid_alive(d["pid"]))]


def trial_ids(records):
    return {d["env"]["CLOUD_ML_TRIAL_ID"] for d in records}


def test_drain_then_undrain_survives_restarts(tmp_path):
    dumps = tmp_path / "dumps"
    cluster = two_nodes(tmp_path, dumps)
    try:
        cluster.submit("d1", synthetic_job(max_trials=6, parallel=2,
                                           extra_args=["--steps=4", "--sleep=0.3"]))
        running = wait_for(lambda: on_node(dumps, "n1", "d1"), timeout=30, what="a task on n1")
        result = cluster.hpt("nodes", "drain", "n1", "--reason", "maint", check=True)
        assert "n1" in result.stderr and "DRAINING" in result.stderr, result.stderr
        node = cluster.node("n1")
        assert node["drainState"] == "DRAINING" and node["drainReason"] == "maint", node
        assert node.get("drainedBy") and node.get("drainTime"), node
        drained_at = time.time()
        # The running task is left to finish; then the node is DRAINED.
        wait_for(lambda: cluster.node("n1")["drainState"] == "DRAINED", timeout=30,
                 what="n1 DRAINED")
        assert not any(pid_alive(d["pid"]) for d in running)
        job = cluster.wait_job("d1", timeout=60)
        assert job["state"] == "SUCCEEDED", job
        by_id = {t["trialId"]: t for t in job["trainingOutput"]["trials"]}
        assert sorted(map(int, by_id)) == list(range(1, 7))
        assert all(t["state"] == "SUCCEEDED" for t in by_id.values()), by_id
        # The trial that ran on n1 when it was drained was not disturbed.
        (drained_trial,) = trial_ids(running)
        assert len([d for d in read_dumps(dumps)
                    if d["env"]["CLOUD_ML_TRIAL_ID"] == drained_trial]) == 1
        # No task started on n1 after the drain.
        late_n1 = [d for d in on_node(dumps, "n1", "d1", alive=False)
                   if (dumps / d["file"]).stat().st_mtime > drained_at]
        assert not late_n1, late_n1
        assert len(on_node(dumps, "n2", "d1", alive=False)) >= 4

        described = cluster.hpt("nodes", "describe", "n1", "--format", "json", check=True)
        assert json.loads(described.stdout)["drainReason"] == "maint"

        # The drain survives a master SIGKILL and restart, and the agent's
        # SIGKILL and reconnect.
        cluster.kill(cluster.master, signal.SIGKILL)
        cluster.start_master()
        wait_for(lambda: (cluster.node("n1") or {}).get("state") == "READY", timeout=15,
                 what="n1 back after the master restart")
        node = cluster.node("n1")
        assert node["drainState"] == "DRAINED" and node["drainReason"] == "maint", node
        # (A restarted agent is refused while its old self may still be
        # alive, so it comes back once the master has declared it LOST.)
        cluster.kill(cluster.agents["n1"], signal.SIGKILL)
        wait_for(lambda: cluster.node("n1")["state"] == "LOST", timeout=15, what="n1 LOST")
        cluster.start_agent("n1", cpus=1, memory_gb=2, env={"HPT_TEST_DUMP_DIR": str(dumps)})
        node = cluster.node("n1")
        assert node["drainState"] == "DRAINED" and node["drainReason"] == "maint", node

        # Still drained: a 2-trial job runs its trials one after the other
        # on n2.
        cluster.submit("d2", synthetic_job(max_trials=2, parallel=2, extra_args=["--steps=1"]))
        assert cluster.wait_job("d2", timeout=60)["state"] == "SUCCEEDED"
        assert not on_node(dumps, "n1", "d2", alive=False)

        # Undrained, n1 takes work again.
        result = cluster.hpt("nodes", "undrain", "n1", check=True)
        assert "NONE" in result.stderr, result.stderr
        assert cluster.node("n1")["drainState"] == "NONE"
        cluster.submit("d3", synthetic_job(max_trials=2, parallel=2,
                                           extra_args=["--steps=2", "--sleep=0.3"]))
        assert cluster.wait_job("d3", timeout=60)["state"] == "SUCCEEDED"
        assert len(on_node(dumps, "n1", "d3", alive=False)) == 1
    finally:
        cluster.stop()


def test_draining_survives_a_master_restart(tmp_path):
    dumps = tmp_path / "dumps"
    cluster = two_nodes(tmp_path, dumps)
    try:
        cluster.submit("dr", synthetic_job(max_trials=4, parallel=2,
                                           extra_args=["--steps=6", "--sleep=0.3"]))
        running = wait_for(lambda: on_node(dumps, "n1", "dr"), timeout=30, what="a task on n1")
        cluster.hpt("nodes", "drain", "n1", "--reason", "disk", check=True)
        drained_at = time.time()
        assert cluster.node("n1")["drainState"] == "DRAINING"
        cluster.kill(cluster.master, signal.SIGKILL)
        cluster.start_master()
        node = cluster.node("n1")
        assert node["drainState"] in ("DRAINING", "DRAINED") and node["drainReason"] == "disk", node
        # The task it still ran was reconciled, and its end drains the node.
        wait_for(lambda: cluster.node("n1")["drainState"] == "DRAINED", timeout=30,
                 what="n1 DRAINED after the restart")
        job = cluster.wait_job("dr", timeout=60)
        assert job["state"] == "SUCCEEDED", job
        assert all(t["state"] == "SUCCEEDED" for t in job["trainingOutput"]["trials"])
        assert not [d for d in on_node(dumps, "n1", "dr", alive=False)
                    if (dumps / d["file"]).stat().st_mtime > drained_at]
        assert len(read_dumps(dumps)) == 4  # each trial once
        assert not any(pid_alive(d["pid"]) for d in running)
    finally:
        cluster.stop()


def test_drain_now_requeues_the_node_s_trials(tmp_path):
    dumps = tmp_path / "dumps"
    cluster = two_nodes(tmp_path, dumps)
    try:
        # maxFailedTrials 0: a preempted trial counted as failed would fail
        # the job at once.
        cluster.submit("dn", synthetic_job(max_trials=4, parallel=2,
                                           extra_args=["--steps=5", "--sleep=0.3"]))
        running = wait_for(lambda: on_node(dumps, "n1", "dn"), timeout=30, what="a task on n1")
        (preempted,) = trial_ids(running)
        # Preempt it once the master holds some of its points.
        wait_for(lambda: [t for t in cluster.job("dn")["trainingOutput"]["trials"]
                          if t["trialId"] == preempted and t["allMetrics"]],
                 timeout=10, what="a point of n1's trial")
        assert all(pid_alive(d["pid"]) for d in running), "n1's task ended before the drain"
        cluster.hpt("nodes", "drain", "n1", "--now", "--reason", "preempt", check=True)
        drained_at = time.time()
        wait_for(lambda: not any(pid_alive(d["pid"]) for d in running), timeout=15,
                 what="n1's task to be stopped")
        wait_for(lambda: cluster.node("n1")["drainState"] == "DRAINED", timeout=15,
                 what="n1 DRAINED")
        job = cluster.wait_job("dn", timeout=60)
        assert job["state"] == "SUCCEEDED", job
        output = job["trainingOutput"]
        assert sorted(int(t["trialId"]) for t in output["trials"]) == [1, 2, 3, 4]
        assert all(t["state"] == "SUCCEEDED" for t in output["trials"]), output["trials"]
        assert int(output["completedTrialCount"]) == 4
        # Each learning curve is one run's: the preempted run's points are
        # not mixed into its retry's.
        for trial in output["trials"]:
            steps = sorted(int(m["trainingStep"]) for m in trial["allMetrics"])
            assert steps == [1, 2, 3, 4, 5], (trial["trialId"], steps)
        # The preempted trial ran again on n2, with the same arguments; no
        # other trial ran twice, and nothing started on n1 after the drain.
        runs = [d for d in read_dumps(dumps) if d["env"]["CLOUD_ML_TRIAL_ID"] == preempted]
        assert [agent_of(d) for d in sorted(runs, key=lambda d: (dumps / d["file"]).stat()
                                            .st_mtime)] == ["n1", "n2"], runs
        assert runs[0]["argv"] == runs[1]["argv"]
        counts = {}
        for d in read_dumps(dumps):
            counts[d["env"]["CLOUD_ML_TRIAL_ID"]] = counts.get(d["env"]["CLOUD_ML_TRIAL_ID"], 0) + 1
        assert counts == {str(i): 2 if str(i) == preempted else 1 for i in range(1, 5)}, counts
        assert not [d for d in on_node(dumps, "n1", "dn", alive=False)
                    if (dumps / d["file"]).stat().st_mtime > drained_at]
        assert cluster.node("n1")["drainReason"] == "preempt"
    finally:
        cluster.stop()


# --- priorities -----------------------------------------------------------------------

def test_higher_priority_job_runs_first(tmp_path):
    dumps = tmp_path / "dumps"
    cluster = Cluster(tmp_path)
    cluster.start_master()
    cluster.start_agent("solo", cpus=1, memory_gb=2, env={"HPT_TEST_DUMP_DIR": str(dumps)})
    try:
        cluster.submit("low", synthetic_job(max_trials=3, parallel=1,
                                            extra_args=["--steps=4", "--sleep=0.3"]))
        first = wait_for(lambda: on_node(dumps, "solo", "low"), timeout=30,
                         what="low's first trial")
        high = synthetic_job(max_trials=2, parallel=1, extra_args=["--steps=2", "--sleep=0.2"])
        high["scheduling"] = {"priority": 100}
        cluster.submit("high", high)
        assert all(pid_alive(d["pid"]) for d in first), "low's first trial ended too soon"
        assert cluster.wait_job("low", timeout=60)["state"] == "SUCCEEDED"
        assert cluster.wait_job("high", timeout=60)["state"] == "SUCCEEDED"
        # Launch order, from the trainers' own records: low's first trial
        # (running before high came), then high's two, then low's others.
        order = [(d["env"]["HPT_JOB_ID"], d["env"]["CLOUD_ML_TRIAL_ID"])
                 for d in sorted(read_dumps(dumps),
                                 key=lambda d: (dumps / d["file"]).stat().st_mtime)]
        assert order == [("low", "1"), ("high", "1"), ("high", "2"), ("low", "2"),
                         ("low", "3")], order
    finally:
        cluster.stop()


def test_waiting_large_cluster_is_not_starved_by_small_trials(tmp_path):
    """The reservation rule: a 2-CPU trial at the head of the queue waits
    for a 2-CPU agent that runs a 1-CPU trial; a later 1-CPU job, which
    would fit in the free CPU, must not take it and delay the big one."""
    dumps = tmp_path / "dumps"
    cluster = Cluster(tmp_path, machine_types={"standard": {"cpus": 1, "memoryGb": 0.5},
                                               "big": {"cpus": 2, "memoryGb": 0.5}})
    cluster.start_master()
    cluster.start_agent("solo", cpus=2, memory_gb=2, env={"HPT_TEST_DUMP_DIR": str(dumps)})
    try:
        cluster.submit("first", synthetic_job(max_trials=2, parallel=1,
                                              extra_args=["--steps=4", "--sleep=0.3"]))
        wait_for(lambda: on_node(dumps, "solo", "first"), timeout=30, what="first's trial")
        big = synthetic_job(max_trials=1, parallel=1, extra_args=["--steps=2", "--sleep=0.2"])
        big.update(scaleTier="CUSTOM", masterType="big", scheduling={"priority": 10})
        cluster.submit("big", big)
        cluster.submit("small", synthetic_job(max_trials=1, parallel=1, extra_args=["--steps=1"]))
        waiting = cluster.job("big")
        assert waiting["state"] in ("QUEUED", "PREPARING", "RUNNING"), waiting
        assert waiting.get("hptQueueReason"), waiting
        for job_id in ("first", "big", "small"):
            assert cluster.wait_job(job_id, timeout=60)["state"] == "SUCCEEDED", job_id
        order = [(d["env"]["HPT_JOB_ID"], d["env"]["CLOUD_ML_TRIAL_ID"])
                 for d in sorted(read_dumps(dumps),
                                 key=lambda d: (dumps / d["file"]).stat().st_mtime)]
        assert order[:2] == [("first", "1"), ("big", "1")], order
        assert sorted(order[2:]) == [("first", "2"), ("small", "1")], order
    finally:
        cluster.stop()
