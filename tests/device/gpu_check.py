"""The real-GPU check (run by tests/device/gpu_check.sh on a GPU machine).

1. nvidia-smi's view (-q, topo -m, --query-gpu) beside hptagent's
   (--print-topology, --matrix): the same GPUs by UUID, PCI bus id, name,
   memory (within 1 GiB) and MIG mode, and the same link codes between
   every pair.
2. A one-trial job on a master and an agent on this host, asking for one
   GPU of the detected type: the trainer checks through the CUDA driver
   (libcuda.so.1, ctypes) that it sees exactly one device, whose UUID is
   that of the GPU the master placed it on; the trial's
   hpt/gpu/<index>/utilization points arrive.

Writes OUTDIR/summary.txt (one PASS/FAIL line per check) and the raw
outputs; exits 1 when a check failed."""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

SRC = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(SRC / "tests" / "integration"))
from hpt_harness import BIN, SYNTHETIC, Cluster, wait_for  # noqa: E402

OUT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "gpu-check")
RESULTS = []


def check(name, ok, detail=""):
    RESULTS.append(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
    print(RESULTS[-1], flush=True)


def run(*argv, save=None):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if save:
        (OUT / save).write_text(result.stdout + result.stderr)
    return result


def bus(text):
    """'00000000:3B:00.0' -> '0000:3b:00.0'."""
    domain, rest = text.strip().lower().split(":", 1)
    return f"{int(domain, 16):04x}:{rest}"


def smi_gpus():
    fields = "index,uuid,pci.bus_id,name,memory.total,mig.mode.current"
    result = run("nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits",
                 save="nvidia-smi-query.csv")
    gpus = []
    for line in result.stdout.strip().splitlines():
        index, uuid, bus_id, name, memory, mig = [f.strip() for f in line.split(",")]
        gpus.append({"uuid": uuid, "bus": bus(bus_id), "name": name,
                     "memoryGb": float(memory) / 1024, "mig": mig == "Enabled"})
    return gpus


def smi_matrix(gpu_count):
    """nvidia-smi topo -m: {(i, j): code} for the GPU rows."""
    text = run("nvidia-smi", "topo", "-m", save="nvidia-smi-topo.txt").stdout
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    links = {}
    for line in text.splitlines():
        cells = line.split()
        if not cells or not re.fullmatch(r"GPU\d+", cells[0]):
            continue
        row = int(cells[0][3:])
        for col, code in enumerate(cells[1:1 + gpu_count]):
            if col != row:
                links[(row, col)] = code
    return links


def compare_topology():
    run("nvidia-smi", "-q", save="nvidia-smi-q.txt")
    doc_text = run(str(BIN / "hptagent"), "--print-topology", save="print-topology.json").stdout
    run(str(BIN / "hptagent"), "--print-topology", "--matrix", save="matrix.txt")
    doc = json.loads(doc_text)
    check("discovery uses NVML", doc["discovery"] == "hwloc+nvml", doc["discovery"])
    ours = [a for a in doc["accelerators"] if not a["type"].startswith("TPU")]
    theirs = smi_gpus()
    check("GPU count", len(ours) == len(theirs), f"hpt {len(ours)}, nvidia-smi {len(theirs)}")
    by_uuid = {g["uuid"]: g for g in theirs}
    for gpu in ours:
        smi = by_uuid.get(gpu["uuid"])
        check(f"GPU {gpu['index']} UUID {gpu['uuid']}", smi is not None)
        if not smi:
            continue
        check(f"GPU {gpu['index']} PCI bus id", smi["bus"] == gpu["pciBusId"],
              f"hpt {gpu['pciBusId']}, nvidia-smi {smi['bus']}")
        check(f"GPU {gpu['index']} name", smi["name"] == gpu["name"],
              f"hpt {gpu['name']!r} ({gpu['type']}), nvidia-smi {smi['name']!r}")
        check(f"GPU {gpu['index']} memory", abs(smi["memoryGb"] - (gpu["memoryGb"] or 0)) < 1,
              f"hpt {gpu['memoryGb']}, nvidia-smi {smi['memoryGb']:.1f}")
        check(f"GPU {gpu['index']} MIG mode", smi["mig"] == bool(gpu.get("migEnabled")),
              f"NUMA node {gpu['numaNode']}, {len(gpu.get('mig', []))} MIG instances")
    theirs_links = smi_matrix(len(ours))
    for gpu in ours:
        for peer, code in gpu.get("links", {}).items():
            smi = theirs_links.get((gpu["index"], int(peer)))
            check(f"link GPU{gpu['index']}-GPU{peer}", smi == code,
                  f"hpt {code}, nvidia-smi {smi}")
    return ours


# Run as the trial's command: counts CUDA devices through the driver, and
# records what it saw before running the synthetic trainer long enough for
# utilization samples.
PROBE = r"""
import ctypes, json, os, sys
seen = {"CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES")}
try:
    cuda = ctypes.CDLL("libcuda.so.1")
    count = ctypes.c_int()
    seen["cuInit"] = cuda.cuInit(0)
    seen["cuDeviceGetCount"] = cuda.cuDeviceGetCount(ctypes.byref(count))
    seen["count"] = count.value
    uuids = []
    for i in range(count.value):
        device = ctypes.c_int()
        cuda.cuDeviceGet(ctypes.byref(device), i)
        raw = ctypes.create_string_buffer(16)
        cuda.cuDeviceGetUuid(raw, device)
        h = raw.raw.hex()
        uuids.append("GPU-%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:]))
    seen["uuids"] = uuids
except OSError as error:
    seen["error"] = str(error)
with open(os.path.join(sys.argv[1], "probe.json"), "w") as out:
    json.dump(seen, out)
os.execv(sys.argv[2], sys.argv[2:])
"""


def one_trial_job(ours):
    whole = [g for g in ours if not g.get("migEnabled")]
    if not whole:
        check("one-trial job", False, "no GPU outside MIG mode to place a whole-GPU task on")
        return
    gpu_type = whole[0]["type"]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="hpt-gpu-check-"))
    machine = {"cpus": 1, "memoryGb": 1, "accelerators": {"type": gpu_type, "count": 1}}
    cluster = Cluster(tmp, machine_types={"one_gpu": machine})
    try:
        cluster.start_master()
        cluster.start_agent("gpu", cpus=2, memory_gb=4, extra=["--gpu-sample-ms", "500"])
        spec = {"scaleTier": "CUSTOM", "masterType": "one_gpu",
                "command": [sys.executable, "-c", PROBE, str(OUT), sys.executable,
                            str(SYNTHETIC), "--steps=40", "--sleep=0.3"],
                "hyperparameters": {
                    "goal": "MAXIMIZE", "hyperparameterMetricTag": "loss", "maxTrials": 1,
                    "params": [{"parameterName": "x", "type": "DOUBLE",
                                "minValue": 0, "maxValue": 1}]}}
        cluster.submit("gpucheck", spec)
        job = cluster.wait_job("gpucheck", timeout=300)
        (OUT / "job.json").write_text(json.dumps(job, indent=1))
        check("one-trial job succeeded", job["state"] == "SUCCEEDED", job.get("errorMessage", ""))
        probe = json.loads((OUT / "probe.json").read_text())
        index = int(probe["CUDA_VISIBLE_DEVICES"])
        placed = next(g for g in ours if g["index"] == index)
        check("trainer sees exactly one CUDA device", probe.get("count") == 1, json.dumps(probe))
        check("...and it is the placed GPU", probe.get("uuids") == [placed["uuid"]],
              f"placed GPU {index} {placed['uuid']}")
        (trial,) = job["trainingOutput"]["trials"]
        path = (f"/v1/projects/default/jobs/gpucheck/trials/{trial['trialId']}/metrics"
                f"?tag=hpt/gpu/{index}/utilization")
        points = cluster.get(path)["metrics"]
        (OUT / "utilization.json").write_text(json.dumps(points, indent=1))
        check("hpt/gpu utilization points arrived", len(points) >= 5,
              f"{len(points)} points, values {[p['value'] for p in points][:10]}")
    finally:
        cluster.stop()
        for log in list(tmp.glob("*.log")) + list(tmp.glob("agent-gpu/tasks/*/std*.log")):
            (OUT / log.name).write_text(log.read_text(errors="replace"))
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    ours = compare_topology()
    one_trial_job(ours)
    (OUT / "summary.txt").write_text("\n".join(RESULTS) + "\n")
    failed = [r for r in RESULTS if r.startswith("FAIL")]
    print(f"{len(RESULTS) - len(failed)} passed, {len(failed)} failed; see {OUT}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
