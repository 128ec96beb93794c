#!/usr/bin/python3
"""optuna_compare -- hpt's GP optimizer side by side with Optuna TPE and random.

Runs Optuna's default TPE sampler (TPESampler(seed=i)) and RandomSampler
(seed=i) on the functions of `hpt-bench optimizer` with the same
definitions, bounds, budgets and seeds, runs hpt-bench for the same cells,
and prints one table: function, budget, hpt-gp median regret, TPE median
regret, random median regret, ratio hpt/TPE.

Usage: /usr/bin/python3 tests/bench/optuna_compare.py [--hpt-bench PATH]
       [--seeds S] [--functions a,b] [--budgets b1,b2] [--parallel P]

hpt-bench comes from --hpt-bench, else $HPT_BIN_DIR/hpt-bench, else the
source tree's build/bin/hpt-bench. By default
the cells are the issue's: budgets 10*d and 30*d (30 and 90 for branin),
10 seeds. --budgets applies to every function given.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


def branin(x):
    a, b, c = 1.0, 5.1 / (4 * math.pi ** 2), 5.0 / math.pi
    r, s, t = 6.0, 10.0, 1.0 / (8 * math.pi)
    return a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * math.cos(x[0]) + s


HART_ALPHA = [1.0, 1.2, 3.0, 3.2]
HART_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
          [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
HART_P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
          [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
          [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
          [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]


def hartmann6(x):
    total = 0.0
    for i in range(4):
        inner = sum(HART_A[i][j] * (x[j] - HART_P[i][j]) ** 2 for j in range(6))
        total += HART_ALPHA[i] * math.exp(-inner)
    return -total


def rosenbrock4(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(3))


def ackley5(x):
    n = len(x)
    sq = sum(v * v for v in x) / n
    cs = sum(math.cos(2 * math.pi * v) for v in x) / n
    return -20 * math.exp(-0.2 * math.sqrt(sq)) - math.exp(cs) + 20 + math.e


MIXED_BATCHES = [16, 32, 64, 128, 256]
MIXED_OPTIMIZERS = ["sgd", "adam", "rmsprop"]
MIXED_BEST_LR = [3e-2, 1e-3, 3e-4]
MIXED_OFFSET = [0.3, 0.0, 0.15]


def mixed(lr, layers, batch, k):
    d_lr = math.log10(lr) - math.log10(MIXED_BEST_LR[k])
    return (d_lr ** 2 + 0.1 * (layers - 5) ** 2 + 0.25 * (math.log2(batch) - 6) ** 2
            + MIXED_OFFSET[k])


# name: (dimension, bounds of every parameter or None, function, optimum)
FUNCTIONS = {
    "branin": (2, [(-5, 10), (0, 15)], branin, 0.397887357729739),
    "hartmann6": (6, [(0, 1)] * 6, hartmann6, -3.32236801141551),
    "rosenbrock4": (4, [(-5, 10)] * 4, rosenbrock4, 0.0),
    "ackley5": (5, [(-5, 10)] * 5, ackley5, 0.0),
    "mixed": (4, None, None, 0.0),
}


def default_budgets(name):
    if name == "branin":
        return [30, 90]
    d = FUNCTIONS[name][0]
    return [10 * d, 30 * d]


def objective_for(name):
    d, bounds, fn, _ = FUNCTIONS[name]
    if name == "mixed":
        def objective(trial):
            lr = trial.suggest_float("lr", 1e-5, 1.0, log=True)
            layers = trial.suggest_int("layers", 1, 8)
            batch = trial.suggest_categorical("batch", MIXED_BATCHES)
            opt = trial.suggest_categorical("optimizer", MIXED_OPTIMIZERS)
            return mixed(lr, layers, batch, MIXED_OPTIMIZERS.index(opt))
        return objective

    def objective(trial):
        x = [trial.suggest_float("x%d" % j, lo, hi) for j, (lo, hi) in enumerate(bounds)]
        return fn(x)
    return objective


def optuna_median(name, budget, seeds, sampler_kind):
    optimum = FUNCTIONS[name][3]
    regrets = []
    for seed in range(seeds):
        if sampler_kind == "tpe":
            sampler = optuna.samplers.TPESampler(seed=seed)
        else:
            sampler = optuna.samplers.RandomSampler(seed=seed)
        study = optuna.create_study(direction="minimize", sampler=sampler)
        study.optimize(objective_for(name), n_trials=budget)
        regrets.append(study.best_value - optimum)
    return statistics.median(regrets)


def hpt_median(bench, name, budget, seeds, parallel):
    cmd = [bench, "optimizer", "--function", name, "--budget", str(budget), "--seeds",
           str(seeds), "--algorithm", "gp", "--parallel", str(parallel), "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["median_regret"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hpt-bench",
                        help="path of hpt-bench (default $HPT_BIN_DIR/hpt-bench, else build/bin/hpt-bench)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--functions", default=",".join(FUNCTIONS))
    parser.add_argument("--budgets", help="comma-separated budgets for every function")
    parser.add_argument("--parallel", type=int, default=1, help="hpt-bench --parallel")
    args = parser.parse_args()

    bench = args.hpt_bench
    if not bench:
        source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
        bin_dir = os.environ.get("HPT_BIN_DIR") or os.path.join(source, "build", "bin")
        bench = os.path.join(bin_dir, "hpt-bench")
    if not os.access(bench, os.X_OK):
        sys.exit("optuna_compare: %s is not an executable" % bench)
    names = [n.strip() for n in args.functions.split(",") if n.strip()]
    for name in names:
        if name not in FUNCTIONS:
            sys.exit("optuna_compare: unknown function %r (known: %s)"
                     % (name, ", ".join(FUNCTIONS)))
    if args.seeds < 1:
        sys.exit("optuna_compare: --seeds must be >= 1")
    try:
        fixed = [int(b) for b in args.budgets.split(",")] if args.budgets else None
    except ValueError:
        sys.exit("optuna_compare: --budgets takes comma-separated integers")
    if fixed and min(fixed) < 1:
        sys.exit("optuna_compare: budgets must be >= 1")

    header = "%-12s %6s %14s %14s %14s %10s" % (
        "function", "budget", "hpt-gp", "optuna-tpe", "random", "hpt/tpe")
    print("median regret over %d seeds (hpt --parallel %d)" % (args.seeds, args.parallel))
    print(header)
    print("-" * len(header))
    sys.stdout.flush()
    for name in names:
        for budget in fixed or default_budgets(name):
            hpt = hpt_median(bench, name, budget, args.seeds, args.parallel)
            tpe = optuna_median(name, budget, args.seeds, "tpe")
            rnd = optuna_median(name, budget, args.seeds, "random")
            ratio = hpt / tpe if tpe > 0 else float("inf") if hpt > 0 else 1.0
            print("%-12s %6d %14.6g %14.6g %14.6g %10.3g" % (name, budget, hpt, tpe, rnd, ratio))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
