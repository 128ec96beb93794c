"""GPU depth without a GPU (issue 20): the agent over the scripted fake NVML
(tests/fakenvml, loaded with HPT_NVML_LIBRARY, driven by the JSON hosts in
tests/data/fakenvml) and over hwloc XML alone.

- the link matrix in --print-topology (what HELLO carries) and --matrix;
- MIG instances as devices of their own type, placed by the master and
  given to the trainer by MIG UUID in CUDA_VISIBLE_DEVICES;
- GPU samples (utilization, memory, power, temperature) as metric points
  of the trial holding the GPU, under hpt/gpu/<index>/...;
- the master's interconnect-aware choice on a host whose only NVLink pair
  must not be split by a 1-GPU task.

The same checks on a real GPU are tests/device/gpu_check.sh, run by hand
on a host with an NVIDIA driver (docs/scheduling.md, "Proving it")."""
import json
import os
import pathlib
import subprocess

import pytest

from hpt_harness import BIN, SRC, Cluster, read_dumps, synthetic_job, wait_for

TOPOLOGIES = SRC / "tests" / "data" / "topologies"
FAKE_HOSTS = SRC / "tests" / "data" / "fakenvml"
FAKE_NVML = BIN.parent / "tests" / "libhpt-fakenvml.so"


def fake_env(host):
    return {"HPT_NVML_LIBRARY": str(FAKE_NVML), "HPT_FAKE_NVML": str(FAKE_HOSTS / host)}


def print_topology(*args, env=None, topology="cpu-host-32.xml"):
    full = dict(os.environ)
    full.pop("HPT_NVML_LIBRARY", None)
    full.update(env or {})
    result = subprocess.run([str(BIN / "hptagent"), "--print-topology", "--topology",
                             str(TOPOLOGIES / topology), *args],
                            capture_output=True, text=True, env=full, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def gpus(document):
    return [a for a in document["accelerators"] if not a["type"].startswith("TPU")]


def test_nvswitch_host_links():
    doc = json.loads(print_topology(env=fake_env("dgx-h100.json")))
    assert doc["discovery"] == "xml+nvml"
    found = gpus(doc)
    assert [g["type"] for g in found] == ["NVIDIA_H100_80GB"] * 8
    for gpu in found:
        peers = {str(i): "NV18" for i in range(8) if i != gpu["index"]}
        assert gpu["links"] == peers, gpu
    matrix = print_topology("--matrix", env=fake_env("dgx-h100.json"))
    rows = [line.split() for line in matrix.splitlines() if line.startswith("GPU")]
    assert rows[0][:9] == ["GPU0", "X"] + ["NV18"] * 7
    assert rows[7][:9] == ["GPU7"] + ["NV18"] * 7 + ["X"]


def test_nvlink_pairs_and_pcie_paths():
    doc = json.loads(print_topology(env=fake_env("a100-nvlink-pairs.json")))
    links = {g["index"]: g["links"] for g in gpus(doc)}
    assert links[0] == {"1": "NV12", "2": "SYS", "3": "SYS"}
    assert links[3] == {"0": "SYS", "1": "SYS", "2": "NV12"}


def test_hwloc_links_without_nvml():
    # Two V100s per socket, each under its own host bridge: NODE within a
    # socket, SYS across.
    doc = json.loads(print_topology(topology="gpu-host-v100-a.xml"))
    assert doc["discovery"] == "xml"
    links = {g["index"]: g["links"] for g in gpus(doc)}
    assert links[0] == {"1": "NODE", "2": "SYS", "3": "SYS"}
    assert links[2] == {"0": "SYS", "1": "SYS", "3": "NODE"}


def test_hwloc_pcie_switches():
    # tests/data/topologies/gpu-host-pcie-switches.xml: GPUs 0 and 1 below
    # one PCIe switch, 2 behind a second switch below it, 3 on the same
    # host bridge without a switch, 4 on another host bridge of socket 0,
    # 5 on socket 1.
    doc = json.loads(print_topology(topology="gpu-host-pcie-switches.xml"))
    links = {g["index"]: g["links"] for g in gpus(doc)}
    assert links[0] == {"1": "PIX", "2": "PXB", "3": "PHB", "4": "NODE", "5": "SYS"}
    assert links[2] == {"0": "PXB", "1": "PXB", "3": "PHB", "4": "NODE", "5": "SYS"}
    assert links[5]["4"] == "SYS"
    matrix = print_topology("--matrix", topology="gpu-host-pcie-switches.xml")
    row = next(line.split() for line in matrix.splitlines() if line.startswith("GPU5"))
    assert row == ["GPU5", "SYS", "SYS", "SYS", "SYS", "SYS", "X", "1", "4-7"], row


def test_mig_instances_are_devices():
    doc = json.loads(print_topology(env=fake_env("a100-mig.json")))
    first, second = gpus(doc)
    assert first["migEnabled"] is True and "migEnabled" not in second
    assert [(m["type"], m["index"]) for m in first["mig"]] == [
        ("NVIDIA_A100_80GB_3G_40GB", 0), ("NVIDIA_A100_80GB_2G_20GB", 1),
        ("NVIDIA_A100_80GB_1G_10GB", 2), ("NVIDIA_A100_80GB_1G_10GB", 3)]
    assert first["mig"][2]["uuid"] == "MIG-aaaaaaaa-0000-5000-8000-000000000003"
    matrix = print_topology("--matrix", env=fake_env("a100-mig.json"))
    assert "MIG 3: NVIDIA_A100_80GB_1G_10GB MIG-aaaaaaaa-0000-5000-8000-000000000004" in matrix


def gpu_cluster(tmp_path, host, machine_types, extra=()):
    cluster = Cluster(tmp_path, machine_types=machine_types)
    cluster.start_master()
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    cluster.start_agent("gpu", cpus=8, memory_gb=16,
                        extra=["--topology", str(TOPOLOGIES / "cpu-host-32.xml"), *extra],
                        env=dict(fake_env(host), HPT_TEST_DUMP_DIR=str(dumps)))
    return cluster, dumps


def test_mig_job_gets_mig_uuids(tmp_path):
    small = {"cpus": 1, "memoryGb": 1,
             "accelerators": {"type": "NVIDIA_A100_80GB_1G_10GB", "count": 1}}
    cluster, dumps = gpu_cluster(tmp_path, "a100-mig.json", {"mig_small": small})
    try:
        node = cluster.node("gpu")
        types = sorted(a["type"] for a in node["accelerators"])
        assert types == ["NVIDIA_A100_80GB", "NVIDIA_A100_80GB_1G_10GB",
                         "NVIDIA_A100_80GB_1G_10GB", "NVIDIA_A100_80GB_2G_20GB",
                         "NVIDIA_A100_80GB_3G_40GB"], node
        spec = synthetic_job(max_trials=2, parallel=2, extra_args=["--steps=3", "--sleep=0.3"])
        spec.update(scaleTier="CUSTOM", masterType="mig_small")
        cluster.submit("mig1", spec)
        job = cluster.wait_job("mig1", timeout=90)
        assert job["state"] == "SUCCEEDED", job
        seen = sorted(r["env"]["CUDA_VISIBLE_DEVICES"] for r in read_dumps(dumps))
        assert seen == ["MIG-aaaaaaaa-0000-5000-8000-000000000003",
                        "MIG-aaaaaaaa-0000-5000-8000-000000000004"], seen
    finally:
        cluster.stop()


def test_one_gpu_task_keeps_the_nvlink_pair(tmp_path):
    # GPUs 0-1 are NVLinked, 2 and 3 are not: a 1-GPU trial goes to 2,
    # then the 2-GPU trial gets the pair whole.
    host = tmp_path / "host.json"
    spec = json.loads((FAKE_HOSTS / "a100-nvlink-pairs.json").read_text())
    for gpu in spec["gpus"][2:]:
        gpu.pop("nvlinks")
    host.write_text(json.dumps(spec))
    one = {"cpus": 1, "memoryGb": 1, "accelerators": {"type": "NVIDIA_A100_80GB", "count": 1}}
    two = {"cpus": 1, "memoryGb": 1, "accelerators": {"type": "NVIDIA_A100_80GB", "count": 2}}
    cluster, dumps = gpu_cluster(tmp_path, host, {"one": one, "two": two})
    try:
        first = synthetic_job(max_trials=1, parallel=1, extra_args=["--steps=40", "--sleep=0.1"])
        first.update(scaleTier="CUSTOM", masterType="one")
        cluster.submit("single", first)
        wait_for(lambda: read_dumps(dumps), timeout=30, what="the 1-GPU trial started")
        second = synthetic_job(max_trials=1, parallel=1, extra_args=["--steps=1"])
        second.update(scaleTier="CUSTOM", masterType="two")
        cluster.submit("pair", second)
        for job_id in ("single", "pair"):
            assert cluster.wait_job(job_id, timeout=90)["state"] == "SUCCEEDED"
        given = {r["env"]["HPT_JOB_ID"]: r["env"]["CUDA_VISIBLE_DEVICES"] for r in read_dumps(dumps)}
        assert given == {"single": "2", "pair": "0,1"}, given
    finally:
        cluster.stop()


def test_utilization_points_of_the_trial(tmp_path):
    # The fake's GPUs report utilization 0, 50, then 95 on; the agent
    # samples every 200 ms, and the trial holding a GPU gets its figures.
    one = {"cpus": 1, "memoryGb": 1, "accelerators": {"type": "NVIDIA_H100_80GB", "count": 1}}
    cluster, dumps = gpu_cluster(tmp_path, "dgx-h100.json", {"one": one},
                                 extra=["--gpu-sample-ms", "200"])
    try:
        spec = synthetic_job(max_trials=1, parallel=1, extra_args=["--steps=15", "--sleep=0.1"])
        spec.update(scaleTier="CUSTOM", masterType="one")
        cluster.submit("util", spec)
        job = cluster.wait_job("util", timeout=90)
        assert job["state"] == "SUCCEEDED", job
        (record,) = read_dumps(dumps)
        gpu = record["env"]["CUDA_VISIBLE_DEVICES"]
        (trial,) = job["trainingOutput"]["trials"]
        base = f"/v1/projects/default/jobs/util/trials/{trial['trialId']}/metrics?tag="
        utilization = [m["value"]
                       for m in cluster.get(base + f"hpt/gpu/{gpu}/utilization")["metrics"]]
        assert len(utilization) >= 3, utilization
        # The monitor samples from the agent's start: the trial sees the
        # series from where it was, ending at 95.
        assert set(utilization) <= {0, 50, 95} and utilization[-1] == 95, utilization
        for figure in ("memory_used_gb", "power_watts", "temperature_c"):
            points = cluster.get(base + f"hpt/gpu/{gpu}/{figure}")["metrics"]
            assert points and all(p["value"] > 0 for p in points), (figure, points)
        # The objective is still the trainer's.
        assert trial["finalMetric"]["objectiveValue"] == pytest.approx(
            [m for m in trial["allMetrics"] if "trainingStep" in m][-1]["objectiveValue"])
        # No other GPU's figures went to this trial.
        other = (int(gpu) + 1) % 8
        assert cluster.get(base + f"hpt/gpu/{other}/utilization")["metrics"] == []
    finally:
        cluster.stop()


def test_xid_fails_the_gpu_and_its_trial(tmp_path):
    # A critical XID on the GPU a trial holds: the trial fails with the XID
    # in its message, the GPU leaves the pool (the node stays up for its
    # other GPUs), a restarted master remembers it, undrain returns it.
    control = tmp_path / "nvml.control"
    control.write_text("")
    host = tmp_path / "host.json"
    spec = json.loads((FAKE_HOSTS / "a100-nvlink-pairs.json").read_text())
    spec["control"] = str(control)
    host.write_text(json.dumps(spec))
    one = {"cpus": 1, "memoryGb": 1, "accelerators": {"type": "NVIDIA_A100_80GB", "count": 1}}
    cluster, dumps = gpu_cluster(tmp_path, host, {"one": one}, extra=["--gpu-sample-ms", "200"])
    try:
        job = synthetic_job(max_trials=1, parallel=1, extra_args=["--steps=600", "--sleep=0.1"])
        job.update(scaleTier="CUSTOM", masterType="one")
        cluster.submit("victim", job)
        wait_for(lambda: read_dumps(dumps), timeout=30, what="the trial started")
        (record,) = read_dumps(dumps)
        gpu = int(record["env"]["CUDA_VISIBLE_DEVICES"])
        with open(control, "a") as commands:
            commands.write(f"xid {gpu} 79\n")
        done = cluster.wait_job("victim", timeout=60)
        assert done["state"] == "FAILED", done
        assert "XID 79" in done["errorMessage"], done["errorMessage"]
        assert f"GPU {gpu} of agent gpu failed" in done["errorMessage"], done["errorMessage"]

        def shown():
            return {a["index"]: a for a in cluster.node("gpu")["accelerators"]}
        assert shown()[gpu]["health"] == "FAILED" and "XID 79" in shown()[gpu]["failure"]
        assert cluster.node("gpu")["state"] == "READY"
        # The next 1-GPU trials avoid it.
        again = synthetic_job(max_trials=3, parallel=3, extra_args=["--steps=1"])
        again.update(scaleTier="CUSTOM", masterType="one")
        cluster.submit("after", again)
        assert cluster.wait_job("after", timeout=60)["state"] == "SUCCEEDED"
        used = {int(r["env"]["CUDA_VISIBLE_DEVICES"]) for r in read_dumps(dumps)
                if r["env"]["HPT_JOB_ID"] == "after"}
        assert gpu not in used and len(used) >= 1, used
        # Kept across a master restart (stored with the node).
        cluster.kill(cluster.master)
        cluster.master.wait()
        cluster.start_master()
        wait_for(lambda: cluster.node("gpu") and cluster.node("gpu")["state"] == "READY",
                 what="the agent back")
        assert shown()[gpu]["health"] == "FAILED"
        # Undrain after the repair returns it.
        cluster.request("POST", "/v1/nodes/gpu:undrain", {})
        assert "health" not in shown()[gpu] and shown()[gpu]["free"] is True
    finally:
        cluster.stop()
