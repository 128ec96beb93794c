#!/usr/bin/python3
"""slurm_overhead -- what running a trial through Slurm costs against a
permanent agent: the time from the trial's placement decision (its
startTime: the agent chosen, or the Slurm job stored) to the first line
its trainer prints, p50 and p99 over the trials of one job each way, side
by side in one run.

Usage: /usr/bin/python3 tests/bench/slurm_overhead.py [--trials N]
         [--parallel P] [--build DIR]

It starts the single-node Slurm of tests/integration/test_e2e_slurm.py (as
root; munge and Slurm's daemons from ops/install-deps.sh), then two
masters in turn on fresh state directories: one with a permanent hptagent
(the anchor), one with `slurm: {use: always}`. Each runs the same job
(examples/synthetic/trainer/task.py, one step, N trials, P in parallel). The
Slurm path includes sbatch, Slurm's scheduling (sched_interval=1 s in the
test's slurm.conf), the job's script, srun, the agent's start and
registration, placement and LAUNCH; the anchor path only LAUNCH.
"""
import argparse
import datetime
import json
import os
import pathlib
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

import hpt_harness  # noqa: E402
from hpt_harness import Cluster, synthetic_job, wait_for  # noqa: E402


def _ms(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


def _delays(cluster, job_id):
    """Per trial: first trainer output time - trial startTime (ms)."""
    job = cluster.job(job_id)
    starts = {t["trialId"]: _ms(t["startTime"]) for t in job["trainingOutput"]["trials"]}
    first = {}
    log = cluster.state / "logs" / f"{job_id}.log"
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("stream") == "stdout" and entry.get("trialId") not in first:
            first[entry["trialId"]] = _ms(entry["time"])
    return sorted(first[t] - starts[t] for t in starts if t in first)


def _pct(values, q):
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _run(tmp, trials, parallel, slurm_section):
    tmp.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(tmp, extra_config=slurm_section)
    cluster.start_master()
    try:
        if not slurm_section:
            cluster.start_agent("anchor", cpus=parallel, memory_gb=parallel)
        cluster.submit("overhead", synthetic_job(max_trials=trials, parallel=parallel))
        job = cluster.wait_job("overhead", timeout=60 + 10 * trials)
        if job["state"] != "SUCCEEDED":
            raise SystemExit(f"the job ended {job['state']}: {job.get('errorMessage')}")
        return _delays(cluster, "overhead")
    finally:
        cluster.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--build", default=None)
    args = parser.parse_args()
    if args.build:
        hpt_harness.BIN = pathlib.Path(args.build) / "bin"
    import test_e2e_slurm
    why = test_e2e_slurm._missing()
    if why:
        raise SystemExit(f"slurm_overhead: {why}")
    slurm = test_e2e_slurm.Slurm()
    slurm.start()
    os.environ["SLURM_CONF"] = str(slurm.conf)
    try:
        results = {}
        with tempfile.TemporaryDirectory() as tmp:
            results["agent"] = _run(pathlib.Path(tmp) / "agent", args.trials, args.parallel, "")
            work = pathlib.Path(tmp) / "work"
            section = "\n".join(["slurm:", "  partition: hpt",
                                 f"  agentCommand: {hpt_harness.BIN / 'hptagent'}",
                                 f"  workdir: {work}", "  pollInterval: 500ms"]) + "\n"
            results["slurm"] = _run(pathlib.Path(tmp) / "slurm", args.trials, args.parallel,
                                    section)
    finally:
        slurm.stop()
    print(f"trial placement -> trainer's first output, {args.trials} trials, "
          f"{args.parallel} in parallel, one run")
    for name, values in results.items():
        print(f"  {name:6s} p50 {_pct(values, 0.5):8.0f} ms   p99 {_pct(values, 0.99):8.0f} ms"
              f"   (n={len(values)})")
    ratio = _pct(results["slurm"], 0.5) / max(1.0, _pct(results["agent"], 0.5))
    print(f"  slurm/agent p50 ratio {ratio:.1f}")


if __name__ == "__main__":
    main()
