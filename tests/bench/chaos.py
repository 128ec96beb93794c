#!/usr/bin/python3
"""chaos -- SIGKILL hpt's master or its agents at random moments during a
job, and check against the trainer's own record that no trial was lost,
failed wrongly or run twice, and that every reported point was stored
exactly once.

Usage: /usr/bin/python3 tests/bench/chaos.py --seeds N --kills K
         [--seed-base S] [--mode master|agent-fail|agent-requeue|all]
         [--build DIR] [--trials T] [--parallel P] [--keep]
       /usr/bin/python3 tests/bench/chaos.py --recheck DIR...

Each seed of each mode runs one job on a fresh cluster: a real hptmaster
(cluster.yaml in a temporary directory, agentTimeout 2 s, optimizer
`seed: SEED`) and real hptagents on loopback, started through
tests/integration/hpt_harness.py. The job runs tests/bench/chaos_trainer.py
with RANDOM_SEARCH over two DOUBLE parameters, maxTrials T (default: enough
for the job to outlast the seed's kill schedule, at least 12),
maxParallelTrials 4, maxFailedTrials T (a wrongly failed trial must not end
the job early and hide the rest). Each trial
reports 10 points, ~0.08-0.23 s apart, to the hypertune file, lingers
0-0.5 s after the last (saving its model, as it were) and exits; it logs
every start, report and exit to an append-only file of its own
(chaos_trainer.py's docstring). The kill schedule comes from
random.Random("MODE/SEED"), drawn before the job starts: a seed
reproduces the schedule (not the exact interleaving, which depends on the
machine).

Modes and the outcome the current design promises (README "Durability,
restarts and lost agents", proto/PROTOCOL.md section 6):

  master         2 agents with 2 CPUs each. K times: wait uniform 0.2-3 s
                 of master uptime, SIGKILL the master, wait uniform 0-1 s,
                 restart it on the same cluster.yaml and stateDir. Tasks run
                 on meanwhile and agents replay their spooled events.
                 Expected: the job SUCCEEDED with trials 1..T, all
                 SUCCEEDED; each trial's process started exactly once;
                 every point the trainer reported stored exactly once; each
                 finalMetric the trainer's last report.
  agent-fail     3 agents with 2 CPUs each, `agentLostPolicy: fail`. K
                 times: wait uniform 0.2-3 s, then SIGKILL an agent (drawn
                 from those running a trial that has reported) and restart
                 it with the same --name and workdir: after the 1st, 3rd,
                 5th... kill quickly (uniform 0-0.5 s later, within
                 agentTimeout), after the others once the master has
                 declared it LOST (after agentTimeout), plus uniform 0-0.5 s.
                 The agent's tasks die with it (PR_SET_PDEATHSIG).
                 Expected: the trials it ran end FAILED with a message about
                 the lost agent ("... lost ... agent ..."); every other trial
                 SUCCEEDED; the job SUCCEEDED with trials 1..T; no trial
                 started twice; points as in master mode, except that a
                 killed task's stored points may miss the tail it reported
                 after its agent's last poll (they must be a prefix).
  agent-requeue  the same kills under `agentLostPolicy: requeue`.
                 Expected: the killed agent's trials run again (new task id,
                 same hyperparameters), on any agent, after the killed copy
                 died (never two live copies of a trial), are not counted
                 failed: every trial SUCCEEDED; allMetrics and finalMetric
                 are the last attempt's, exactly; earlier attempts' points
                 (in the store) a prefix of what they reported.
  all            the three, one after another, for every seed.

A trainer process "caught by a kill" started on an agent before the agent
was SIGKILLed and had not logged its exit by then (or logged it less than
1 s before, too late for its agent to report it). Only such processes may
explain a lost trial, a second start of a trial (requeue) or a missing
tail of points; a SIGKILLed process's end is the kill's time. A trial lost
without any process in the record (its trainer killed before it wrote a
line) is explained when the store placed it on an agent killed after the
trial started.

The points are compared exactly on (trial, task, step, value): the
current attempt's through `GET /v1/projects/default/jobs/chaos`
(allMetrics holds the objective points of a trial's current attempt),
earlier attempts' through the master's SQLite store (stateDir/hpt.db,
opened read-only after the master has exited), which must also agree with
allMetrics.

Figures printed at the end, per mode: seeds run, kills done, trials lost
(missing, unfinished, or SUCCEEDED without ever running), trials failed
wrongly, launched twice (a second start no kill explains, or under the same
task id), two live copies, points lost / doubled / unknown (stored, never
reported), final-metric mismatches, other problems (orphaned processes,
store and API disagreeing, a retry with other hyperparameters, an aborted
run), the losses the policy allows (trials failed with their agent, tail
points lost with it), and wall time. Every failure is printed per seed,
with the trial, the task, the processes involved and what differed, and
with the command that reruns that seed. The temporary directory of a
failing seed (master and agent logs, trainer.log, state/hpt.db, and
chaos.json: the job as the API gave it, the kills) is kept;
`--recheck DIR...` runs the checks again on kept directories, without
daemons (e.g. after changing a check).

Exit status: 0 when every check passed, 1 when any failed, 2 on bad usage
or missing binaries.
"""
import argparse
import collections
import datetime
import json
import os
import pathlib
import random
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve()
SRC = HERE.parents[2]
sys.path.insert(0, str(SRC / "tests" / "integration"))
import hpt_harness  # noqa: E402

TRAINER = HERE.parent / "chaos_trainer.py"
JOB = "chaos"
TAG = "score"
MODES = ("master", "agent-fail", "agent-requeue")
POLICY = {"master": None, "agent-fail": "fail", "agent-requeue": "requeue"}
AGENT_TIMEOUT = 2.0
CAUGHT_WINDOW = 1.0   # an exit logged this close before its agent's kill may go unreported
STEPS = 10
SLEEP = 0.15
LINGER = 0.25
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")

# Figures, in the order printed. "with_agent" ones are losses the policy
# allows; every other non-zero figure is a failed check.
FIGURES = (
    ("job_not_succeeded", "job not SUCCEEDED"),
    ("trials_lost", "trials lost"),
    ("failed_wrongly", "trials failed wrongly"),
    ("launched_twice", "trials launched twice"),
    ("live_copies", "two live copies of a trial"),
    ("points_lost", "points lost"),
    ("points_doubled", "points doubled"),
    ("points_unknown", "points unknown"),
    ("final_mismatch", "final-metric mismatches"),
    ("other", "other problems"),
)
ALLOWED = (
    ("trials_with_agent", "trials failed with their agent (allowed)"),
    ("points_with_agent", "points lost with their agent (allowed)"),
    ("requeued", "trials rerun after their agent's kill (allowed)"),
)


TRIAL_SECONDS = 2.0   # a trial's length, about: 10 x SLEEP + LINGER + start-up
RESTART_SECONDS = 0.3  # a daemon's start until it answers, about


def draw_schedule(mode, rng, kills):
    """The seed's kills, drawn before the job starts: for master mode
    (uptime, downtime) pairs; for the agent modes (wait, pick, pause)
    triples, pick choosing the victim among the agents running a trial."""
    if mode == "master":
        return [(rng.uniform(0.2, 3.0), rng.uniform(0.0, 1.0)) for _ in range(kills)]
    return [(rng.uniform(0.2, 3.0), rng.random(), rng.uniform(0.0, 0.5)) for _ in range(kills)]


def default_trials(mode, schedule, parallel):
    """Enough trials for the job to outlast the schedule: its length over
    a trial's, times the parallel trials, with half again as margin; at
    least 12."""
    if mode == "master":
        seconds = sum(up + down + RESTART_SECONDS for up, down in schedule)
    else:
        seconds = sum(wait + pause + RESTART_SECONDS + (0 if i % 2 == 0 else AGENT_TIMEOUT + 1)
                      for i, (wait, _, pause) in enumerate(schedule))
    return max(12, int(1.5 * parallel * seconds / TRIAL_SECONDS + 0.999))


def job_spec(trials, parallel, record):
    """The job: chaos_trainer.py under RANDOM_SEARCH, its record at record."""
    return {
        "command": [hpt_harness.PYTHON, str(TRAINER), f"--steps={STEPS}", f"--sleep={SLEEP}",
                    f"--linger={LINGER}"],
        "env": {"CHAOS_LOG": str(record)},
        "hyperparameters": {
            "goal": "MAXIMIZE",
            "hyperparameterMetricTag": TAG,
            "algorithm": "RANDOM_SEARCH",
            "maxTrials": trials,
            "maxParallelTrials": parallel,
            "maxFailedTrials": trials,
            "params": [{"parameterName": name, "type": "DOUBLE", "minValue": -1, "maxValue": 2}
                       for name in ("x", "y")],
        },
    }


# -- the trainer's record -------------------------------------------------------

class Process:
    """One trainer process, from its record: start, reports, exit, the agent
    it ran on, and how it ended (its exit line, or a kill of its agent)."""

    def __init__(self, start, agent):
        self.start = start
        self.trial = int(start["trial"])
        self.task = start["task"]
        self.pid = start["pid"]
        self.agent = agent
        self.reports = []       # (step, value) in the order reported
        self.exit = None
        self.caught = None      # the agent kill that caught it, if any

    @property
    def end(self):
        """When it was gone: its exit line, else its agent's kill, else None."""
        if self.exit is not None:
            return self.exit["t"]
        return self.caught["t"] if self.caught else None

    def describe(self, t0):
        if self.exit is not None:
            how = f"exited ({self.exit['how']}) at {self.exit['t'] - t0:.2f}s"
        elif self.caught:
            how = (f"SIGKILLed with {self.agent} at {self.caught['t'] - t0:.2f}s "
                   f"({self.caught['restart']} restart)")
        else:
            how = "no exit line, not on a killed agent"
        caught = (f", caught by the kill of {self.agent} at {self.caught['t'] - t0:.2f}s"
                  if self.caught and self.exit is not None else "")
        return (f"pid {self.pid} task {self.task} on {self.agent} started "
                f"{self.start['t'] - t0:.2f}s, {len(self.reports)} reports, {how}{caught}")


def read_record(path):
    """The trainer's JSON lines, and how many lines were not JSON."""
    records, bad = [], 0
    try:
        text = pathlib.Path(path).read_text()
    except OSError:
        return records, bad
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            bad += 1
    return records, bad


def agent_of(task_dir, agent_dirs):
    for name, prefix in agent_dirs.items():
        if task_dir.startswith(str(prefix) + os.sep):
            return name
    return "?"


def processes_of(records, kills, agent_dirs):
    """Processes by (task, pid), in order of start, with the agent kill
    that caught each (the first kill of its agent after its start that
    came before, or less than CAUGHT_WINDOW after, its exit line)."""
    procs = {}
    for rec in records:
        key = (rec.get("task"), rec.get("pid"))
        if rec.get("ev") == "start":
            procs[key] = Process(rec, agent_of(rec.get("dir", ""), agent_dirs))
        elif key in procs and rec.get("ev") == "report":
            procs[key].reports.append((rec["step"], rec["value"]))
        elif key in procs and rec.get("ev") == "exit":
            procs[key].exit = rec
    agent_kills = sorted((k for k in kills if k["what"] == "agent"), key=lambda k: k["t"])
    for proc in procs.values():
        for kill in agent_kills:
            if kill["agent"] == proc.agent and kill["t"] > proc.start["t"] and (
                    proc.exit is None or proc.exit["t"] > kill["t"] - CAUGHT_WINDOW):
                proc.caught = kill
                break
    return sorted(procs.values(), key=lambda p: p.start["t"])


# -- the checks ---------------------------------------------------------------------

def attempt_of(task_id):
    """The attempt number in a task id: JOB/TRIAL/master/0 is 0,
    JOB/TRIAL/master/0.2 is 2."""
    last = task_id.rsplit("/", 1)[-1]
    return int(last.split(".", 1)[1]) if "." in last else 0


def verify(job, store, records, kills, policy, max_trials, agent_dirs, t0=0.0):
    """Compares the job (the REST resource), the store's points and tasks
    (None when it could not be read) and the trainer's record. Returns
    (figures, failures, notes, causes): figures counts each kind of problem
    (and the losses the policy allows), failures says what differed,
    causes counts the trials failed wrongly by their errorMessage (agent
    names left out, so that one bug is one line)."""
    figures = collections.Counter({name: 0 for name, _ in FIGURES + ALLOWED})
    failures, notes = [], []
    causes = collections.Counter()

    def fail(figure, text, count=1):
        figures[figure] += count
        failures.append(text)

    procs = processes_of(records, kills, agent_dirs)
    by_trial = collections.defaultdict(list)
    for proc in procs:
        by_trial[proc.trial].append(proc)

    master_kills = [k["t"] for k in kills if k["what"] == "master"]

    def history(trial_id):
        """The trial's processes, and the master kills during each one's life."""
        lines = []
        for p in by_trial.get(trial_id, []):
            lines.append(f"\n      {p.describe(t0)}")
            during = [t - t0 for t in master_kills if p.start["t"] <= t <= (p.end or t)]
            if during:
                lines.append(f"; master killed at {', '.join(f'{t:.2f}s' for t in during)}")
        return "".join(lines) or "\n      (no process started)"

    # The job and its trials.
    job = job or {}
    if job.get("state") != "SUCCEEDED":
        fail("job_not_succeeded", f"job ended {job.get('state', 'unknown')}"
             f"{': ' + job['errorMessage'] if job.get('errorMessage') else ''}")
    trials = {int(t["trialId"]): t for t in job.get("trainingOutput", {}).get("trials", [])}
    for trial_id in sorted(set(range(1, max_trials + 1)) - set(trials)):
        fail("trials_lost", f"trial {trial_id}: missing from the job{history(trial_id)}")
    for trial_id in sorted(set(trials) - set(range(1, max_trials + 1))):
        fail("other", f"trial {trial_id}: beyond maxTrials {max_trials}{history(trial_id)}")
    for trial_id in sorted(set(by_trial) - set(trials)):
        if trial_id <= max_trials:
            continue  # already reported missing
        fail("other", f"trial {trial_id}: ran but is not in the job{history(trial_id)}")

    # The current attempt of each trial: the store's task with the highest
    # attempt, else the last process started.
    current, placed_on = {}, {}
    if store is not None:
        for trial_id, task_id, attempt, agent in store["tasks"]:
            placed_on[task_id] = agent
            if trial_id not in current or attempt > attempt_of(current[trial_id]):
                current[trial_id] = task_id
    for trial_id, plist in by_trial.items():
        current.setdefault(trial_id, plist[-1].task)

    # States.
    succeeded, with_agent = 0, []
    for trial_id, trial in sorted(trials.items()):
        state = trial.get("state")
        plist = by_trial.get(trial_id, [])
        message = trial.get("errorMessage", "")
        if state == "SUCCEEDED":
            succeeded += 1
            if not plist:
                fail("trials_lost", f"trial {trial_id}: SUCCEEDED but no process ever started")
        elif state not in TERMINAL:
            fail("trials_lost", f"trial {trial_id}: still {state} at the end{history(trial_id)}")
        elif state == "FAILED" and policy == "fail" and "lost" in message and \
                "agent" in message and (plist[-1].caught if plist else
                                        killed_after_start(trial, placed_on.get(current.get(
                                            trial_id)), message, kills)):
            figures["trials_with_agent"] += 1
            with_agent.append(str(trial_id))
        else:
            fail("failed_wrongly", f"trial {trial_id}: {state} \"{message}\"{history(trial_id)}")
            causes[cause_of(state, message, agent_dirs)] += 1
    if with_agent:
        notes.append(f"trials FAILED with their agent, as the policy says: {', '.join(with_agent)}")
    completed = int(job.get("trainingOutput", {}).get("completedTrialCount", 0) or 0)
    if job and completed != succeeded:
        fail("other", f"completedTrialCount {completed}, but {succeeded} trials SUCCEEDED")

    for proc in procs:
        if proc.end is None:
            fail("other", f"trial {proc.trial}: {proc.describe(t0)} (still running, or killed "
                 f"by something else than chaos)")

    # Launches: every start after a trial's first is explained only by
    # requeue after a kill caught the previous copy, under a new task id;
    # and never while the previous copy lives.
    for trial_id, plist in sorted(by_trial.items()):
        for prev, cur in zip(plist, plist[1:]):
            if prev.end is None or prev.end > cur.start["t"]:
                fail("live_copies", f"trial {trial_id}: two live copies: {cur.describe(t0)} "
                     f"started while {prev.describe(t0)} was alive")
            if policy == "requeue" and prev.caught and cur.task != prev.task:
                figures["requeued"] += 1
                if cur.start.get("argv") != prev.start.get("argv"):
                    fail("other", f"trial {trial_id}: rerun with other arguments: "
                         f"{prev.start.get('argv')} then {cur.start.get('argv')}")
            else:
                same = " under the same task id" if cur.task == prev.task else ""
                fail("launched_twice", f"trial {trial_id}: started again{same}{history(trial_id)}")

    # Points, per task: what the trainer reported against what was stored
    # (allMetrics for a trial's current attempt, the store for the others).
    # A task may have lost the tail of its points only when its process
    # was caught by a kill or stopped, and its trial did not succeed with
    # it (a success means its exit, after a last read of its hypertune
    # file, reached the master).
    reported = collections.defaultdict(list)   # task -> [(step, value)] in order
    caught = {}                                # task -> it may have lost its tail
    trial_of = {}
    for proc in procs:
        reported[proc.task].extend(proc.reports)
        succeeded_with_it = trials.get(proc.trial, {}).get("state") == "SUCCEEDED" and \
            current.get(proc.trial) == proc.task
        caught[proc.task] = not succeeded_with_it and (bool(proc.caught) or (
            proc.exit is not None and proc.exit.get("how") != "normal"))
        trial_of[proc.task] = proc.trial
    stored_db = collections.defaultdict(list)
    if store is not None:
        for trial_id, task_id, tag, step, value in store["points"]:
            trial_of.setdefault(task_id, trial_id)
            if tag != TAG:
                fail("points_unknown", f"trial {trial_id} task {task_id}: a point of tag {tag!r} "
                     f"(step {step}, value {value!r}) the trainer never reported")
                continue
            stored_db[task_id].append((step, value))
    stored = {}
    for trial_id, trial in trials.items():
        if trial_id not in current:
            continue
        api = [(int(p["trainingStep"]), float(p["objectiveValue"]))
               for p in trial.get("allMetrics", [])]
        task = current[trial_id]
        stored[task] = api
        trial_of.setdefault(task, trial_id)
        if store is not None and not caught.get(task) and \
                collections.Counter(api) != collections.Counter(stored_db.get(task, [])):
            fail("other", f"trial {trial_id} task {task}: allMetrics {sorted(api)} but the store "
                 f"holds {sorted(stored_db.get(task, []))}")
    for task, points in stored_db.items():
        stored.setdefault(task, points)
    if store is None:
        notes.append("the store could not be read: earlier attempts' points not checked")
    for task in sorted(set(reported) | set(stored), key=lambda t: (trial_of.get(t, 0), t)):
        trial_id = trial_of.get(task)
        mine, theirs = reported.get(task, []), stored.get(task, [])
        want, got = collections.Counter(mine), collections.Counter(theirs)
        doubled = {p: n - want[p] for p, n in got.items() if want[p] and n > want[p]}
        unknown = {p: n for p, n in got.items() if not want[p]}
        missing = {p: n - got[p] for p, n in want.items() if n > got[p]}
        if doubled:
            fail("points_doubled", f"trial {trial_id} task {task}: points stored more than "
                 f"reported: {sorted(doubled.items())}", sum(doubled.values()))
        if unknown:
            fail("points_unknown", f"trial {trial_id} task {task}: points stored but never "
                 f"reported: {sorted(unknown.items())}", sum(unknown.values()))
        if missing:
            kept = [p for p in mine if got[p]]
            prefix = kept == mine[:len(kept)]
            if caught.get(task) and prefix:
                figures["points_with_agent"] += sum(missing.values())
            else:
                why = "" if prefix else " (not a prefix of the reports)"
                fail("points_lost", f"trial {trial_id} task {task}: reported but not stored{why}: "
                     f"{sorted(missing.items())}{history(trial_id)}", sum(missing.values()))

    # finalMetric: the current attempt's last report, for every trial
    # that SUCCEEDED.
    for trial_id, trial in sorted(trials.items()):
        if trial.get("state") != "SUCCEEDED" or trial_id not in current:
            continue
        mine = reported.get(current[trial_id], [])
        final = trial.get("finalMetric")
        got = None if final is None else (int(final["trainingStep"]),
                                          float(final["objectiveValue"]))
        want = tuple(mine[-1]) if mine else None
        if got != want:
            fail("final_mismatch", f"trial {trial_id}: finalMetric (step, value) {got}, the "
                 f"trainer's last report {want} (task {current[trial_id]})")
    return figures, failures, notes, causes


def seconds_of(timestamp):
    """Seconds since the epoch of an API time (2026-01-02T03:04:05.678Z)."""
    return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def killed_after_start(trial, agent, message, kills):
    """For a trial lost without a process in the record (killed with its
    agent before the trainer wrote its first line, or never started there):
    whether the agent it was placed on (the store's, else the one its
    message names) was killed after the trial started."""
    started = seconds_of(trial["startTime"]) - 0.5 if trial.get("startTime") else 0.0
    return any(k["what"] == "agent" and k["t"] >= started and
               (k["agent"] == agent or (agent is None and k["agent"] in message))
               for k in kills)


def cause_of(state, message, agent_dirs):
    """A failed trial's message with the agent names made generic."""
    for name in agent_dirs:
        message = re.sub(rf"\b{re.escape(name)}\b", "AGENT", message)
    return f"{state}: {message or '(no message)'}"


def read_store(path):
    """The job's points and tasks from the master's SQLite file, opened
    read-only (None when there is no file)."""
    if not pathlib.Path(path).exists():
        return None
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        points = con.execute("SELECT trial_id, task_id, tag, step, value FROM metrics"
                             " WHERE job_id = ?", (JOB,)).fetchall()
        tasks = con.execute("SELECT trial_id, task_id, attempt, agent FROM tasks"
                            " WHERE job_id = ? AND replica_type = 'master'", (JOB,)).fetchall()
    finally:
        con.close()
    return {"points": points, "tasks": tasks}


# -- running one seed --------------------------------------------------------------

class SeedResult:
    def __init__(self, mode, seed, kills, trials, tmp):
        self.mode, self.seed, self.kills_planned, self.trials, self.tmp = \
            mode, seed, kills, trials, tmp
        self.kills = []
        self.t0 = 0.0
        self.figures = collections.Counter()
        self.causes = collections.Counter()
        self.failures, self.notes = [], []
        self.wall = 0.0

    def describe_kills(self):
        parts = []
        for kill in self.kills:
            at = kill["t"] - self.t0
            if kill["what"] == "master":
                parts.append(f"master at {at:.2f}s (down {kill['down']:.2f}s)")
            else:
                back = f", back at {kill['back'] - self.t0:.2f}s" if "back" in kill else ""
                parts.append(f"{kill['agent']} at {at:.2f}s ({kill['restart']}{back})")
        return "; ".join(parts) or "none"

    @property
    def ok(self):
        return not self.failures

    def report(self):
        lines = [f"{self.mode} seed {self.seed}: {len(self.kills)}/{self.kills_planned} kills, "
                 f"{self.trials} trials, {self.wall:.1f} s: "
                 + ("OK" if self.ok else f"{len(self.failures)} FAILED CHECKS")]
        lines += [f"  FAIL {text}" for text in self.failures]
        lines += [f"  note {text}" for text in self.notes]
        if not self.ok:
            lines.append(f"  rerun: /usr/bin/python3 {HERE.relative_to(SRC)} --mode {self.mode} "
                         f"--seeds 1 --seed-base {self.seed} --kills {self.kills_planned}"
                         f" --trials {self.trials}")
            lines.append(f"  kills: {self.describe_kills()}")
            lines.append(f"  logs: {self.tmp}")
        return "\n".join(lines)


def job_finished(cluster):
    try:
        return cluster.job(JOB)["state"] in TERMINAL
    except (OSError, hpt_harness.ApiError):
        return False


def master_chaos(cluster, schedule, result):
    """Per kill: uptime 0.2-3 s, SIGKILL, downtime 0-1 s, restart."""
    for up, down in schedule:
        time.sleep(up)
        if job_finished(cluster):
            break
        result.kills.append({"what": "master", "t": time.time(), "up": up, "down": down})
        cluster.kill(cluster.master, signal.SIGKILL)
        time.sleep(down)
        cluster.start_master()


def live_processes(record, agent_dirs, alive_agents):
    """Trainer processes alive now, by agent, for the agents where one has
    reported."""
    records, _ = read_record(record)
    running = collections.defaultdict(list)
    for proc in processes_of(records, [], agent_dirs):
        if proc.exit is None and proc.agent in alive_agents and hpt_harness.pid_alive(proc.pid):
            running[proc.agent].append(proc)
    return {agent: procs for agent, procs in running.items() if any(p.reports for p in procs)}


def agent_chaos(cluster, schedule, result, record, agent_dirs):
    """Per kill: wait 0.2-3 s, SIGKILL an agent running a trial that has
    reported, restart it quickly (1st, 3rd... kill) or after the master
    declared it LOST (2nd, 4th...)."""
    for index, (wait, pick, pause) in enumerate(schedule):
        quick = index % 2 == 0
        time.sleep(wait)
        running, deadline, checked = {}, time.time() + 30, 0.0
        while not running and time.time() < deadline:
            if time.time() - checked > 1.0:
                if job_finished(cluster):
                    return
                checked = time.time()
            alive = {n for n, p in cluster.agents.items() if p.poll() is None}
            running = live_processes(record, agent_dirs, alive)
            if not running:
                time.sleep(0.05)
        if not running:
            result.failures.append(f"kill {index + 1}: no agent ran a trial within 30 s")
            result.figures["other"] += 1
            return
        names = sorted(running)
        victim = names[min(int(pick * len(names)), len(names) - 1)]
        pids = [p.pid for p in running[victim]]
        kill = {"what": "agent", "agent": victim, "t": time.time(),
                "restart": "quick" if quick else "late", "pids": pids}
        result.kills.append(kill)
        cluster.kill(cluster.agents[victim], signal.SIGKILL)
        try:
            hpt_harness.wait_for(lambda: not any(hpt_harness.pid_alive(p) for p in pids),
                                 timeout=10, what="the killed agent's tasks to die")
        except AssertionError:
            alive = [p.describe(result.t0) for p in running[victim]
                     if hpt_harness.pid_alive(p.pid)]
            result.failures.append(f"orphans: tasks of {victim} survived its SIGKILL: {alive}")
            result.figures["other"] += 1
        if not quick:
            hpt_harness.wait_for(lambda: (cluster.node(victim) or {}).get("state") == "LOST",
                                 timeout=AGENT_TIMEOUT + 10, what=f"{victim} LOST")
        time.sleep(pause)
        cluster.start_agent(victim, cpus=2, memory_gb=4)
        kill["back"] = time.time()
        if quick and kill["back"] - kill["t"] >= AGENT_TIMEOUT:
            result.notes.append(f"the quick restart of {victim} took "
                                f"{kill['back'] - kill['t']:.2f}s (agentTimeout {AGENT_TIMEOUT}s)")


def run_seed(mode, seed, kills, trials=None, parallel=4, tmp=None, say=None):
    """One job under one mode's kills; returns a SeedResult whose failures
    list every check that failed. tmp (created when None) holds the
    cluster's files and the trainer's record."""
    policy = POLICY[mode]
    schedule = draw_schedule(mode, random.Random(f"{mode}/{seed}"), kills)
    trials = trials or default_trials(mode, schedule, parallel)
    tmp = pathlib.Path(tmp or tempfile.mkdtemp(prefix=f"hpt-chaos-{mode}-{seed}-"))
    result = SeedResult(mode, seed, kills, trials, tmp)
    record = tmp / "trainer.log"
    config = f"  seed: {seed}" + (f"\n  agentLostPolicy: {policy}" if policy else "")
    cluster = hpt_harness.Cluster(tmp, master_config=config,
                                  agent_timeout=f"{AGENT_TIMEOUT:g}s")
    names = ("a1", "a2") if mode == "master" else ("a1", "a2", "a3")
    agent_dirs = {name: tmp / f"agent-{name}" for name in names}
    result.t0 = t0 = time.time()
    job = None
    try:
        cluster.start_master()
        for name in names:
            cluster.start_agent(name, cpus=2, memory_gb=4)
        cluster.submit(JOB, job_spec(trials, parallel, record))
        if mode == "master":
            master_chaos(cluster, schedule, result)
        else:
            agent_chaos(cluster, schedule, result, record, agent_dirs)
        if len(result.kills) < kills:
            result.notes.append(f"the job finished after {len(result.kills)} of {kills} kills")
        try:
            job = cluster.wait_job(JOB, timeout=90 + 4 * trials)
        except AssertionError as err:
            result.failures.append(f"the job did not finish: {err}")
            result.figures["other"] += 1
            job = cluster.job(JOB)
    except Exception as err:  # a daemon that would not start, an API error...
        result.failures.append(f"run aborted: {err!r}")
        result.figures["other"] += 1
    finally:
        cluster.stop()
    result.wall = time.time() - t0
    (tmp / "chaos.json").write_text(json.dumps(
        {"mode": mode, "seed": seed, "kills_planned": kills, "trials": trials, "t0": t0,
         "wall": result.wall, "agents": names, "kills": result.kills, "job": job}, indent=1))
    judge(result, job, names)
    if say:
        say(result.report())
    return result


def judge(result, job, names):
    """Runs verify() on what the seed's directory holds (the store, the
    trainer's record) and the job, into result."""
    tmp = result.tmp
    agent_dirs = {name: tmp / f"agent-{name}" for name in names}
    try:
        store = read_store(tmp / "state" / "hpt.db")
    except sqlite3.Error as err:
        store = None
        result.failures.append(f"the store could not be read: {err}")
        result.figures["other"] += 1
    records, bad = read_record(tmp / "trainer.log")
    if bad:
        result.failures.append(f"{bad} lines of the trainer's record are not JSON")
        result.figures["other"] += 1
    figures, failures, notes, causes = verify(job, store, records, result.kills,
                                              POLICY[result.mode], result.trials, agent_dirs,
                                              result.t0)
    result.figures.update(figures)
    result.causes.update(causes)
    result.failures += failures
    result.notes += notes


def recheck(directory):
    """The checks again on a kept seed directory (its chaos.json), e.g.
    after changing a check: no daemon runs."""
    tmp = pathlib.Path(directory).resolve()
    saved = json.loads((tmp / "chaos.json").read_text())
    result = SeedResult(saved["mode"], saved["seed"], saved["kills_planned"], saved["trials"], tmp)
    result.kills, result.t0, result.wall = saved["kills"], saved["t0"], saved["wall"]
    judge(result, saved["job"], saved["agents"])
    return result


# -- figures ---------------------------------------------------------------------------

def summary(mode, results):
    """The figures of one mode over its seeds, with the seeds where each
    problem showed, and the trials failed wrongly by cause."""
    lines = [f"{mode}: {len(results)} seeds, {sum(len(r.kills) for r in results)} kills "
             f"({sum(r.kills_planned for r in results)} planned), "
             f"{sum(r.trials for r in results)} trials, "
             f"wall {sum(r.wall for r in results):.1f} s"]
    causes = collections.Counter()
    for r in results:
        causes.update(r.causes)
    for name, label in FIGURES + ALLOWED:
        total = sum(r.figures[name] for r in results)
        seeds = sorted({r.seed for r in results if r.figures[name]})
        where = f"   seeds {', '.join(map(str, seeds))}" if seeds else ""
        lines.append(f"  {label:<48} {total:5d}{where}")
        if name == "failed_wrongly":
            for cause, count in causes.most_common():
                seeds = sorted({r.seed for r in results if r.causes[cause]})
                lines.append(f"    - {count} x {cause}   seeds {', '.join(map(str, seeds))}")
    failed = [r.seed for r in results if not r.ok]
    lines.append(f"  seeds with failed checks: {', '.join(map(str, failed)) or 'none'}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds (default 1)")
    parser.add_argument("--seed-base", type=int, default=1, help="first seed (default 1)")
    parser.add_argument("--kills", type=int, default=5, help="kills per seed (default 5)")
    parser.add_argument("--mode", default="all", choices=MODES + ("all",))
    parser.add_argument("--build", default=None,
                        help="build directory (default: $HPT_BIN_DIR's parent, else build)")
    parser.add_argument("--trials", type=int, default=None,
                        help="maxTrials (default: enough to outlast the kills, at least 12)")
    parser.add_argument("--parallel", type=int, default=4, help="maxParallelTrials (default 4)")
    parser.add_argument("--keep", action="store_true",
                        help="keep every seed's directory (failing ones are always kept)")
    parser.add_argument("--recheck", metavar="DIR", nargs="+",
                        help="no run: the checks again on kept seed directories")
    args = parser.parse_args()
    if args.recheck:
        results = [recheck(directory) for directory in args.recheck]
        for result in results:
            print(result.report())
        return 0 if all(r.ok for r in results) else 1
    if args.seeds < 1 or args.kills < 0 or args.parallel < 1 or (args.trials or 1) < 1:
        parser.error("--seeds, --parallel, --trials >= 1 and --kills >= 0")
    if args.build:
        hpt_harness.BIN = pathlib.Path(args.build).resolve() / "bin"
    for name in ("hptmaster", "hptagent"):
        if not (hpt_harness.BIN / name).exists():
            print(f"chaos: {hpt_harness.BIN / name} not found (--build)", file=sys.stderr)
            return 2
    modes = MODES if args.mode == "all" else (args.mode,)
    results = collections.defaultdict(list)
    for mode in modes:
        for seed in range(args.seed_base, args.seed_base + args.seeds):
            result = run_seed(mode, seed, args.kills, args.trials, args.parallel,
                              say=lambda text: print(text, flush=True))
            results[mode].append(result)
            if result.ok and not args.keep:
                shutil.rmtree(result.tmp, ignore_errors=True)
    print()
    for mode in modes:
        print(summary(mode, results[mode]))
    return 0 if all(r.ok for rs in results.values() for r in rs) else 1


if __name__ == "__main__":
    sys.exit(main())
