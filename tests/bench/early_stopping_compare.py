#!/usr/bin/python3
"""early_stopping_compare -- hpt's early stopping side by side with no
stopping and with Optuna's MedianPruner, on synthetic learning curves.

For each seed it runs one job of examples/synthetic/trainer/task.py trials
through a real hptmaster and hptagent (tests/integration/hpt_harness.py)
without early stopping, then the same job once per rule (--rules, default
median and asha) with `enableTrialEarlyStopping: true` and the hpt
extension `earlyStopping: {rule, ...}` under `hyperparameters` (--plain:
without the block, i.e. the master's default rule), each job on a fresh
master with `seed: SEED` so every run starts from the same optimizer seed;
then the same curves through Optuna (TPESampler(seed=SEED) + MedianPruner
with its defaults), reporting every step and asking should_prune after
each.

The trainer's curve (read from trainer/task.py, checked against a real run at
start-up): step k of N reports objective - 0.5 * (1 - k/N)^2 plus Gaussian
noise from random.Random(str(trial_id)); objective = 1 - sum of
(x - 0.5)^2 over the numeric parameters (trainer.objective is imported and
used as is). Goal MAXIMIZE, maximum 1.0; x, y in [-1, 2].

Measures, per run: steps consumed (sum over trials of the last reported
step: hpt from trials[].allMetrics, Optuna from the last reported step of
each trial) and the best final objective (the best value at the full
budget N among trials that ran to N and were not stopped). Prints a table
per seed, the means, and the issue's targets per rule:
  1. >= 40% fewer steps with stopping than without;
  2. best final objective with stopping within the noise of the run
     without (means over seeds, tolerance 2 * noise sigma);
  3. fewer steps than Optuna's pruner for an equal or better best value
     (again within 2 * sigma).
Exit status: 0 when some rule's real stopping run meets every target, 1
when none does, 2 when no stopping run could be judged (the master refused
the spec, or no trial was stopped early: the master side is not wired).

Estimates without the master's stopping (ctypes on master/hpt_stopping.c
compiled here; pure C, no daemons):
  --offline      "replay RULE": the rule replayed over the no-stop job's own
                 trials in their order of events (points spread between each
                 trial's startTime and endTime), i.e. what it would have saved
                 on hpt's optimizer's trial mix (the suggestions would have
                 changed after a stop; this ignores that); and "tpe+hpt RULE":
                 Optuna's TPE with hpt's rule in place of MedianPruner.
  --replay-from FILE  no daemons: the no-stop jobs of a previous --json run
                 are replayed (its trials/steps/noise/seeds are reused).

Usage: /usr/bin/python3 tests/bench/early_stopping_compare.py
         [--bin DIR] [--seeds 3] [--trials 30] [--steps 20] [--parallel 3]
         [--sleep 0.1] [--noise 0.01] [--rules median,asha]
         [--min-completed N] [--warmup N] [--eta F] [--min-resource N]
         [--plain] [--offline] [--skip-hpt] [--json FILE] [--replay-from FILE]

hptmaster/hptagent come from --bin, else $HPT_BIN_DIR, else build/bin. The
default run (3 seeds x 3 jobs x 30 trials x 20 steps) takes about 5
minutes on 2 cores.
"""
import argparse
import ctypes
import datetime
import importlib.util
import json
import os
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve()
SRC = HERE.parents[2]
sys.path.insert(0, str(SRC / "tests" / "integration"))
import hpt_harness  # noqa: E402

TRAINER = SRC / "examples" / "synthetic" / "trainer" / "task.py"
TAG = "accuracy"
LOW, HIGH = -1.0, 2.0  # bounds of both parameters
PARAMS = ("x", "y")


def load_trainer():
    spec = importlib.util.spec_from_file_location("synthetic_trainer", TRAINER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TRAINER_MODULE = load_trainer()


def curve(params, trial_id, steps, noise):
    """The values trainer/task.py reports for these parameters (floats) and
    trial id (its default noise seed), in order of step 1..steps."""
    final = TRAINER_MODULE.objective({k: repr(v) for k, v in params.items()}, {})
    rng = random.Random(str(trial_id))
    values = []
    for step in range(1, steps + 1):
        value = final - 0.5 * (1.0 - step / steps) ** 2
        if noise > 0:
            value += rng.gauss(0.0, noise)
        values.append(value)
    return values


def check_mirror(steps, noise):
    """Runs the real trainer once and compares its printed curve with
    curve(): the Optuna side must see exactly the curves hpt's trials do."""
    params = {"x": 0.125, "y": 1.75}
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, CLOUD_ML_HP_METRIC_FILE=os.path.join(tmp, "m"),
                   CLOUD_ML_HP_METRIC_TAG=TAG, CLOUD_ML_TRIAL_ID="7")
        out = subprocess.run([hpt_harness.PYTHON, str(TRAINER), f"--steps={steps}",
                              f"--noise={noise}", "--x=0.125", "--y=1.75"],
                             capture_output=True, text=True, env=env, timeout=60, check=True)
    printed = [float(line.split("=")[-1]) for line in out.stdout.splitlines()
               if line.startswith("step ")]
    mine = curve(params, 7, steps, noise)
    if len(printed) != steps or any(abs(a - b) > 2e-6 for a, b in zip(printed, mine)):
        sys.exit(f"early_stopping_compare: the curve mirror disagrees with trainer/task.py:\n"
                 f"  trainer {printed}\n  mirror  {mine}")


# -- hpt ---------------------------------------------------------------------

def job_spec(args, stopping, rule):
    hyper = {
        "goal": "MAXIMIZE",
        "hyperparameterMetricTag": TAG,
        "maxTrials": args.trials,
        "maxParallelTrials": args.parallel,
        "params": [{"parameterName": name, "type": "DOUBLE", "minValue": LOW, "maxValue": HIGH}
                   for name in PARAMS],
    }
    if stopping:
        hyper["enableTrialEarlyStopping"] = True
        if stopping == "extension":
            block = {"rule": rule}
            if args.min_completed is not None:
                block["minCompletedTrials"] = args.min_completed
            if args.warmup is not None:
                block["warmupSteps"] = args.warmup
            if rule == "asha":
                block["reductionFactor"] = args.eta
                if args.min_resource is not None:
                    block["minResource"] = args.min_resource
            hyper["earlyStopping"] = block
    return {
        "command": [hpt_harness.PYTHON, str(TRAINER), f"--steps={args.steps}",
                    f"--sleep={args.sleep}", f"--noise={args.noise}"],
        "hyperparameters": hyper,
    }


def summarize_hpt(job, steps):
    trials = job.get("trainingOutput", {}).get("trials", [])
    consumed, finals, stopped, failed = 0, [], 0, 0
    for trial in trials:
        points = trial.get("allMetrics") or []
        last = max((int(p.get("trainingStep", 0)) for p in points), default=0)
        if not points and "finalMetric" in trial:
            last = int(trial["finalMetric"].get("trainingStep", 0))
        consumed += last
        if trial.get("isTrialStoppedEarly"):
            stopped += 1
        if trial.get("state") != "SUCCEEDED":
            failed += 1
        at_budget = [float(p["objectiveValue"]) for p in points
                     if int(p.get("trainingStep", 0)) == steps]
        if at_budget and not trial.get("isTrialStoppedEarly"):
            finals.append(at_budget[-1])
    return {"steps": consumed, "best": max(finals) if finals else float("nan"),
            "trials": len(trials), "stopped": stopped, "failed": failed}


def run_hpt(args, seed, stopping, rule=None):
    """One job on a fresh master and agent; returns the summary dict, or a
    dict with "error" when the master refused the spec."""
    with tempfile.TemporaryDirectory(prefix="hpt-es-") as tmp:
        cluster = hpt_harness.Cluster(tmp, master_config=f"  seed: {seed}")
        try:
            cluster.start_master()
            cluster.start_agent("a", cpus=args.parallel + 1, memory_gb=8)
            spec = job_spec(args, stopping, rule)
            try:
                cluster.submit("es", spec)
            except hpt_harness.ApiError as err:
                return {"error": f"spec refused: {str(err)[:300]}"}
            started = time.time()
            job = cluster.wait_job("es", timeout=args.job_timeout)
            summary = summarize_hpt(job, args.steps)
            summary["job"] = job
            summary["state"] = job["state"]
            summary["seconds"] = time.time() - started
            return summary
        finally:
            cluster.stop()


# -- Optuna ------------------------------------------------------------------

def run_optuna(args, seed):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed)
    pruner = optuna.pruners.MedianPruner()
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    consumed = 0
    finals = []
    pruned = 0
    for number in range(args.trials):
        trial = study.ask()
        params = {name: trial.suggest_float(name, LOW, HIGH) for name in PARAMS}
        # hpt's trial ids start at 1 and are the trainer's noise seed.
        values = curve(params, number + 1, args.steps, args.noise)
        stopped = False
        for step, value in enumerate(values, start=1):
            trial.report(value, step)
            consumed += 1
            if trial.should_prune():
                stopped = True
                break
        if stopped:
            pruned += 1
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            finals.append(values[-1])
            study.tell(trial, values[-1])
    return {"steps": consumed, "best": max(finals) if finals else float("nan"),
            "trials": args.trials, "stopped": pruned, "failed": 0,
            "version": optuna.__version__}


# -- the rules alone (ctypes), for figures before the master is wired ----------

class StopConfig(ctypes.Structure):
    _fields_ = [("rule", ctypes.c_int), ("min_completed_trials", ctypes.c_int64),
                ("warmup_steps", ctypes.c_int64), ("reduction_factor", ctypes.c_double),
                ("min_resource", ctypes.c_int64), ("max_resource", ctypes.c_int64)]


def load_rules(tmp):
    """Compiles master/hpt_stopping.c (pure C, libm only) into a shared
    object in tmp and returns it through ctypes."""
    library = os.path.join(tmp, "libhptstopping.so")
    subprocess.run(["cc", "-std=c11", "-O2", "-shared", "-fPIC", "-o", library,
                    str(SRC / "master" / "hpt_stopping.c"), "-lm"], check=True)
    lib = ctypes.CDLL(library)
    lib.hpt_stop_config_defaults.argtypes = [ctypes.POINTER(StopConfig), ctypes.c_int]
    lib.hpt_stopping_new.argtypes = [ctypes.POINTER(StopConfig), ctypes.c_bool]
    lib.hpt_stopping_new.restype = ctypes.c_void_p
    lib.hpt_stopping_destroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    lib.hpt_stopping_report.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                        ctypes.c_double, ctypes.c_char_p, ctypes.c_size_t]
    lib.hpt_stopping_report.restype = ctypes.c_bool
    for name in ("hpt_stopping_completed", "hpt_stopping_stopped"):
        getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_int64]
    return lib


def rule_config(args, lib, rule):
    config = StopConfig()
    lib.hpt_stop_config_defaults(ctypes.byref(config), 0 if rule == "median" else 1)
    if args.min_completed is not None:
        config.min_completed_trials = args.min_completed
    if args.warmup is not None:
        config.warmup_steps = args.warmup
    if rule == "asha":
        config.reduction_factor = args.eta
        if args.min_resource is not None:
            config.min_resource = args.min_resource
    return config


def run_offline(args, seed, lib, rule):
    """Optuna's TPE samples (the same as run_optuna's), one trial at a
    time, but hpt's rule (the real C module) decides the stops: the rule
    compared with MedianPruner on identical sampling."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = rule_config(args, lib, rule)
    rules = ctypes.c_void_p(lib.hpt_stopping_new(ctypes.byref(config), True))
    if not rules:
        sys.exit("early_stopping_compare: hpt_stopping_new refused the config")
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.NopPruner())
    consumed, finals, stopped = 0, [], 0
    reason = ctypes.create_string_buffer(256)
    for number in range(args.trials):
        trial = study.ask()
        params = {name: trial.suggest_float(name, LOW, HIGH) for name in PARAMS}
        trial_id = number + 1
        values = curve(params, trial_id, args.steps, args.noise)
        last = None
        for step, value in enumerate(values, start=1):
            consumed += 1
            trial.report(value, step)
            if lib.hpt_stopping_report(rules, trial_id, step, value, reason, len(reason)):
                last = value
                break
        if last is not None:
            stopped += 1
            lib.hpt_stopping_stopped(rules, trial_id)
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            lib.hpt_stopping_completed(rules, trial_id)
            finals.append(values[-1])
            study.tell(trial, values[-1])
    lib.hpt_stopping_destroy(ctypes.byref(rules))
    return {"steps": consumed, "best": max(finals) if finals else float("nan"),
            "trials": args.trials, "stopped": stopped, "failed": 0}


def when(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def replay_job(args, job, lib, rule):
    """hpt's rule (the C module) replayed over the trials of a real job run
    WITHOUT stopping, in the job's own order of events: each trial's points
    spread evenly between its startTime and endTime, its completion at its
    endTime. A stopped trial's later points and its final value drop out.
    The optimizer's suggestions are the no-stop run's (a stop would have
    changed them), so this estimates the rule on hpt's own trial mix."""
    config = rule_config(args, lib, rule)
    rules = ctypes.c_void_p(lib.hpt_stopping_new(ctypes.byref(config), True))
    events = []
    for trial in job.get("trainingOutput", {}).get("trials", []):
        points = sorted(trial.get("allMetrics") or [], key=lambda p: int(p["trainingStep"]))
        if not points or "startTime" not in trial or "endTime" not in trial:
            continue
        start, end = when(trial["startTime"]), when(trial["endTime"])
        tid = int(trial["trialId"])
        for i, point in enumerate(points):
            at = start + (i + 1) / len(points) * (end - start)
            events.append((at, 0, tid, int(point["trainingStep"]), float(point["objectiveValue"])))
        events.append((end, 1, tid, 0, 0.0))
    events.sort()
    stopped_at, last_step, finals = {}, {}, {}
    for _, kind, tid, step, value in events:
        if tid in stopped_at:
            continue
        if kind == 1:
            lib.hpt_stopping_completed(rules, tid)
            continue
        last_step[tid] = step
        if step == args.steps:
            finals[tid] = value
        if lib.hpt_stopping_report(rules, tid, step, value, None, 0):
            stopped_at[tid] = step
            finals.pop(tid, None)
            lib.hpt_stopping_stopped(rules, tid)
    lib.hpt_stopping_destroy(ctypes.byref(rules))
    return {"steps": sum(last_step.values()),
            "best": max(finals.values()) if finals else float("nan"),
            "trials": len(last_step), "stopped": len(stopped_at), "failed": 0}


# -- report ------------------------------------------------------------------

def keys(args):
    out = [("none", "hpt no-stop")]
    for rule in args.rules:
        out += [(f"stop:{rule}", f"hpt {rule}"), (f"replay:{rule}", f"replay {rule}"),
                (f"offline:{rule}", f"tpe+hpt {rule}")]
    return out + [("optuna", "optuna median")]


def row(name, result):
    if "error" in result:
        return f"  {name:<17} {result['error']}"
    return (f"  {name:<17} steps {result['steps']:6d}  best final {result['best']:.4f}  "
            f"stopped {result['stopped']:3d}/{result['trials']:<3d} failed {result['failed']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=os.environ.get("HPT_BIN_DIR", str(SRC / "build" / "bin")))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=3)
    parser.add_argument("--sleep", type=float, default=0.1)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--rules", default="median,asha",
                        help="comma-separated rules to run with stopping (median, asha)")
    parser.add_argument("--min-completed", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--eta", type=float, default=3.0)
    parser.add_argument("--min-resource", type=int, default=None, help="asha: the first rung")
    parser.add_argument("--plain", action="store_true",
                        help="stopping run with enableTrialEarlyStopping only (no extension block)")
    parser.add_argument("--skip-hpt", action="store_true", help="only the Optuna side")
    parser.add_argument("--offline", action="store_true",
                        help="also run hpt's rule (master/hpt_stopping.c through ctypes) "
                             "on Optuna's TPE samples, without daemons")
    parser.add_argument("--job-timeout", type=float, default=600)
    parser.add_argument("--json", help="also write every result (with the jobs) to this file")
    parser.add_argument("--replay-from", metavar="FILE",
                        help="no daemons: take the no-stop jobs from a previous --json file "
                             "and replay the rules over them (implies the ctypes rules)")
    args = parser.parse_args()
    args.rules = [r for r in args.rules.split(",") if r]
    if not args.rules or any(r not in ("median", "asha") for r in args.rules):
        sys.exit("early_stopping_compare: --rules takes median and/or asha")
    if args.plain:
        args.rules = ["median"]  # without the block the master's default rule decides
    if args.seeds < 1 or args.trials < 1 or args.steps < 2 or args.parallel < 1:
        sys.exit("early_stopping_compare: --seeds, --trials, --parallel >= 1 and --steps >= 2")
    hpt_harness.BIN = pathlib.Path(args.bin).resolve()
    for name in ("hptmaster", "hptagent"):
        if not (args.skip_hpt or args.replay_from) and not (hpt_harness.BIN / name).exists():
            sys.exit(f"early_stopping_compare: {hpt_harness.BIN / name} not found (--bin)")
    check_mirror(args.steps, args.noise)

    stopping = "plain" if args.plain else "extension"
    results = []
    scratch = tempfile.TemporaryDirectory(prefix="hpt-es-rules-")
    lib = load_rules(scratch.name) if args.offline or args.replay_from else None
    previous = None
    if args.replay_from:
        with open(args.replay_from) as saved:
            loaded = json.load(saved)
        previous = {c["seed"]: c["none"] for c in loaded["results"]
                    if "job" in c.get("none", {})}
        for name in ("trials", "steps", "noise", "seeds"):
            setattr(args, name, loaded["args"][name])
    for seed in range(1, args.seeds + 1):
        cell = {"seed": seed}
        if previous is not None:
            if seed not in previous:
                sys.exit(f"early_stopping_compare: no no-stop job for seed {seed} in "
                         f"{args.replay_from}")
            cell["none"] = previous[seed]
        elif not args.skip_hpt:
            cell["none"] = run_hpt(args, seed, None)
        for rule in args.rules:
            if args.offline:
                cell[f"offline:{rule}"] = run_offline(args, seed, lib, rule)
            if lib and "job" in cell.get("none", {}):
                cell[f"replay:{rule}"] = replay_job(args, cell["none"]["job"], lib, rule)
            if not args.skip_hpt and previous is None:
                cell[f"stop:{rule}"] = run_hpt(args, seed, stopping, rule)
        cell["optuna"] = run_optuna(args, seed)
        results.append(cell)
        print(f"seed {seed}")
        for key, name in keys(args):
            if key in cell:
                print(row(name, cell[key]), flush=True)

    def mean(key, field):
        values = [c[key][field] for c in results if key in c and "error" not in c[key]]
        return statistics.fmean(values) if len(values) == len(results) else None

    print(f"\nmeans over {args.seeds} seeds ({args.trials} trials x {args.steps} steps, "
          f"noise {args.noise}, optuna {results[0]['optuna']['version']}):")
    for key, name in keys(args):
        steps, best = mean(key, "steps"), mean(key, "best")
        if steps is not None:
            print(f"  {name:<17} steps {steps:8.1f}  best final {best:.4f}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"args": vars(args), "results": results}, out, indent=1)
    if "none" not in results[0]:
        return 0

    # The targets, for each rule's real stopping run, and (marked as
    # estimates) for its replay over the no-stop job.
    tolerance = 2 * args.noise
    status = 2
    for rule in args.rules:
        for kind, label in (("stop", f"hpt {rule}"), ("replay", f"replay {rule} (estimate)")):
            key = f"{kind}:{rule}"
            if key not in results[0]:
                continue
            errors = [c[key]["error"] for c in results if "error" in c[key]]
            if errors or (kind == "stop" and all(c[key]["stopped"] == 0 for c in results)):
                print(f"\ntargets, {label}: not judged: " + (
                    errors[0] if errors else
                    "no trial has isTrialStoppedEarly (the master does not stop trials yet)"))
                continue
            met = check_targets(label, mean("none", "steps"), mean("none", "best"),
                                mean(key, "steps"), mean(key, "best"), mean("optuna", "steps"),
                                mean("optuna", "best"), tolerance)
            if kind == "stop":
                status = 0 if met or status == 0 else 1
    return status


def check_targets(label, none_steps, none_best, steps, best, opt_steps, opt_best, tolerance):
    saved = 1 - steps / none_steps
    checks = [
        (f"steps saved vs no stopping {100 * saved:.1f}% (target >= 40%)", saved >= 0.40),
        (f"best final {best:.4f} vs no stopping {none_best:.4f} "
         f"(target >= {none_best - tolerance:.4f}, 2 sigma)", best >= none_best - tolerance),
        (f"steps {steps:.1f} vs optuna {opt_steps:.1f} with best {best:.4f} vs "
         f"{opt_best:.4f} (target: fewer steps, best >= {opt_best - tolerance:.4f})",
         steps < opt_steps and best >= opt_best - tolerance),
    ]
    print(f"\ntargets, {label}:")
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {text}")
    return all(ok for _, ok in checks)


if __name__ == "__main__":
    sys.exit(main())
