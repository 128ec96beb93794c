#!/usr/bin/python3
"""chaos_trainer -- the trainer of tests/bench/chaos.py: it reports a short
learning curve to hpt AND keeps its own record of what it did, so the
benchmark can tell what hpt stored from what really happened.

To hpt it is an ordinary trainer (README "The trainer contract"): the
hyperparameters arrive as --NAME=VALUE, and each report goes to
CLOUD_ML_HP_METRIC_FILE in the cloudml-hypertune format (JSON lines, the
whole file rewritten on each report, the last 100 kept), under the tag
CLOUD_ML_HP_METRIC_TAG. The hypertune package itself is not installed
here; HyperTune below writes what it writes.

Its own record is an append-only file named by CHAOS_LOG (set through the
job's `env`, so it lies outside every directory hpt manages): one JSON line
per event, each written with a single write(2) on an O_APPEND descriptor
and fsync'ed before the trainer goes on, so a line is either wholly there
or absent however the process dies:

  {"ev": "start", "job", "trial", "task", "pid", "dir", "argv", "t"}
      first thing after the interpreter starts (task is HPT_TASK_ID, dir
      is HPT_TASK_DIR: it tells on which agent the process runs);
  {"ev": "report", "trial", "task", "pid", "step", "value", "t"}
      written BEFORE the point goes to the hypertune file, so a point hpt
      can have seen is always in the record (a process killed between the
      two leaves a recorded point hpt never saw, which is a point lost
      with its agent, not a point hpt invented);
  {"ev": "exit", "trial", "task", "pid", "how", "t"}
      on a normal end ("how": "normal") and on SIGTERM ("how": "SIGTERM",
      exit status 143). A SIGKILLed process writes nothing: chaos.py
      takes the kill's time as its end.

Values are 1 - (x - 0.5)^2 - (y - 0.5)^2 - 0.5 * (1 - step/steps)^2: distinct
across trials with distinct hyperparameters, and exact when read back (a
Python float written with repr and parsed with strtod is the same double).

Options (not hyperparameters): --steps=N (default 10); --sleep=S: mean
seconds before each report (default 0.15; each trial draws a factor in
0.5..1.5 from its trial id, so trials end at different moments);
--linger=S: mean seconds between the last report and the exit (default
0.25, times a factor in 0..2 drawn the same way), as a real trainer saves
its model after its last evaluation: the agent has usually sent the last
point well before the task's exit, which is a window for a master restart
that a trainer exiting at once would almost never open.
Only the standard library is used, so it starts in a few milliseconds.
"""
import collections
import json
import os
import random
import signal
import sys
import time

DEFAULT_TAG = "training/hptuning/metric"
KEEP = 100


class HyperTune:
    """The cloudml-hypertune writer (the same file, line for line)."""

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


class Record:
    """The append-only record named by CHAOS_LOG (nothing without it)."""

    def __init__(self):
        path = os.environ.get("CHAOS_LOG")
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if path else None
        self.common = {"trial": os.environ.get("CLOUD_ML_TRIAL_ID", ""),
                       "task": os.environ.get("HPT_TASK_ID", ""), "pid": os.getpid()}

    def write(self, event, **fields):
        if self.fd is None:
            return
        line = json.dumps(dict(self.common, ev=event, t=time.time(), **fields)) + "\n"
        os.write(self.fd, line.encode())
        os.fsync(self.fd)


def parse(argv):
    """--NAME=VALUE pairs: (options, hyperparameters as floats)."""
    options, params = {}, {}
    for arg in argv:
        name, _, value = arg[2:].partition("=")
        if not arg.startswith("--") or not name:
            sys.exit("chaos_trainer: unexpected argument %r (want --NAME=VALUE)" % arg)
        if name in ("steps", "sleep", "linger", "job-dir"):
            options[name] = value
        else:
            params[name] = float(value)
    return options, params


def main(argv):
    options, params = parse(argv)
    record = Record()
    record.write("start", job=os.environ.get("CLOUD_ML_JOB_ID", ""),
                 dir=os.environ.get("HPT_TASK_DIR", ""), argv=argv)

    def on_term(signum, frame):
        record.write("exit", how="SIGTERM")
        os._exit(143)

    signal.signal(signal.SIGTERM, on_term)
    steps = int(options.get("steps", "10"))
    rng = random.Random("chaos-" + os.environ.get("CLOUD_ML_TRIAL_ID", "0"))
    pause = float(options.get("sleep", "0.15")) * rng.uniform(0.5, 1.5)
    linger = float(options.get("linger", "0.25")) * rng.uniform(0.0, 2.0)
    final = 1.0 - sum((x - 0.5) ** 2 for x in params.values())
    tag = os.environ.get("CLOUD_ML_HP_METRIC_TAG", DEFAULT_TAG)
    hypertune = HyperTune()
    for step in range(1, steps + 1):
        time.sleep(pause)
        value = final - 0.5 * (1.0 - step / steps) ** 2
        record.write("report", step=step, value=value)
        hypertune.report(tag, value, global_step=step)
    time.sleep(linger)
    record.write("exit", how="normal")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
