"""`hpt jobs ...` and `hpt nodes ...` against a fake master (fake_master.py):
what the CLI sends (paths, queries, bodies), what it prints, and its exit
status, including the master's errors, an unreachable master and answers
that are not JSON."""
import json
import os
import pathlib
import socket
import subprocess
import time

import pytest
import yaml

from fake_master import Chunked, FakeMaster, google_error

SRC = pathlib.Path(os.environ.get("HPT_SOURCE_DIR", pathlib.Path(__file__).parents[2]))
BIN = pathlib.Path(os.environ.get("HPT_BIN_DIR", SRC / "build" / "bin"))
CONFIGS = SRC / "tests" / "data" / "configs"
SEED = CONFIGS / "valid" / "seed_config.yaml"
JOBS = "/v1/projects/default/jobs"


@pytest.fixture
def master():
    m = FakeMaster()
    yield m
    m.close()


def hpt(*args, master=None, env=None, timeout=60):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HPT_")}
    environment["HPT_CONFIG"] = os.devnull  # not the config file of whoever runs the tests
    if master is not None:
        environment["HPT_MASTER"] = master.url
    environment.update(env or {})
    return subprocess.run([str(BIN / "hpt"), *args], capture_output=True, text=True,
                          timeout=timeout, env=environment)


def validated(config, *flags, **extra):
    """The canonical JSON `hpt validate` makes of config (with the trainer
    flags given) with extra top-level fields and args merged in: what
    submit must send."""
    job = json.loads(hpt("validate", "--config", str(config), *flags).stdout)
    args = extra.pop("args", None)
    job.update(extra)
    if args is not None:
        job["trainingInput"]["args"] = job["trainingInput"].get("args", []) + args
    return job


# ---------------------------------------------------------------- submit

def test_submit_sends_canonical_job_with_id_and_user_args(master, tmp_path):
    master.route("POST", JOBS, (200, {"jobId": "mnist_1", "state": "QUEUED"}))
    r = hpt("jobs", "submit", "training", "mnist_1", "--config", str(SEED),
            "--module-name", "trainer.task", "--", "--epochs=3", "-v", "--", "plain",
            master=master)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ("Job [mnist_1] submitted successfully.\n"
                        "Your job is still active. You may view the status of your job with the command\n"
                        "\n"
                        "  $ hpt jobs describe mnist_1\n"
                        "\n"
                        "or continue streaming the logs with the command\n"
                        "\n"
                        "  $ hpt jobs stream-logs mnist_1\n")
    assert r.stdout == "jobId: mnist_1\nstate: QUEUED\n"
    [req] = master.made("POST", JOBS)
    assert req.headers["Content-Type"] == "application/json"
    sent = req.json()
    # The canonical document: validate the expected job through hpt itself
    # (so key order and number forms are the model's) and compare text.
    expected_file = tmp_path / "expected.json"
    expected_file.write_text(json.dumps(validated(SEED, "--module-name", "trainer.task",
                                                  jobId="mnist_1",
                                                  args=["--epochs=3", "-v", "--", "plain"])))
    canonical = json.loads(hpt("validate", "--config", str(expected_file)).stdout)
    assert json.dumps(sent) == json.dumps(canonical)
    assert sent["jobId"] == "mnist_1"
    assert sent["trainingInput"]["args"] == ["--epochs=3", "-v", "--", "plain"]


def test_submit_job_id_replaces_the_configs(master, tmp_path):
    config = tmp_path / "job.json"
    job = json.loads(SEED.with_name("seed_job_spec.json").read_text())
    job["jobId"] = "from_file"
    config.write_text(json.dumps(job))
    master.route("POST", JOBS, (200, {"jobId": "from_cli", "state": "QUEUED"}))
    r = hpt("jobs", "submit", "training", "from_cli", "--config", str(config), master=master)
    assert r.returncode == 0, r.stderr
    assert master.made("POST", JOBS)[0].json()["jobId"] == "from_cli"


def test_invalid_config_never_reaches_the_master(master):
    config = CONFIGS / "invalid" / "many_errors.yaml"
    r = hpt("jobs", "submit", "training", "bad_1", "--config", str(config), master=master)
    assert r.returncode == 2
    v = hpt("validate", "--config", str(config))
    assert r.stderr == v.stderr       # the same problems, positions and count line
    assert f"{config}:" in r.stderr and "problems found" in r.stderr
    assert master.made() == []


def test_bad_job_id_and_missing_config_are_usage_errors(master):
    r = hpt("jobs", "submit", "training", "9lives", "--config", str(SEED), master=master)
    assert r.returncode == 2 and "invalid job id '9lives'" in r.stderr
    r = hpt("jobs", "submit", "training", "ok_id", master=master)
    assert r.returncode == 2 and "--config FILE is required" in r.stderr
    r = hpt("jobs", "submit", "ok_id", "--config", str(SEED), master=master)
    assert r.returncode == 2
    r = hpt("jobs", "submit", "training", "ok_id", "--config", "/nonexistent.yaml", master=master)
    assert r.returncode == 2 and "/nonexistent.yaml" in r.stderr
    assert master.made() == []


def test_master_400_prints_every_field_violation(master):
    master.route("POST", JOBS, (400, google_error(
        400, "INVALID_ARGUMENT", "the job spec has 2 problems",
        [("training_input.master_type", "no agent has 64 CPUs for complex_model_l"),
         ("training_input.hyperparameters.max_trials", "must be at most 10000")])))
    r = hpt("jobs", "submit", "training", "j1", "--config", str(SEED), master=master)
    assert r.returncode == 1
    assert r.stderr == ("ERROR: (hpt.jobs.submit) INVALID_ARGUMENT: the job spec has 2 problems\n"
                        "  training_input.master_type: no agent has 64 CPUs for complex_model_l\n"
                        "  training_input.hyperparameters.max_trials: must be at most 10000\n")
    assert r.stdout == ""


def test_taken_job_id_is_the_masters_409(master):
    master.route("POST", JOBS, (409, google_error(409, "ALREADY_EXISTS", "job j1 already exists")))
    r = hpt("jobs", "submit", "training", "j1", "--config", str(SEED), master=master)
    assert r.returncode == 1
    assert r.stderr == "ERROR: (hpt.jobs.submit) ALREADY_EXISTS: job j1 already exists\n"


# ---------------------------------------------------------------- describe

JOB = {
    "jobId": "tune_7",
    "trainingInput": {
        "scaleTier": "BASIC",
        "hyperparameters": {
            "goal": "MAXIMIZE", "maxTrials": "4", "hyperparameterMetricTag": "accuracy",
            "params": [{"parameterName": "lr", "type": "DOUBLE", "minValue": 0.001, "maxValue": 0.1},
                       {"parameterName": "units", "type": "INTEGER", "minValue": 8, "maxValue": 256}],
        },
    },
    "createTime": "2026-11-29T03:00:00Z",
    "startTime": "2026-11-29T03:00:01Z",
    "state": "RUNNING",
    "trainingOutput": {
        "isHyperparameterTuningJob": True,
        "completedTrialCount": "3",
        "hyperparameterMetricTag": "accuracy",
        "trials": [
            {"trialId": "3", "hyperparameters": {"lr": "0.01", "units": "64"},
             "finalMetric": {"trainingStep": "100", "objectiveValue": 0.93},
             "isTrialStoppedEarly": False, "state": "SUCCEEDED"},
            {"trialId": "1", "hyperparameters": {"lr": "0.05", "units": "128"},
             "finalMetric": {"trainingStep": "40", "objectiveValue": 0.5},
             "isTrialStoppedEarly": True, "state": "SUCCEEDED",
             "errorMessage": "median rule: best 0.5 at step 40 is worse than the median 0.7",
             "hptEstimatedObjectiveValue": 0.71},
            {"trialId": "2", "hyperparameters": {"lr": "0.002", "units": "8"},
             "state": "FAILED", "errorMessage": "no metric reported"},
            {"trialId": "4", "hyperparameters": {"lr": "0.003", "units": "16"}, "state": "RUNNING"},
        ],
    },
}


class NoTimestampLoader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's timestamp type."""


NoTimestampLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def test_describe_yaml_is_the_default_and_reads_back(master):
    master.route("GET", JOBS + "/tune_7", (200, JOB))
    r = hpt("jobs", "describe", "tune_7", master=master)
    assert r.returncode == 0, r.stderr
    assert yaml.load(r.stdout, Loader=NoTimestampLoader) == JOB
    assert r.stdout.startswith("jobId: tune_7\n")


def test_describe_yaml_times_stay_strings(master):
    master.route("GET", JOBS + "/tune_7", (200, JOB))
    r = hpt("jobs", "describe", "tune_7", master=master)
    assert yaml.safe_load(r.stdout)["createTime"] == "2026-11-29T03:00:00Z"


def test_describe_json(master):
    master.route("GET", JOBS + "/tune_7", (200, JOB))
    r = hpt("jobs", "describe", "tune_7", "--format", "json", master=master)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == JOB
    assert '"objectiveValue": 0.93' in r.stdout     # shortest form, not 0.93000000000000005


def test_describe_summarize_table_best_first(master):
    master.route("GET", JOBS + "/tune_7", (200, JOB))
    r = hpt("jobs", "describe", "tune_7", "--summarize", master=master)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "Job:        tune_7\n"
        "State:      RUNNING\n"
        "Trials:     3 completed of 4 (maxTrials)\n"
        "Metric:     accuracy (MAXIMIZE)\n"
        "Best trial: 3 (objective 0.93 at step 100)\n"
        "\n"
        "TRIAL  STATE      OBJECTIVE  STEP  lr     units\n"
        "3      SUCCEEDED  0.93       100   0.01   64\n"
        "1      SUCCEEDED  0.5        40    0.05   128\n"
        "2      FAILED     -          -     0.002  8\n"
        "4      RUNNING    -          -     0.003  16\n"
        "\n"
        "Notes:\n"
        "  trial 1: stopped early (median rule: best 0.5 at step 40 is worse than the median"
        " 0.7); the optimizer was told 0.71\n"
        "  trial 2: FAILED: no metric reported\n")


def test_describe_summarize_best_rounding_and_control_characters(master):
    """The best trial is a SUCCEEDED one with a final metric (not the
    RUNNING or FAILED trial that reported more); objectives print with 6
    significant digits; control characters from trainers never reach the
    terminal."""
    job = {"jobId": "j", "state": "FAILED", "errorMessage": "bad\x1b[31m red\rX",
           "trainingInput": {"hyperparameters": {"goal": "MINIMIZE", "maxTrials": "3"}},
           "trainingOutput": {"trials": [
               {"trialId": "1", "state": "RUNNING",
                "finalMetric": {"trainingStep": "1", "objectiveValue": 0.001}},
               {"trialId": "2", "state": "FAILED", "errorMessage": "exit 2\x07\nlast: boom",
                "finalMetric": {"trainingStep": "1", "objectiveValue": 0.0001}},
               {"trialId": "3", "state": "SUCCEEDED",
                "finalMetric": {"trainingStep": "7", "objectiveValue": 0.123456789012}},
               {"trialId": "4", "state": "SUCCEEDED",
                "finalMetric": {"trainingStep": "9", "objectiveValue": 0.5}}]}}
    master.route("GET", JOBS + "/j", (200, job))
    r = hpt("jobs", "describe", "j", "--summarize", master=master)
    assert r.returncode == 0, r.stderr
    assert "Best trial: 3 (objective 0.123457 at step 7)\n" in r.stdout
    assert "Error:      bad[31m redX\n" in r.stdout
    assert "  trial 2: FAILED: exit 2\n    last: boom\n" in r.stdout
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "\r" not in r.stdout
    assert "3      SUCCEEDED  0.123457" in r.stdout
    summary = json.loads(hpt("jobs", "describe", "j", "--summarize", "--format", "json",
                             master=master).stdout)
    assert summary["bestTrial"]["trialId"] == "3"
    job["trainingOutput"]["trials"] = job["trainingOutput"]["trials"][:2]
    master.route("GET", JOBS + "/j", (200, job))
    r = hpt("jobs", "describe", "j", "--summarize", master=master)
    assert "Best trial: none yet\n" in r.stdout


def test_describe_summarize_queued_job_without_trials(master):
    job = {"jobId": "waits", "state": "QUEUED", "hptQueueReason": "no agent has a free V100",
           "trainingInput": {"hyperparameters": {"goal": "MINIMIZE", "maxTrials": "2"}}}
    master.route("GET", JOBS + "/waits", (200, job))
    r = hpt("jobs", "describe", "waits", "--summarize", master=master)
    assert r.returncode == 0, r.stderr
    assert "Waiting:    no agent has a free V100\n" in r.stdout
    assert "Trials:     0 completed of 2 (maxTrials)\n" in r.stdout
    assert "Best trial: none yet\n" in r.stdout
    assert r.stdout.endswith("No trials yet.\n")


def test_describe_unknown_job_and_project_flag(master):
    master.route("GET", "/v1/projects/lab/jobs/nope",
                 (404, google_error(404, "NOT_FOUND", "job nope not found")))
    r = hpt("jobs", "describe", "nope", "--project", "lab", master=master)
    assert r.returncode == 1
    assert r.stderr == "ERROR: (hpt.jobs.describe) NOT_FOUND: job nope not found\n"
    r = hpt("--project=lab", "jobs", "describe", "nope", master=master)
    assert r.returncode == 1
    r = hpt("jobs", "describe", "nope", master=master, env={"HPT_PROJECT": "lab"})
    assert r.returncode == 1
    assert [q.path for q in master.made()] == ["/v1/projects/lab/jobs/nope"] * 3


# ---------------------------------------------------------------- list, cancel

def test_list_passes_the_filter_and_prints_a_table(master):
    master.route("GET", JOBS, (200, {"jobs": [
        {"jobId": "mnist_1", "state": "SUCCEEDED", "createTime": "2026-11-29T01:00:00Z"},
        {"jobId": "mnist_long_name_2", "state": "RUNNING", "createTime": "2026-11-29T02:00:00Z"}]}))
    r = hpt("jobs", "list", "--filter", "state=RUNNING AND jobId=mnist*", master=master)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("JOB_ID             STATUS     CREATED\n"
                        "mnist_1            SUCCEEDED  2026-11-29T01:00:00Z\n"
                        "mnist_long_name_2  RUNNING    2026-11-29T02:00:00Z\n")
    [req] = master.made("GET", JOBS)
    assert req.query == {"filter": "state=RUNNING AND jobId=mnist*"}
    assert " " not in req.raw_path


def test_list_without_filter_and_empty(master):
    master.route("GET", JOBS, (200, {}))
    r = hpt("jobs", "list", master=master)
    assert r.returncode == 0
    assert r.stdout == "" and r.stderr == "Listed 0 items.\n"
    assert master.made()[0].raw_query == ""


def jobs_page(request):
    """Three pages of two jobs, chained by tokens; filter and pageSize
    must travel with every request."""
    pages = {None: (["j1", "j2"], "t2"), "t2": (["j3", "j4"], "t3"), "t3": (["j5"], None)}
    names, token = pages[request.query.get("pageToken")]
    body = {"jobs": [{"jobId": n, "state": "QUEUED", "createTime": "t"} for n in names]}
    if token:
        body["nextPageToken"] = token
    return 200, body


def test_list_follows_every_page(master):
    master.route("GET", JOBS, jobs_page)
    r = hpt("jobs", "list", "--filter", "state=QUEUED", "--page-size", "2", master=master)
    assert r.returncode == 0, r.stderr
    assert [line.split()[0] for line in r.stdout.splitlines()] == \
        ["JOB_ID", "j1", "j2", "j3", "j4", "j5"]
    made = master.made("GET", JOBS)
    assert [q.query for q in made] == [
        {"filter": "state=QUEUED", "pageSize": "2"},
        {"filter": "state=QUEUED", "pageSize": "2", "pageToken": "t2"},
        {"filter": "state=QUEUED", "pageSize": "2", "pageToken": "t3"}]
    # --limit stops asking once it has enough.
    r = hpt("jobs", "list", "--limit", "3", master=master)
    assert [line.split()[0] for line in r.stdout.splitlines()] == ["JOB_ID", "j1", "j2", "j3"]
    assert len(master.made("GET", JOBS)) == 5
    for bad in (["--limit", "0"], ["--page-size", "x"], ["--page-size", "-2"]):
        assert hpt("jobs", "list", *bad, master=master).returncode == 2


def test_list_refuses_a_page_that_never_ends(master):
    master.route("GET", JOBS, (200, {"jobs": [{"jobId": "j"}], "nextPageToken": "same"}))
    r = hpt("jobs", "list", master=master)
    assert r.returncode == 1
    assert "same page again" in r.stderr
    assert len(master.made("GET", JOBS)) == 2


def test_cancel(master):
    master.route("POST", JOBS + "/tune_7:cancel", (200, {}))
    r = hpt("jobs", "cancel", "tune_7", master=master)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "Cancelled job [tune_7].\n"
    [req] = master.made()
    assert req.method == "POST" and req.body == b""


def test_cancel_finished_job_is_the_masters_error(master):
    master.route("POST", JOBS + "/done:cancel", (400, google_error(
        400, "FAILED_PRECONDITION", "job done has already finished (SUCCEEDED)")))
    r = hpt("jobs", "cancel", "done", master=master)
    assert r.returncode == 1
    assert r.stderr == ("ERROR: (hpt.jobs.cancel) FAILED_PRECONDITION: "
                        "job done has already finished (SUCCEEDED)\n")


# ---------------------------------------------------------------- stream-logs

def log_pages(final_state, pages=None):
    """A logs handler: pages of entries keyed by the cursor, the job going
    final after the last page (with one more page after it went final, to
    check that the CLI reads until nothing is left)."""
    entries = [
        {"seq": 1, "trialId": "1", "replica": "master-0", "stream": "stdout", "text": "epoch 1\n"},
        {"seq": 2, "trialId": "2", "replica": "master-0", "stream": "stderr", "text": "warning"},
        {"seq": 3, "trialId": "1", "replica": "worker-0", "stream": "stdout", "text": "epoch 2\n"},
        {"seq": 4, "trialId": "1", "replica": "master-0", "stream": "stdout", "text": "done"},
    ]
    pages = pages or {0: (entries[0:2], 2, "RUNNING"), 2: [([], 2, "RUNNING"), (entries[2:3], 3, "RUNNING")],
                      3: [([], 3, "RUNNING"), (entries[3:4], 4, final_state)], 4: ([], 4, final_state)}

    def handler(request):
        after = int(request.query["after"])
        page = pages[after]
        if isinstance(page, list):
            page = page.pop(0) if len(page) > 1 else page[0]
        got, nxt, state = page
        return 200, {"entries": got, "next": nxt, "jobState": state}
    return handler


STREAMED = ("[trial 1 master-0] epoch 1\n"
            "[trial 2 master-0] warning\n"
            "[trial 1 worker-0] epoch 2\n"
            "[trial 1 master-0] done\n")


def test_stream_logs_follows_pages_until_final(master):
    master.route("GET", JOBS + "/tune_7/logs", log_pages("SUCCEEDED"))
    r = hpt("jobs", "stream-logs", "tune_7", master=master)
    assert r.returncode == 0, r.stderr
    assert r.stdout == STREAMED
    # Only the logs are polled in order; the narration reads the Job
    # (absent here: the fake has no route for it, so nothing is narrated).
    polls = master.made("GET", JOBS + "/tune_7/logs")
    afters = [int(q.query["after"]) for q in polls]
    assert afters == [0, 2, 2, 3, 3, 4]
    assert all("trial" not in q.query for q in polls)


def test_stream_logs_exits_1_when_job_failed(master):
    master.route("GET", JOBS + "/tune_7/logs", log_pages("FAILED"))
    r = hpt("jobs", "stream-logs", "tune_7", "--trial", "1", master=master)
    assert r.returncode == 1
    assert r.stdout == STREAMED
    assert r.stderr == "Job [tune_7] ended FAILED.\n"
    assert all(q.query["trial"] == "1" for q in master.made("GET", JOBS + "/tune_7/logs"))


def test_stream_logs_prints_each_lines_time_in_the_local_zone(master):
    """gcloud prints when each log line was written; hpt does too, from
    the entry's time, in the caller's zone (TZ here)."""
    stamped = {0: ([{"seq": 1, "trialId": "1", "taskId": "j/1/master/0", "replica": "master-0",
                     "stream": "stdout", "time": "2026-12-04T03:26:44.666Z", "text": "a\nb\n"},
                    {"seq": 2, "replica": "hpt", "stream": "event",
                     "time": "2026-12-04T23:59:59.000Z", "text": "job SUCCEEDED"}], 2,
                   "SUCCEEDED"),
               2: ([], 2, "SUCCEEDED")}
    master.route("GET", JOBS + "/j/logs", log_pages("SUCCEEDED", stamped))
    r = hpt("jobs", "stream-logs", "j", master=master, env={"TZ": "Europe/Berlin"})
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("2026-12-04 04:26:44 +0100 [trial 1 master-0] a\n"
                        "2026-12-04 04:26:44 +0100 [trial 1 master-0] b\n"
                        "2026-12-05 00:59:59 +0100 [hpt] job SUCCEEDED\n"), r.stdout


def test_stream_logs_joins_chunks_into_lines(master):
    """The agent ships output in chunks as read from the pipe: a line may
    be split over entries and pages, and an entry may hold several lines.
    Each task's stream is reassembled separately; an unfinished line is
    printed once a poll brings nothing new."""
    def chunk(seq, task, text, stream="stdout"):
        trial = task.split("/")[1]
        return {"seq": seq, "trialId": trial, "taskId": task, "replica": "master-0",
                "stream": stream, "text": text}
    a, b = "j/1/master/0", "j/2/master/0"
    pages = {0: ([chunk(1, a, "step 1\nst"), chunk(2, b, "other "), chunk(3, a, "ep 2\n\nstep"),
                  chunk(4, a, "oops\n", "stderr")], 4, "RUNNING"),
             4: ([chunk(5, b, "line\n"), chunk(6, a, " 3\n"), chunk(7, a, "prompt> ")], 7, "RUNNING"),
             7: ([{"seq": 8, "replica": "hpt", "stream": "event", "text": "trial 1 SUCCEEDED"}], 8,
                 "SUCCEEDED"),
             8: ([], 8, "SUCCEEDED")}
    master.route("GET", JOBS + "/j/logs", log_pages("SUCCEEDED", pages))
    r = hpt("jobs", "stream-logs", "j", master=master)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("[trial 1 master-0] step 1\n"
                        "[trial 1 master-0] step 2\n"
                        "[trial 1 master-0] \n"
                        "[trial 1 master-0] oops\n"
                        "[trial 2 master-0] other line\n"
                        "[trial 1 master-0] step 3\n"
                        # A trial's end is told after its unfinished lines.
                        "[trial 1 master-0] prompt> \n"
                        "[hpt] trial 1 SUCCEEDED\n")


def test_stream_logs_allow_multiline_logs_prints_records_whole(master):
    """--allow-multiline-logs: each entry is one record under one prefix,
    as it came; without it, every line gets its prefix."""
    entry = {"seq": 1, "trialId": "1", "taskId": "j/1/master/0", "replica": "master-0",
             "stream": "stderr", "text": "Traceback:\n  line 3\n"}
    pages = {0: ([entry], 1, "SUCCEEDED"), 1: ([], 1, "SUCCEEDED")}
    master.route("GET", JOBS + "/m/logs", log_pages("SUCCEEDED", dict(pages)))
    r = hpt("jobs", "stream-logs", "m", "--allow-multiline-logs", master=master)
    assert r.stdout == "[trial 1 master-0] Traceback:\n  line 3\n", r.stderr
    master.route("GET", JOBS + "/m/logs", log_pages("SUCCEEDED", dict(pages)))
    r = hpt("jobs", "stream-logs", "m", master=master)
    assert r.stdout == "[trial 1 master-0] Traceback:\n[trial 1 master-0]   line 3\n"


def test_stream_logs_task_name_selects_one_task(master):
    def entry(seq, task, replica):
        return {"seq": seq, "trialId": "1", "taskId": task, "replica": replica,
                "stream": "stdout", "text": f"from {replica}\n"}
    pages = {0: ([entry(1, "j/1/master/0", "master-0"), entry(2, "j/1/worker/1", "worker-1"),
                  {"seq": 3, "replica": "hpt", "stream": "event", "text": "job cancelled"}],
                 3, "CANCELLED"), 3: ([], 3, "CANCELLED")}
    for name in ("worker-replica-1", "worker-1", "worker", "j/1/worker/1"):
        master.route("GET", JOBS + "/t/logs", log_pages("CANCELLED", dict(pages)))
        r = hpt("jobs", "stream-logs", "t", "--task-name", name, master=master)
        assert r.returncode == 1
        assert r.stdout == "[trial 1 worker-1] from worker-1\n[hpt] job cancelled\n", name


def test_stream_logs_reads_on_while_the_cursor_moves(master):
    """Under --trial the master may return a page with no entry for the
    trial but a moved cursor; the job being final then is no reason to stop."""
    line = {"seq": 9, "trialId": "5", "replica": "master-0", "text": "late line"}
    pages = {0: ([], 7, "SUCCEEDED"), 7: ([], 9, "SUCCEEDED"), 9: ([line], 10, "SUCCEEDED"),
             10: ([], 10, "SUCCEEDED")}
    master.route("GET", JOBS + "/t/logs", log_pages("SUCCEEDED", pages))
    r = hpt("jobs", "stream-logs", "t", "--trial", "5", master=master)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "[trial 5 master-0] late line\n"
    assert [int(q.query["after"]) for q in master.made("GET", JOBS + "/t/logs")] == [0, 7, 9, 10]


def test_stream_logs_bad_answers(master):
    master.route("GET", JOBS + "/a/logs", (200, {"entries": [], "next": 0}))
    r = hpt("jobs", "stream-logs", "a", master=master)
    assert r.returncode == 1 and "lacks entries, next or jobState" in r.stderr
    stuck = {"seq": 1, "trialId": "1", "replica": "master-0", "text": "again"}
    master.route("GET", JOBS + "/b/logs", (200, {"entries": [stuck], "next": 0, "jobState": "RUNNING"}))
    r = hpt("jobs", "stream-logs", "b", master=master)
    assert r.returncode == 1 and "did not advance" in r.stderr
    r = hpt("jobs", "stream-logs", "b", "--trial", "x1", master=master)
    assert r.returncode == 2


def test_stream_logs_waits_for_a_master_that_comes_back():
    """A master restarting under a long stream: the CLI warns once and
    retries instead of losing the stream."""
    port = free_port()
    proc = subprocess.Popen([str(BIN / "hpt"), "--master", f"http://127.0.0.1:{port}", "jobs",
                             "stream-logs", "tune_7"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    late = FakeMaster(port)
    try:
        late.route("GET", JOBS + "/tune_7/logs", log_pages("SUCCEEDED"))
        out, err = proc.communicate(timeout=30)
    finally:
        late.close()
    assert proc.returncode == 0, err
    assert out == STREAMED
    # Never reached yet: a warning once, and retried for HPT_FOLLOW_FIRST_MS.
    assert err.count("WARNING: cannot reach the hpt master") == 1


def test_submit_stream_logs(master):
    master.route("POST", JOBS, (200, {"jobId": "s1", "state": "QUEUED"}))
    master.route("GET", JOBS + "/s1/logs", log_pages("SUCCEEDED"))
    r = hpt("jobs", "submit", "training", "s1", "--config", str(SEED), "--stream-logs", master=master)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "Job [s1] submitted successfully.\n"
    assert r.stdout == STREAMED + "jobId: s1\nstate: SUCCEEDED\n"

    master.route("POST", JOBS, (200, {"jobId": "s2", "state": "QUEUED"}))
    master.route("GET", JOBS + "/s2/logs", log_pages("CANCELLED"))
    r = hpt("jobs", "submit", "training", "s2", "--stream-logs", "--config", str(SEED), master=master)
    assert r.returncode == 1
    assert r.stdout.endswith("jobId: s2\nstate: CANCELLED\n")


# ---------------------------------------------------------------- nodes

NODES = [
    {"name": "gpu-a", "state": "READY", "drainState": "NONE", "address": "10.0.0.1",
     "cpus": 16, "memoryGb": 125.4998046875, "freeCpus": 12, "freeMemoryGb": 100,
     "accelerators": [{"type": "NVIDIA_TESLA_V100", "index": i, "free": i != 0} for i in range(4)],
     "runningTasks": 1, "agentRunningTasks": 1, "load": 3.14159, "pendingEvents": 0,
     "lastSeen": "2026-11-29T03:00:00Z"},
    {"name": "cpu-b", "state": "LOST", "drainState": "DRAINED", "drainReason": "bad disk",
     "drainedBy": "alice", "drainTime": "2026-11-29T02:00:00Z",
     "cpus": 32, "memoryGb": 64, "freeCpus": 32, "freeMemoryGb": 64, "accelerators": [],
     "runningTasks": 0},
]


def test_nodes_list(master):
    master.route("GET", "/v1/nodes", (200, {"nodes": NODES}))
    r = hpt("nodes", "list", master=master)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "NAME   STATE  DRAIN    CPUS  FREE_CPUS  MEMORY_GB  GPUS                   TASKS  LOAD  REASON\n"
        "gpu-a  READY  NONE     16    12         125.5      3/4 NVIDIA_TESLA_V100  1      3.14  -\n"
        "cpu-b  LOST   DRAINED  32    32         64         -                      0      -     bad disk\n")


def test_nodes_list_follows_every_page(master):
    def pages(request):
        if request.query.get("pageToken") == "n2":
            return 200, {"nodes": [dict(NODES[0], name="zz")]}
        return 200, {"nodes": NODES[:1], "nextPageToken": "n2"}
    master.route("GET", "/v1/nodes", pages)
    r = hpt("nodes", "list", "--page-size", "1", master=master)
    assert r.returncode == 0, r.stderr
    assert [line.split()[0] for line in r.stdout.splitlines()][1:] == [NODES[0]["name"], "zz"]
    assert [q.query for q in master.made("GET", "/v1/nodes")] == [
        {"pageSize": "1"}, {"pageSize": "1", "pageToken": "n2"}]


def test_nodes_describe(master):
    master.route("GET", "/v1/nodes/cpu-b", (200, NODES[1]))
    master.route("GET", "/v1/nodes/zzz", (404, google_error(404, "NOT_FOUND", "no node zzz")))
    r = hpt("nodes", "describe", "cpu-b", master=master)
    assert r.returncode == 0, r.stderr
    assert yaml.load(r.stdout, Loader=NoTimestampLoader) == NODES[1]
    r = hpt("nodes", "describe", "zzz", master=master)
    assert r.returncode == 1
    assert r.stderr == "ERROR: (hpt.nodes.describe) NOT_FOUND: no node zzz\n"


def test_nodes_drain_and_undrain(master):
    drained = dict(NODES[0], drainState="DRAINING", drainReason="swap GPU 0", drainedBy="bob")
    master.route("POST", "/v1/nodes/gpu-a:drain", (200, drained))
    master.route("POST", "/v1/nodes/gpu-a:undrain", (200, NODES[0]))
    r = hpt("nodes", "drain", "gpu-a", "--reason", "swap GPU 0", master=master, env={"USER": "bob"})
    assert r.returncode == 0, r.stderr
    assert r.stderr == "Node [gpu-a] is DRAINING.\n"
    r = hpt("nodes", "drain", "--now", "gpu-a", master=master, env={"USER": "carol"})
    assert r.returncode == 0, r.stderr
    r = hpt("nodes", "undrain", "gpu-a", master=master)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "Node [gpu-a] is back in service (drain state NONE).\n"
    first, second = master.made("POST", "/v1/nodes/gpu-a:drain")
    assert first.json() == {"reason": "swap GPU 0", "now": False, "by": "bob"}
    assert second.json() == {"reason": "", "now": True, "by": "carol"}
    [undrain] = master.made("POST", "/v1/nodes/gpu-a:undrain")
    assert undrain.body == b""
    r = hpt("nodes", "undrain", "gpu-a", "--now", master=master)
    assert r.returncode == 2 and "unknown flag '--now'" in r.stderr


# ---------------------------------------------------------------- failures

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_master():
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["jobs", "list"], ["nodes", "list"], ["jobs", "describe", "x"]):
        r = hpt("--master", url, *args)
        assert r.returncode == 1
        assert r.stderr.startswith(f"ERROR: cannot reach the hpt master at {url}: ")
        assert "onnect" in r.stderr          # curl's reason: "Couldn't connect" / "Failed to connect"


def test_master_from_environment_and_flag(master):
    master.route("GET", "/v1/nodes", (200, {"nodes": []}))
    assert hpt("nodes", "list", master=master).returncode == 0
    assert hpt("nodes", "list", "--master", master.url + "/").returncode == 0
    assert hpt("--master", master.url, "nodes", "list").returncode == 0
    assert len(master.made("GET", "/v1/nodes")) == 3


@pytest.mark.parametrize("status,body", [
    (200, "<html>hello</html>"),
    (200, '{"jobs": [1, 2'),
    (200, "[1, 2, 3]"),
    (200, b"\x00\xff\xfe binary"),
    (502, "Bad Gateway"),
    (500, '{"error": "not google shape"}'),
])
def test_garbage_answers_are_clear_errors(master, status, body):
    master.route("GET", JOBS, (status, body))
    r = hpt("jobs", "list", master=master)
    assert r.returncode == 1
    assert r.stderr.startswith("ERROR: (hpt.jobs.list) "), r.stderr
    assert r.stderr.count("\n") == 1
    assert r.stderr.isprintable() or r.stderr[:-1].isprintable()


def test_wrong_shapes_are_errors_not_crashes(master):
    master.route("GET", JOBS, (200, {"jobs": {"a": 1}}))
    r = hpt("jobs", "list", master=master)
    assert r.returncode == 1 and "no list of jobs" in r.stderr
    master.route("GET", "/v1/nodes", (200, {"nodes": "x"}))
    r = hpt("nodes", "list", master=master)
    assert r.returncode == 1
    # Every field of the wrong type: printed as "-", never a crash.
    odd = {"jobId": 5, "state": ["x"], "trainingInput": 3,
           "trainingOutput": {"trials": [{"trialId": {}, "finalMetric": 7, "hyperparameters": [1]}, 3]}}
    master.route("GET", JOBS + "/odd", (200, odd))
    r = hpt("jobs", "describe", "odd", "--summarize", master=master)
    assert r.returncode == 0, r.stderr
    assert "TRIAL  STATE  OBJECTIVE  STEP\n" in r.stdout


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_answer_is_refused(master, chunked):
    body = b'{"jobs": "' + b"x" * (64 * 1024 * 1024 + 10) + b'"}'
    if chunked:
        body = Chunked(body[i:i + (1 << 20)] for i in range(0, len(body), 1 << 20))
    master.route("GET", JOBS, (200, body))
    r = hpt("jobs", "list", master=master)
    assert r.returncode == 1
    assert r.stderr == (f"ERROR: (hpt.jobs.list) the answer from the hpt master at {master.url} "
                        "is larger than 64 MiB\n")


def test_chunked_answer_is_read_whole(master):
    jobs = {"jobs": [{"jobId": f"j{i}", "state": "QUEUED", "createTime": "t"} for i in range(3000)]}
    text = json.dumps(jobs).encode()
    master.route("GET", JOBS, (200, Chunked(text[i:i + 1000] for i in range(0, len(text), 1000))))
    r = hpt("jobs", "list", master=master)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 3001


# ---------------------------------------------------------------- help

@pytest.mark.parametrize("command,flags", [
    (["jobs", "submit"], ["--config", "--stream-logs", "USER_ARGS", "--module-name",
                          "--package-path", "--packages", "--job-dir", "--scale-tier",
                          "--master-machine-type", "--master-accelerator", "--worker-machine-type",
                          "--worker-count", "--parameter-server-machine-type",
                          "--parameter-server-count", "--master-image-uri", "--labels",
                          "--region", "--runtime-version", "--python-version",
                          "--staging-bucket", "--async", "--format"]),
    (["jobs", "describe"], ["--format", "--summarize"]),
    (["jobs", "list"], ["--filter", "--page-size", "--limit", "--sort-by", "--uri", "--format"]),
    (["jobs", "update"], ["--update-labels", "--remove-labels", "--clear-labels", "--format"]),
    (["jobs", "cancel"], []),
    (["jobs", "stream-logs"], ["--trial", "--task-name", "--polling-interval",
                               "--allow-multiline-logs"]),
    (["nodes", "list"], ["--page-size", "--format"]),
    (["nodes", "describe"], ["--format"]),
    (["nodes", "drain"], ["--reason", "--now"]),
    (["nodes", "undrain"], []),
])
def test_help_documents_every_command_and_flag(command, flags):
    r = hpt(*command, "--help")
    assert r.returncode == 0
    assert " ".join(command) in r.stdout
    assert "--master" in r.stdout and "--project" in r.stdout
    for flag in flags:
        assert flag in r.stdout
    everything = hpt("--help").stdout
    assert " ".join(command) in everything
    for flag in flags:
        assert flag in everything


def test_usage_errors_exit_2():
    assert hpt("jobs").returncode == 2
    assert hpt("jobs", "frobnicate").returncode == 2
    assert hpt("nodes", "describe").returncode == 2
    assert hpt("jobs", "list", "--bogus").returncode == 2
    assert hpt("jobs", "describe", "x", "--format", "xml").returncode == 2
    assert hpt("--master").returncode == 2
    assert hpt("validate", "--config", str(SEED)).returncode == 2  # no trainer
    assert hpt("validate", "--config", str(SEED), "--module-name", "m").returncode == 0
