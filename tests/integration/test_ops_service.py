"""Operating hpt as a service (docs/operations.md): the systemd units,
readiness and reload through sd_notify's socket, SIGHUP re-reading
cluster.yaml, /metrics against the documented list and the alert rules,
the log's shape, and an online backup restored into a master that starts
from it.

Each test runs real hptmaster/hptagent processes on loopback (hpt_harness).
The notify socket is a datagram socket of the test's own, given to the
daemons as NOTIFY_SOCKET the way systemd does for Type=notify units."""
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error

import pytest

from hpt_harness import BIN, SRC, ApiError, Cluster, stand_in_agent, synthetic_job, wait_for

UNITS = SRC / "ops" / "systemd"
RULES = SRC / "ops" / "prometheus" / "hpt-alerts.yaml"
DASHBOARD = SRC / "ops" / "grafana" / "hpt-dashboard.json"
OPERATIONS = SRC / "docs" / "operations.md"
LOG_LINE = re.compile(r'^ts=\S+Z level=(debug|info|warning|error)'
                      r'( (job|trial|task|node)=(\S+|"[^"]*"))* msg="(\\.|[^"\\])*"$')


class Notify:
    """The service manager's end of sd_notify: collects datagrams."""

    def __init__(self, tmp):
        self.path = str(pathlib.Path(tmp) / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []

    def poll(self):
        try:
            while True:
                self.messages.append(self.sock.recv(4096).decode())
        except socket.timeout:
            pass
        return self.messages

    def wait(self, line, after=0, timeout=20):
        return wait_for(lambda: any(line in m.split("\n") for m in self.poll()[after:]),
                        timeout=timeout, what=f"{line} on NOTIFY_SOCKET")


def notified_cluster(tmp_path, **kwargs):
    """A Cluster whose daemons get NOTIFY_SOCKET; returns (cluster, notify)."""
    cluster = Cluster(tmp_path, **kwargs)
    notify = Notify(tmp_path)
    spawn = cluster._spawn
    cluster._spawn = lambda argv, name, env=None: spawn(
        argv, name, dict(env or {}, NOTIFY_SOCKET=notify.path))
    return cluster, notify


@pytest.fixture
def cluster_factory(tmp_path):
    made = []

    def make(sub="main", **kwargs):
        (tmp_path / sub).mkdir()
        cluster, notify = notified_cluster(tmp_path / sub, **kwargs)
        made.append(cluster)
        return cluster, notify
    yield make
    for cluster in made:
        cluster.stop()


def scrape(cluster):
    """/metrics as {family name: TYPE} and the sample lines."""
    text = cluster.get("/metrics")
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    return types, text


def value(text, series):
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


def documented_metrics(table):
    """The metric names in the first column of docs/operations.md's
    table that follows the line starting with table."""
    text = OPERATIONS.read_text()
    text = text[text.index(table):]
    rows = re.search(r"\n\n((?:\|[^\n]*\n)+)", text).group(1)
    return set(re.findall(r"^\| `((?:hpt|process)_[a-z_]+)`", rows, re.M))


# -- units ---------------------------------------------------------------------

def test_units_verify(tmp_path):
    """systemd-analyze verify accepts both units, with their ExecStart
    pointed at the built binaries (verify checks that they exist), and
    says nothing: it only warns, exit 0, about a directive it cannot
    parse, so any output fails the test."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (ops/install-deps.sh installs it)")
    for unit in UNITS.glob("*.service"):
        (tmp_path / unit.name).write_text(unit.read_text().replace("/usr/bin/", f"{BIN}/"))
    result = subprocess.run(["systemd-analyze", "verify", *map(str, tmp_path.glob("*.service"))],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stdout and not result.stderr, result
    master = (UNITS / "hptmaster.service").read_text()
    for line in ("Type=notify", "User=hpt", "ProtectSystem=strict", "ReadWritePaths=/var/lib/hpt",
                 "NoNewPrivileges=yes", "PrivateTmp=yes", "Restart=on-failure",
                 "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line in master.splitlines(), line
    agent = (UNITS / "hptagent.service").read_text()
    for line in ("Type=notify", "KillMode=mixed", "Restart=on-failure"):
        assert line in agent.splitlines(), line


def test_completion_matches_help():
    """Every command of `hpt --help` is completed, and nothing else."""
    usage = subprocess.run([str(BIN / "hpt"), "--help"], capture_output=True, text=True).stdout
    commands = set()
    for line in usage.splitlines():
        # Command lines start with a top-level command; the prose of the
        # Formats section (also indented two spaces) does not.
        if re.match(r"^  (validate|jobs|nodes|auth|users|audit)( |$)", line):
            words = line.split()
            second = len(words) > 1 and re.fullmatch(r"[a-z][a-z-]*", words[1])
            commands.add(" ".join(words[:2]) if second else words[0])
    completion = (SRC / "ops" / "completion" / "hpt.bash").read_text()
    completed = set()
    for label in re.findall(r'^\s+("[^)]*)\) options=', completion, re.M):
        for case in re.findall(r'"([a-z-]+(?: [a-z-]+)?) ?"', label):
            if case not in ("jobs", "nodes", "auth", "users", "audit", ""):
                completed.add(case)
    assert commands == completed, (commands ^ completed)


# -- readiness, reload ---------------------------------------------------------

def custom_job(machine_type):
    spec = synthetic_job(max_trials=1, parallel=1)
    spec.update(scaleTier="CUSTOM", masterType=machine_type)
    return spec


def test_ready_and_sighup_reload(cluster_factory):
    """READY=1 once the master serves; SIGHUP adds a machine type live
    (RELOADING=1, then READY=1); a change that needs a restart is named
    and kept; a broken file is refused and counted, the master unharmed."""
    cluster, notify = cluster_factory()
    cluster.start_master()
    notify.wait("READY=1")
    with pytest.raises(ApiError) as refused:
        cluster.submit("before", custom_job("roomy"))
    assert refused.value.status == 400, refused.value

    seen = len(notify.poll())
    text = cluster.config.read_text()
    cluster.config.write_text(text + '  roomy: {"cpus": 1, "memoryGb": 0.25}\n')
    cluster.master.send_signal(signal.SIGHUP)
    notify.wait("RELOADING=1", after=seen)
    notify.wait("READY=1", after=seen)
    cluster.submit("after", custom_job("roomy"))
    _, metrics = scrape(cluster)
    assert value(metrics, 'hpt_config_reloads_total{result="ok"}') == 1

    # master.api needs a restart: named in the log, the old port serves on.
    moved = cluster.config.read_text().replace(f"127.0.0.1:{cluster.api_port}", "127.0.0.1:1")
    cluster.config.write_text(moved)
    cluster.master.send_signal(signal.SIGHUP)
    log = cluster.tmp / "master.log"
    wait_for(lambda: "master.api" in log.read_text(), what="the restart-only change named")
    cluster.config.write_text(moved + "  broken: {cpus: -1}\n")
    cluster.master.send_signal(signal.SIGHUP)
    wait_for(lambda: value(scrape(cluster)[1], 'hpt_config_reloads_total{result="refused"}') == 1,
             what="the broken file refused")
    assert "reload refused" in log.read_text()
    assert cluster.job("after")["jobId"] == "after"


def test_sigterm_stops_the_master_at_once(tmp_path):
    """`systemctl stop` sends SIGTERM, which the kernel gives to any one of
    the master's threads. Sent as an agent's connection closes, it did not
    interrupt the loop's poll (another thread took it), and the loop slept
    on to its next timer: here a heartbeat round 10 s away. Five times,
    since where the signal lands is a matter of timing."""
    zmq = pytest.importorskip("zmq")
    for attempt in range(5):
        (tmp_path / str(attempt)).mkdir()
        cluster = Cluster(tmp_path / str(attempt), heartbeat="10s", agent_timeout="60s")
        context = zmq.Context()
        try:
            cluster.start_master()
            stand_in_agent(context, cluster.agents_endpoint)
            context.destroy(linger=0)  # the agent goes
            began = time.monotonic()
            cluster.master.send_signal(signal.SIGTERM)
            cluster.master.wait(timeout=15)
            took = time.monotonic() - began
            assert took < 3, f"attempt {attempt}: the master took {took:.1f} s to stop"
            assert cluster.master.returncode == 0, cluster.master.returncode
        finally:
            context.destroy(linger=0)
            cluster.stop()


def test_agent_ready(cluster_factory):
    cluster, notify = cluster_factory()
    cluster.start_master()
    notify.wait("READY=1")
    seen = len(notify.poll())
    cluster.start_agent("a1", cpus=1)
    notify.wait("READY=1", after=seen)


# -- metrics, alert rules, logs -------------------------------------------------

def test_metrics_rules_and_logs(cluster_factory):
    """After a job: the documented metrics are exactly the families
    served, they count what happened, promtool accepts the text and the
    alert rules, and every metric a rule uses is served. The log is one
    logfmt line per event and never shows the job's env values."""
    cluster, _ = cluster_factory()
    cluster.start_master()
    cluster.start_agent("a1", cpus=2)
    spec = synthetic_job(max_trials=3, parallel=2)
    spec["env"] = {"SECRET_TOKEN": "hunter2-do-not-log"}
    cluster.submit("watched", spec)
    assert cluster.wait_job("watched", timeout=90)["state"] == "SUCCEEDED"
    with pytest.raises(ApiError):
        cluster.job("no_such_job")
    types, text = scrape(cluster)

    documented = documented_metrics("The master's metrics")
    assert documented == set(types), (documented - set(types), set(types) - documented)
    assert value(text, "hpt_trials_started_total") == 3
    assert value(text, 'hpt_trials_finished_total{state="SUCCEEDED"}') == 3
    assert value(text, 'hpt_trial_run_seconds_count{state="SUCCEEDED"}') == 3
    assert value(text, "hpt_trial_queue_wait_seconds_count") == 3
    assert value(text, 'hpt_suggestion_seconds_count{algorithm="ALGORITHM_UNSPECIFIED"}') >= 3
    # The job asked the suggester, which held its model while it ran; once
    # the job is finished the suggester is told to drop it.
    wait_for(lambda: value(scrape(cluster)[1], "hpt_suggester_models") == 0,
             what="the finished job's model dropped by the suggester")
    assert value(text, "hpt_store_commit_seconds_count") > 0
    assert value(text, 'hpt_agent_events_total{kind="task_exited",outcome="stored"}') == 3
    assert value(text, 'hpt_api_requests_total{route="/v1/projects/{project}/jobs",'
                       'method="POST",code="200"}') == 1
    assert value(text, 'hpt_api_requests_total{route="/v1/projects/{project}/jobs/{job}",'
                       'method="GET",code="404"}') == 1
    assert value(text, 'hpt_node_cpus{node="a1"}') == 2
    assert value(text, 'hpt_node_state{node="a1",state="READY",drain="NONE"}') == 1
    version = subprocess.run([str(BIN / "hptmaster"), "--version"], capture_output=True,
                             text=True).stdout.split()[1]
    assert value(text, f'hpt_build_info{{version="{version}"}}') == 1

    rule_metrics = set(re.findall(r"\b(hpt_[a-z_]+|up)\b", RULES.read_text()))
    assert rule_metrics - {"up"} <= set(types), rule_metrics - set(types)
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    used = {re.sub(r"_(bucket|sum|count)$", "", m) for m in re.findall(r"\bhpt_[a-z_]+", exprs)}
    assert used and used <= set(types), used - set(types)
    if shutil.which("promtool"):
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                               text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        rules = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True,
                               text=True, timeout=60)
        assert rules.returncode == 0, rules.stdout + rules.stderr
    else:
        print("promtool not installed: rules and text not checked by it")

    for name in ("master.log", "agent-a1.log"):
        lines = (cluster.tmp / name).read_text().splitlines()
        assert "hunter2-do-not-log" not in "\n".join(lines), name
        events = [line for line in lines if line.startswith("ts=")]
        assert events, name
        for line in events:
            assert LOG_LINE.match(line), line


def test_agent_metrics(cluster_factory):
    """An agent with --metrics-listen serves its own /metrics: the
    documented families, its launches and events counted, accepted by
    promtool; a bad address is refused before it starts."""
    from hpt_harness import free_port
    import urllib.request
    cluster, _ = cluster_factory()
    cluster.start_master()
    port = free_port()
    cluster.start_agent("a1", cpus=2, extra=("--metrics-listen", f"127.0.0.1:{port}"))
    cluster.submit("counted", synthetic_job(max_trials=2, parallel=2))
    assert cluster.wait_job("counted", timeout=90)["state"] == "SUCCEEDED"

    def scrape_agent():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            return resp.read().decode()
    text = wait_for(lambda: (lambda t: t if value(t, "hpt_agent_tasks_running") == 0 else None)(
        scrape_agent()), what="no task running")
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert documented_metrics("The agent's metrics") == set(types), set(types)
    assert value(text, "hpt_agent_registered") == 1
    assert value(text, "hpt_agent_task_launch_seconds_count") == 2
    assert value(text, 'hpt_agent_spooled_events_total{kind="TASK_STARTED"}') == 2
    assert value(text, 'hpt_agent_spooled_events_total{kind="TASK_EXITED"}') == 2
    assert value(text, "hpt_agent_task_launch_failures_total") == 0
    if shutil.which("promtool"):
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                               text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=10)
    assert missing.value.code == 404
    bad = subprocess.run([str(BIN / "hptagent"), "--master", cluster.agents_endpoint,
                          "--metrics-listen", "localhost"], capture_output=True, text=True,
                         timeout=30)
    assert bad.returncode != 0 and "--metrics-listen" in bad.stderr, bad
    # The port has no authentication: loopback only.
    bad = subprocess.run([str(BIN / "hptagent"), "--master", cluster.agents_endpoint,
                          "--metrics-listen", "0.0.0.0:0"], capture_output=True, text=True,
                         timeout=30)
    assert bad.returncode != 0 and "loopback" in bad.stderr, bad


def test_log_level(cluster_factory):
    """--log-level warning leaves out info lines (the agent's
    registration line is one)."""
    cluster, _ = cluster_factory()
    cluster.start_master()
    cluster.start_agent("quiet", cpus=1, extra=("--log-level", "warning"))
    cluster.start_agent("chatty", cpus=1)
    assert "level=info" in (cluster.tmp / "agent-chatty.log").read_text()
    assert "level=info" not in (cluster.tmp / "agent-quiet.log").read_text()


def test_journal_lines(tmp_path):
    """With stderr the journal's stream (JOURNAL_STREAM names its device
    and inode), lines carry the syslog priority instead of a timestamp."""
    cluster = Cluster(tmp_path)
    log = tmp_path / "master.log"
    log.touch()
    info = os.stat(log)
    spawn = cluster._spawn
    cluster._spawn = lambda argv, name, env=None: spawn(
        argv, name, dict(env or {}, JOURNAL_STREAM=f"{info.st_dev}:{info.st_ino}"))
    try:
        cluster.start_master()
        cluster.master.send_signal(signal.SIGHUP)
        wait_for(lambda: "<6>level=info" in log.read_text(), what="a journal line")
        assert not re.search(r"^ts=", log.read_text(), re.M)
    finally:
        cluster.stop()


# -- backup and restore ----------------------------------------------------------

def test_backup_while_running_restores(cluster_factory, tmp_path):
    """hptmaster backup copies the store while a job runs; restore refuses
    while a master holds the store; a master started on the restored
    store has the job with every trial the copy holds."""
    cluster, _ = cluster_factory()
    cluster.start_master()
    cluster.start_agent("a1", cpus=2)
    cluster.submit("kept", synthetic_job(max_trials=4, parallel=2,
                                         extra_args=("--steps=20", "--sleep=0.1")))
    wait_for(lambda: cluster.job("kept").get("trainingOutput", {}).get("trials"),
             what="trials running")
    hptmaster = str(BIN / "hptmaster")
    out = tmp_path / "backup.db"
    run = subprocess.run([hptmaster, "backup", "--cluster", str(cluster.config), str(out)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert (out.stat().st_mode & 0o777) == 0o600
    again = subprocess.run([hptmaster, "backup", "--cluster", str(cluster.config), str(out)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "exists" in again.stderr, again
    busy = subprocess.run([hptmaster, "restore", "--cluster", str(cluster.config), str(out)],
                          capture_output=True, text=True, timeout=60)
    assert busy.returncode == 1 and "in use" in busy.stderr, busy
    with sqlite3.connect(out) as db:
        (job_state,) = db.execute("SELECT state FROM jobs WHERE job_id = 'kept'").fetchone()
        copied = {row[0]: row[1] for row in db.execute(
            "SELECT trial_id, state FROM trials WHERE job_id = 'kept'")}
    assert job_state in ("QUEUED", "PREPARING", "RUNNING") and copied, (job_state, copied)
    cluster.wait_job("kept", timeout=120)
    cluster.stop()

    restored, _ = cluster_factory("restored")
    run = subprocess.run([hptmaster, "restore", "--cluster", str(restored.config), str(out)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    restored.start_master()
    trials = restored.job("kept")["trainingOutput"].get("trials", [])
    assert {int(t["trialId"]) for t in trials} == set(copied), (trials, copied)

    newer = tmp_path / "newer.db"
    shutil.copy(out, newer)
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 99")
    restored.stop()
    refused = subprocess.run([hptmaster, "restore", "--cluster", str(restored.config), str(newer)],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "newer than this hpt" in refused.stderr, refused

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    bad = subprocess.run([hptmaster, "restore", "--cluster", str(restored.config), str(garbage)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "restore" in bad.stderr, bad
