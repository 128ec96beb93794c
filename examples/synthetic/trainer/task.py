#!/usr/bin/python3
"""A fast synthetic trainer for hpt's tests and benchmarks.

It follows the AI Platform trainer contract (docs/trainer-contract.md):
hyperparameters arrive as --NAME=VALUE, the metric goes to the hypertune
file named by CLOUD_ML_HP_METRIC_FILE under the tag CLOUD_ML_HP_METRIC_TAG,
written exactly as the cloudml-hypertune package writes it (the whole file
rewritten on every report, the last 100 reports kept).

The objective is a known function, so a test knows the right answer:

    objective = 1 - sum over numeric hyperparameters x of (x - target_x)^2
                  - 0.25 for each categorical one that is not its target

target_x is 0.5 unless --target=NAME:VALUE[,NAME:VALUE...] says otherwise;
categorical hyperparameters without a target cost nothing. The maximum is
1.0 at the targets.

Options (not hyperparameters):
  --steps=N          report N points of a learning curve that converges to
                     the objective (step k: objective - 0.5 * (1 - k/N)^2);
                     default 1
  --sleep=S          seconds to sleep before each report (default 0)
  --noise=SIGMA      Gaussian noise added to every reported value
  --seed=N           noise seed (default: the trial id)
  --report-loss=1    also report "loss" = 1 - value at every step
  --fail-mode=MODE   exit1: report once, then exit 1
                     no-report: exit 0 without reporting
                     hang: report once, then sleep forever
                     spawn-hang: start a child that sleeps forever, report
                     once, then sleep forever (tests group kills)
                     signal: report once, then kill itself with SIGKILL
  --target=...       see above
  --job-dir=DIR      accepted (AI Platform passes it); unused
A value may also come as a separate argument (--steps 10).

With HPT_TEST_DUMP_DIR set, it first writes what it was given (argv, the
relevant environment, cwd, pid, process group, CPU affinity) as JSON to
HPT_TEST_DUMP_DIR/task-<trial>-<type>-<index>-<pid>.json.

Only the standard library is used, so it starts in a few milliseconds.
"""

import collections
import json
import math
import os
import random
import signal
import sys
import time

DEFAULT_TAG = "training/hptuning/metric"
KEEP = 100
OPTIONS = {"steps", "sleep", "noise", "seed", "report-loss", "fail-mode", "target", "job-dir"}
FAIL_MODES = {"", "exit1", "no-report", "hang", "spawn-hang", "signal"}


class HyperTune:
    """The cloudml-hypertune writer, reimplemented line for line."""

    def __init__(self):
        self.path = os.environ.get("CLOUD_ML_HP_METRIC_FILE", "/tmp/hypertune/output.metrics")
        directory = os.path.dirname(self.path)
        if directory and not os.path.exists(directory):
            os.makedirs(directory)
        self.trial_id = os.environ.get("CLOUD_ML_TRIAL_ID", 0)
        self.queue = collections.deque(maxlen=KEEP)

    def report(self, tag, value, global_step=None, checkpoint_path=""):
        body = {
            "timestamp": time.time(),
            "trial": str(self.trial_id),
            tag or DEFAULT_TAG: str(float(value)),
            "global_step": str(int(global_step) if global_step else 0),
            "checkpoint_path": checkpoint_path,
        }
        self.queue.append(body)
        with open(self.path, "w") as metric_file:
            for metric in self.queue:
                metric_file.write(json.dumps(metric, sort_keys=True) + "\n")


def parse(argv):
    """Splits argv into options and hyperparameters (name -> string)."""
    options, params = {}, {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("--") or len(arg) < 3:
            sys.exit("synthetic: unexpected argument %r (want --NAME=VALUE)" % arg)
        name, has_value, value = arg[2:].partition("=")
        name_key = name.replace("_", "-")
        if not has_value:
            if i >= len(argv):
                sys.exit("synthetic: --%s needs a value" % name)
            value = argv[i]
            i += 1
        if name_key in OPTIONS:
            options[name_key] = value
        else:
            params[name] = value
    return options, params


def number(text):
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def objective(params, targets):
    value = 1.0
    for name, text in sorted(params.items()):
        x = number(text)
        if x is not None:
            target = number(targets.get(name, "0.5"))
            value -= (x - (0.5 if target is None else target)) ** 2
        elif name in targets and text != targets[name]:
            value -= 0.25
    return value


def dump(argv):
    directory = os.environ.get("HPT_TEST_DUMP_DIR")
    if not directory:
        return
    env = {k: v for k, v in os.environ.items()
           if k.startswith(("CLOUD_ML_", "HPT_", "CUDA_", "TPU_")) or k in ("TF_CONFIG", "CLUSTER_SPEC")}
    task = {}
    try:
        task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    except ValueError:
        pass
    record = {
        "argv": argv,
        "env": env,
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "pgid": os.getpgid(0),
        "affinity": sorted(os.sched_getaffinity(0)),
    }
    name = "task-%s-%s-%s-%d.json" % (os.environ.get("CLOUD_ML_TRIAL_ID", "none"),
                                      task.get("type", "none"), task.get("index", 0), os.getpid())
    os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(directory, "." + name)
    with open(temporary, "w") as out:
        json.dump(record, out, indent=1, sort_keys=True)
    os.rename(temporary, os.path.join(directory, name))


def main(argv):
    options, params = parse(argv)
    dump(argv)
    mode = options.get("fail-mode", "")
    if mode not in FAIL_MODES:
        sys.exit("synthetic: --fail-mode must be one of %s" % ", ".join(sorted(FAIL_MODES - {""})))
    steps = int(options.get("steps", "1"))
    if steps < 1 or steps > 1000000:
        sys.exit("synthetic: --steps must be 1..1000000")
    pause = float(options.get("sleep", "0"))
    noise = float(options.get("noise", "0"))
    report_loss = options.get("report-loss", "0") not in ("0", "false", "")
    targets = {}
    for pair in filter(None, options.get("target", "").split(",")):
        name, sep, value = pair.partition(":")
        if not sep:
            sys.exit("synthetic: --target wants NAME:VALUE pairs")
        targets[name] = value
    seed = options.get("seed", os.environ.get("CLOUD_ML_TRIAL_ID", "0"))
    rng = random.Random(seed)
    final = objective(params, targets)
    tag = os.environ.get("CLOUD_ML_HP_METRIC_TAG", DEFAULT_TAG)

    print("synthetic: params %s -> objective %.6f" % (json.dumps(params, sort_keys=True), final),
          flush=True)
    if mode == "no-report":
        return 0
    if mode in ("exit1", "hang", "spawn-hang", "signal"):
        steps = 1
    hypertune = HyperTune()
    for step in range(1, steps + 1):
        if pause > 0:
            time.sleep(pause)
        value = final - 0.5 * (1.0 - step / steps) ** 2
        if noise > 0:
            value += rng.gauss(0.0, noise)
        hypertune.report(tag, value, global_step=step)
        if report_loss:
            hypertune.report("loss", 1.0 - value, global_step=step)
        print("step %d %s=%.6f" % (step, tag, value), flush=True)

    if mode == "exit1":
        print("synthetic: failing on purpose", file=sys.stderr, flush=True)
        return 1
    if mode == "signal":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "spawn-hang":
        import subprocess  # only here: the common path starts faster without it
        child = subprocess.Popen(["/bin/sleep", "1000000"])
        print("synthetic: child %d" % child.pid, flush=True)
    if mode in ("hang", "spawn-hang"):
        while True:
            time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
