#!/usr/bin/python3
"""early_stopping_compare -- hpt's early stopping side by side with no
stopping and with Optuna's MedianPruner, on synthetic learning curves.

For each seed it runs one job of examples/synthetic/trainer.py trials
through a real hptmaster and hptagent (tests/integration/hpt_harness.py)
without early stopping, then the same job with `enableTrialEarlyStopping`
(and the hpt extension `earlyStopping: {rule, ...}` under
`hyperparameters`), each on a fresh master with `seed: SEED` so both runs
start from the same optimizer seed; then the same curves through Optuna
(TPESampler(seed=SEED) + MedianPruner with its defaults), reporting every
step and asking should_prune after each.

The trainer's curve (read from trainer.py, checked against a real run at
start-up): step k of N reports objective - 0.5 * (1 - k/N)^2 plus
Gaussian noise from random.Random(str(trial_id)); objective = 1 - sum of
(x - 0.5)^2 over the numeric parameters (trainer.objective is imported and
used as is). Goal MAXIMIZE, maximum 1.0.

Measures, per run: steps consumed (sum over trials of the last reported
step: hpt from trials[].allMetrics, Optuna from the last reported step of
each trial) and the best final objective (the best value at the full
budget N among trials that ran to N). Prints a table per seed, the means,
and the issue's targets:
  1. >= 40% fewer steps with stopping than without;
  2. best final objective with stopping within the noise of the run
     without (mean over seeds, tolerance 2 * noise sigma);
  3. fewer steps than Optuna's pruner for an equal or better best value
     (again within 2 * sigma).
Exit status 0 when every target is met, 1 when one is missed, 2 when the
stopping run could not be made (the master refused the spec or no trial
was stopped early: the master side is not wired yet).

Usage: /usr/bin/python3 tests/bench/early_stopping_compare.py
         [--bin DIR] [--seeds 3] [--trials 30] [--steps 20] [--parallel 3]
         [--sleep 0.1] [--noise 0.01] [--rule median|asha]
         [--min-completed N] [--warmup N] [--eta F] [--json FILE]

hptmaster/hptagent come from --bin, else $HPT_BIN_DIR, else build/bin.
The default run (3 seeds x 30 trials x 20 steps) takes a few minutes on 2
cores.
"""
import argparse
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

TRAINER = SRC / "examples" / "synthetic" / "trainer.py"
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
    """The values trainer.py reports for these parameters (floats) and
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
        sys.exit(f"early_stopping_compare: the curve mirror disagrees with trainer.py:\n"
                 f"  trainer {printed}\n  mirror  {mine}")


# -- hpt ---------------------------------------------------------------------

def job_spec(args, stopping):
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
            block = {"rule": args.rule}
            if args.min_completed is not None:
                block["minCompletedTrials"] = args.min_completed
            if args.warmup is not None:
                block["warmupSteps"] = args.warmup
            if args.rule == "asha":
                block["reductionFactor"] = args.eta
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


def run_hpt(args, seed, stopping):
    """One job on a fresh master and agent; returns the summary dict, or a
    dict with "error" when the master refused the spec."""
    with tempfile.TemporaryDirectory(prefix="hpt-es-") as tmp:
        cluster = hpt_harness.Cluster(tmp, master_config=f"  seed: {seed}")
        try:
            cluster.start_master()
            cluster.start_agent("a", cpus=args.parallel + 1, memory_gb=8)
            spec = job_spec(args, stopping)
            try:
                cluster.submit("es", spec)
            except hpt_harness.ApiError as err:
                return {"error": f"spec refused: {err}"}
            started = time.time()
            job = cluster.wait_job("es", timeout=args.job_timeout)
            summary = summarize_hpt(job, args.steps)
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


# -- report ------------------------------------------------------------------

def row(name, result):
    if "error" in result:
        return f"  {name:<14} {result['error']}"
    return (f"  {name:<14} steps {result['steps']:6d}  best final {result['best']:.4f}  "
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
    parser.add_argument("--rule", choices=("median", "asha"), default="median")
    parser.add_argument("--min-completed", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--eta", type=float, default=3.0)
    parser.add_argument("--plain", action="store_true",
                        help="stopping run with enableTrialEarlyStopping only (no extension block)")
    parser.add_argument("--skip-hpt", action="store_true", help="only the Optuna side")
    parser.add_argument("--job-timeout", type=float, default=600)
    parser.add_argument("--json", help="also write every result to this file")
    args = parser.parse_args()
    if args.seeds < 1 or args.trials < 1 or args.steps < 2 or args.parallel < 1:
        sys.exit("early_stopping_compare: --seeds, --trials, --parallel >= 1 and --steps >= 2")
    hpt_harness.BIN = pathlib.Path(args.bin).resolve()
    for name in ("hptmaster", "hptagent"):
        if not args.skip_hpt and not (hpt_harness.BIN / name).exists():
            sys.exit(f"early_stopping_compare: {hpt_harness.BIN / name} not found (--bin)")
    check_mirror(args.steps, args.noise)

    stopping = "plain" if args.plain else "extension"
    results = []
    for seed in range(1, args.seeds + 1):
        cell = {"seed": seed}
        if not args.skip_hpt:
            cell["none"] = run_hpt(args, seed, None)
            cell["stop"] = run_hpt(args, seed, stopping)
        cell["optuna"] = run_optuna(args, seed)
        results.append(cell)
        print(f"seed {seed}")
        for key, name in (("none", "hpt no-stop"), ("stop", f"hpt {args.rule}"),
                          ("optuna", "optuna median")):
            if key in cell:
                print(row(name, cell[key]), flush=True)

    def mean(key, field):
        values = [c[key][field] for c in results if key in c and "error" not in c[key]]
        return statistics.fmean(values) if len(values) == len(results) else None

    print(f"\nmeans over {args.seeds} seeds ({args.trials} trials x {args.steps} steps, "
          f"noise {args.noise}, optuna {results[0]['optuna']['version']}):")
    for key, name in (("none", "hpt no-stop"), ("stop", f"hpt {args.rule}"),
                      ("optuna", "optuna median")):
        steps, best = mean(key, "steps"), mean(key, "best")
        if steps is not None:
            print(f"  {name:<14} steps {steps:8.1f}  best final {best:.4f}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"args": vars(args), "results": results}, out, indent=1)
    if args.skip_hpt:
        return 0

    errors = [c["stop"]["error"] for c in results if "error" in c["stop"]]
    never = all("error" in c["stop"] or c["stop"]["stopped"] == 0 for c in results)
    if errors or never:
        print("\ntargets: not judged: " + (errors[0] if errors else
              "no trial has isTrialStoppedEarly (the master does not stop trials yet)"))
        return 2
    tolerance = 2 * args.noise
    none_steps, stop_steps, opt_steps = (mean(k, "steps") for k in ("none", "stop", "optuna"))
    none_best, stop_best, opt_best = (mean(k, "best") for k in ("none", "stop", "optuna"))
    saved = 1 - stop_steps / none_steps
    checks = [
        (f"steps saved vs no stopping {100 * saved:.1f}% (target >= 40%)", saved >= 0.40),
        (f"best final {stop_best:.4f} vs no stopping {none_best:.4f} "
         f"(target >= {none_best - tolerance:.4f}, 2 sigma)", stop_best >= none_best - tolerance),
        (f"steps {stop_steps:.1f} vs optuna {opt_steps:.1f} with best {stop_best:.4f} vs "
         f"{opt_best:.4f} (target: fewer steps, best >= {opt_best - tolerance:.4f})",
         stop_steps < opt_steps and stop_best >= opt_best - tolerance),
    ]
    print("\ntargets:")
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
