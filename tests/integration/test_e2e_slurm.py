"""Trials through a real Slurm (docs/slurm.md).

The module's fixture runs a single-node Slurm cluster of its own: munged
(as the munge user, on a socket in a temporary directory), slurmctld and
slurmd as root with a slurm.conf in that directory (linuxproc process
tracking, no task plugin, cons_tres, free ports), and stops them at the
end. The master finds it through SLURM_CONF, which its command runner's
children (sbatch, squeue, scontrol, scancel) and the jobs inherit.

Checked: a tuning job whose trials each run as one Slurm job (through
the hptagent the job starts, enrolled for that trial only) succeeds with
its metrics, and leaves no Slurm job behind; cancelling a job scancels
its Slurm jobs; a Slurm job killed outside hpt fails its trial with
Slurm's state.
"""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from hpt_harness import BIN, Cluster, free_port, synthetic_job, wait_for

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol")


def _missing():
    for name in DAEMONS:
        if not (shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")):
            return f"{name} is not installed (ops/install-deps.sh installs Slurm and munge)"
    if os.geteuid() != 0:
        return "the single-node Slurm runs its daemons as root"
    if not os.path.exists("/etc/munge/munge.key"):
        return "munge has no key (/etc/munge/munge.key)"
    return None


def _conf(tmp, ctld_port, slurmd_port):
    host = socket.gethostname().split(".")[0]
    cpus = os.cpu_count()
    return "\n".join([
        "ClusterName=hpttest",
        f"SlurmctldHost={host}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        f"AuthInfo=socket={tmp}/munge/munge.sock",
        "CredType=cred/munge",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "SchedulerType=sched/backfill",
        "SchedulerParameters=sched_interval=1",
        f"SlurmctldPort={ctld_port}",
        f"SlurmdPort={slurmd_port}",
        f"StateSaveLocation={tmp}/state",
        f"SlurmdSpoolDir={tmp}/spool",
        f"SlurmctldPidFile={tmp}/slurmctld.pid",
        f"SlurmdPidFile={tmp}/slurmd.pid",
        f"SlurmctldLogFile={tmp}/slurmctld.log",
        f"SlurmdLogFile={tmp}/slurmd.log",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "ReturnToService=2",
        "MpiDefault=none",
        "MinJobAge=600",
        f"NodeName={host} CPUs={cpus} RealMemory=2048 State=UNKNOWN",
        "PartitionName=hpt Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
    ]) + "\n"


class Slurm:
    """A single-node Slurm in a temporary directory."""

    def __init__(self):
        # Not under pytest's 0700 tmp: munged runs as munge and must reach
        # its socket's directory.
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="hpt-slurm-", dir="/tmp"))
        os.chmod(self.tmp, 0o711)
        for sub in ("state", "spool"):
            (self.tmp / sub).mkdir()
        munge = self.tmp / "munge"
        munge.mkdir(mode=0o711)
        shutil.chown(munge, "munge", "munge")
        os.chmod(munge, 0o711)
        self.conf = self.tmp / "slurm.conf"
        self.conf.write_text(_conf(self.tmp, free_port(), free_port()))
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))
        self.procs = []

    def _start(self, argv, name, user=None):
        log = open(self.tmp / f"{name}.out", "ab")
        if user:
            argv = ["runuser", "-u", user, "--", *argv]
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                cwd=self.tmp, start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def start(self):
        m = self.tmp / "munge"
        self._start(["munged", "-F", "--force", f"--socket={m}/munge.sock",
                     f"--pid-file={m}/munged.pid", f"--log-file={m}/munged.log",
                     f"--seed-file={m}/seed"], "munged", user="munge")
        wait_for(lambda: (m / "munge.sock").exists(), timeout=20, what="munged's socket")
        self._start(["slurmctld", "-D", "-c", "-f", str(self.conf)], "slurmctld")
        self._start(["slurmd", "-D", "-f", str(self.conf)], "slurmd")
        wait_for(self._idle, timeout=60, interval=0.5, what="the Slurm node idle")

    def _idle(self):
        for proc in self.procs:
            if proc.poll() is not None:
                raise AssertionError(f"{proc.args} exited: see {self.tmp}")
        out = self.run("sinfo", "--noheader", "--format=%t", check=False)
        return out.strip() in ("idle", "mix", "alloc")

    def run(self, *argv, check=True):
        result = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=30)
        if check and result.returncode != 0:
            raise AssertionError(f"{argv}: {result.stdout}{result.stderr}")
        return result.stdout

    def hpt_jobs(self):
        """hpt's Slurm jobs in the queue: {id: (name, state)}."""
        out = self.run("squeue", "--noheader", "--format=%i|%j|%T", check=False)
        jobs = {}
        for line in out.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[1].startswith("hpt-"):
                jobs[parts[0]] = (parts[1], parts[2])
        return jobs

    def stop(self):
        subprocess.run(["scancel", "--user=root"], env=self.env, capture_output=True)
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def slurm():
    why = _missing()
    if why:
        pytest.skip(why)
    cluster = Slurm()
    try:
        cluster.start()
    except AssertionError as error:
        logs = "".join((cluster.tmp / f).read_text(errors="replace")[-2000:]
                       for f in ("munged.out", "slurmctld.out", "slurmd.out")
                       if (cluster.tmp / f).exists())
        cluster.stop()
        pytest.fail(f"the test's Slurm did not start: {error}\n{logs}")
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    yield cluster
    if old is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = old
    cluster.stop()


@pytest.fixture
def cluster(tmp_path, slurm):
    work = tmp_path / "slurm-work"
    extra = "\n".join([
        "slurm:",
        "  partition: hpt",
        f"  agentCommand: {BIN / 'hptagent'}",
        f"  workdir: {work}",
        "  use: always",
        "  maxJobs: 4",
        "  pollInterval: 500ms",
        "  commandTimeout: 20s",
    ]) + "\n"
    c = Cluster(tmp_path, extra_config=extra)
    c.master_args = ["--log-level", "debug"]
    c.start_master()
    yield c
    c.stop()
    wait_for(lambda: not slurm.hpt_jobs(), timeout=30, interval=0.5,
             what="no hpt job left in Slurm")


def _log(cluster, job_id):
    return (cluster.state / "logs" / f"{job_id}.log").read_text(errors="replace") \
        if (cluster.state / "logs" / f"{job_id}.log").exists() else ""


def _trial_states(job):
    return [t.get("hptState", t.get("state"))
            for t in job.get("trainingOutput", {}).get("trials", [])]


def test_trials_run_as_slurm_jobs(cluster, slurm):
    # One more trial in parallel than the node has cores: it waits in
    # Slurm's queue, and says why.
    cores = os.cpu_count()
    spec = synthetic_job(max_trials=cores + 1, parallel=cores + 1,
                         extra_args=["--steps=20", "--sleep=0.1"])
    cluster.submit("viaslurm", spec)
    pending = wait_for(lambda: [t for t in cluster.job("viaslurm").get("trainingOutput", {})
                                .get("trials", []) if t.get("hptSlurmPendingReason")],
                       timeout=60, what="a trial pending in Slurm, with its reason")
    assert pending[0]["hptSlurmPendingReason"] in ("Resources", "Priority"), pending
    job = cluster.wait_job("viaslurm", timeout=150)
    assert job["state"] == "SUCCEEDED", job
    trials = job["trainingOutput"]["trials"]
    assert len(trials) == cores + 1
    for trial in trials:
        assert trial["finalMetric"]["trainingStep"] == "20", trial
        assert trial["hptSlurmJobId"].isdigit(), trial
        assert "hptSlurmPendingReason" not in trial, trial
    assert len({t["hptSlurmJobId"] for t in trials}) == cores + 1
    nodes = [n["name"] for n in cluster.get("/v1/nodes").get("nodes", [])]
    log = cluster.hpt("jobs", "stream-logs", "viaslurm").stdout + str(nodes)
    # Every trial was its own Slurm job, run by agents Slurm started.
    for trial_id in map(str, range(1, cores + 2)):
        assert f"trial {trial_id} is Slurm job" in log or \
            f"trial {trial_id} is Slurm job" in str(cluster.job("viaslurm")), log
    wait_for(lambda: not slurm.hpt_jobs(), timeout=30, interval=0.5,
             what="the trials' Slurm jobs ended")
    # Their agents are forgotten with them.
    wait_for(lambda: not [n for n in cluster.get("/v1/nodes").get("nodes", [])
                          if n["name"].startswith("hpt-")],
             timeout=20, what="the Slurm jobs' agents forgotten")


def test_cancel_scancels(cluster, slurm):
    # Cancelled with trials running and one still queued in Slurm.
    cores = os.cpu_count()
    spec = synthetic_job(max_trials=cores + 1, parallel=cores + 1,
                         extra_args=["--steps=1000", "--sleep=0.1"])
    cluster.submit("cancelme", spec)
    wait_for(lambda: "RUNNING" in _trial_states(cluster.job("cancelme")), timeout=90,
             what="a trial running in Slurm")
    wait_for(lambda: [t for t in cluster.job("cancelme")["trainingOutput"]["trials"]
                      if t.get("hptSlurmPendingReason")], timeout=30,
             what="a trial queued in Slurm")
    assert len(slurm.hpt_jobs()) == cores + 1
    cluster.request("POST", "/v1/projects/default/jobs/cancelme:cancel", {})
    job = cluster.wait_job("cancelme", timeout=60)
    assert job["state"] == "CANCELLED", job
    assert set(_trial_states(job)) == {"CANCELLED"}, job
    wait_for(lambda: not slurm.hpt_jobs(), timeout=30, interval=0.5,
             what="the cancelled job's Slurm jobs gone")


def test_slurm_job_killed_outside_fails_trial(cluster, slurm):
    spec = synthetic_job(max_trials=1, parallel=1, extra_args=["--steps=1000", "--sleep=0.1"])
    cluster.submit("killed", spec)
    wait_for(lambda: "RUNNING" in _trial_states(cluster.job("killed")), timeout=90,
             what="the trial running in Slurm")
    jobs = slurm.hpt_jobs()
    assert len(jobs) == 1, jobs
    slurm_id = next(iter(jobs))
    slurm.run("scancel", slurm_id)
    job = cluster.wait_job("killed", timeout=60)
    assert job["state"] == "FAILED", job
    trial = job["trainingOutput"]["trials"][0]
    assert trial.get("hptState", trial.get("state")) == "FAILED", trial
    text = str(job)
    assert f"its Slurm job {slurm_id}, which ended outside hpt: CANCELLED" in text, text


def _cluster(tmp_path, extra_slurm=(), master_config=""):
    extra = "\n".join([
        "slurm:",
        "  partition: hpt",
        f"  agentCommand: {BIN / 'hptagent'}",
        f"  workdir: {tmp_path / 'slurm-work'}",
        "  maxJobs: 4",
        "  pollInterval: 500ms",
        "  commandTimeout: 20s",
        *extra_slurm,
    ]) + "\n"
    c = Cluster(tmp_path, extra_config=extra, master_config=master_config)
    # Every Slurm command and its answer in master.log, for a failure's story.
    c.master_args = ["--log-level", "debug"]
    return c


def test_master_killed_between_sbatch_and_its_answer(tmp_path, slurm, monkeypatch):
    """The job is stored before sbatch runs; a master killed before sbatch
    answered cancels, after its restart, whatever sbatch made (by name),
    and runs the trial again: it runs once."""
    wrapper = tmp_path / "bin"
    wrapper.mkdir()
    (wrapper / "sbatch").write_text("#!/bin/sh\nid=$(/usr/bin/sbatch \"$@\") || exit $?\n"
                                    "sleep 15\necho \"$id\"\n")
    (wrapper / "sbatch").chmod(0o755)
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    monkeypatch.setenv("HPT_TEST_DUMP_DIR", str(dumps))
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", f"{wrapper}:{path}")
    c = _cluster(tmp_path)
    c.start_master()
    try:
        c.submit("interrupted", synthetic_job(max_trials=1, parallel=1,
                                              extra_args=["--steps=2", "--sleep=0.1"]))
        wait_for(slurm.hpt_jobs, timeout=30, what="the job in Slurm")
        first = dict(slurm.hpt_jobs())
        c.kill(c.master)
        monkeypatch.setenv("PATH", path)
        c.start_master()
        job = c.wait_job("interrupted", timeout=90)
        assert job["state"] == "SUCCEEDED", job
        log = c.hpt("jobs", "stream-logs", "interrupted").stdout
        assert "requeued: its Slurm submission was interrupted" in log, log
        # The first Slurm job was cancelled, and the trainer ran once.
        wait_for(lambda: not set(first) & set(slurm.hpt_jobs()), timeout=30,
                 what="the unrecorded Slurm job cancelled")
        assert len(list(dumps.glob("task-*.json"))) == 1
    finally:
        c.stop()
    wait_for(lambda: not slurm.hpt_jobs(), timeout=30, interval=0.5, what="no hpt job in Slurm")


def test_master_killed_while_trials_run_adopts_them(tmp_path, slurm, monkeypatch):
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    monkeypatch.setenv("HPT_TEST_DUMP_DIR", str(dumps))
    c = _cluster(tmp_path)
    c.start_master()
    try:
        c.submit("adopted", synthetic_job(max_trials=2, parallel=2,
                                          extra_args=["--steps=15", "--sleep=0.2"]))
        wait_for(lambda: _trial_states(c.job("adopted")).count("RUNNING") == 2, timeout=60,
                 what="both trials running in Slurm")
        before = dict(slurm.hpt_jobs())
        c.kill(c.master)
        c.start_master()
        job = c.wait_job("adopted", timeout=90)
        assert job["state"] == "SUCCEEDED", job
        # The same Slurm jobs went on: nothing was submitted again, and
        # each trainer ran once.
        log = c.hpt("jobs", "stream-logs", "adopted").stdout
        assert log.count("goes to Slurm") == 2, log
        assert len(list(dumps.glob("task-*.json"))) == 2
        assert len(before) == 2
    finally:
        c.stop()
    wait_for(lambda: not slurm.hpt_jobs(), timeout=30, interval=0.5, what="no hpt job in Slurm")


def test_curve_agents_use_the_job_key(tmp_path, slurm):
    """With CURVE, a Slurm job's agents hold a key the master made for that
    job alone (0600 in the node's workdir), admitted for its names only."""
    keys = tmp_path / "keys"
    enrolled = tmp_path / "agent-certs"
    enrolled.mkdir()
    subprocess.run([str(BIN / "hptmaster"), "keygen", str(keys)], check=True,
                   capture_output=True)
    c = _cluster(tmp_path, master_config="\n".join([
        "  security:", "    curve:", f"      cert: {keys / 'master.cert_secret'}",
        f"      agentCerts: {enrolled}"]))
    c.start_master()
    try:
        c.submit("curve", synthetic_job(max_trials=2, parallel=2,
                                        extra_args=["--steps=2", "--sleep=0.1"]))
        job = c.wait_job("curve", timeout=90)
        assert job["state"] == "SUCCEEDED", job
        secrets = list((tmp_path / "slurm-work").glob("*/agent.cert_secret"))
        assert len(secrets) == 2, secrets
        for secret in secrets:
            assert secret.stat().st_mode & 0o777 == 0o600
            assert "secret-key" in secret.read_text()
        assert not list(enrolled.iterdir())
        # Without the job's key, nobody registers as one of its agents.
        proc = subprocess.Popen([str(BIN / "hptagent"), "--master", c.agents_endpoint,
                                 "--name", secrets[0].parent.name + "of1", "--workdir",
                                 str(tmp_path / "rogue")], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        time.sleep(2)
        assert not [n for n in c.get("/v1/nodes").get("nodes", [])
                    if n["name"].startswith("hpt-")]
        proc.kill()
        proc.wait()
    finally:
        c.stop()
    wait_for(lambda: not slurm.hpt_jobs(), timeout=30, interval=0.5, what="no hpt job in Slurm")


def test_overflow_places_on_agents_first(tmp_path, slurm):
    """use: overflow: a trial goes to Slurm only when the registered agents
    cannot place it now."""
    c = _cluster(tmp_path, extra_slurm=["  use: overflow"])
    c.start_master()
    try:
        c.start_agent("permanent", cpus=1, memory_gb=1)
        c.submit("overflow", synthetic_job(max_trials=2, parallel=2,
                                           extra_args=["--steps=10", "--sleep=0.1"]))
        job = c.wait_job("overflow", timeout=90)
        assert job["state"] == "SUCCEEDED", job
        log = c.hpt("jobs", "stream-logs", "overflow").stdout
        # One trial fit the agent (1 CPU); the other went to Slurm.
        assert log.count("goes to Slurm") == 1, log
    finally:
        c.stop()
    wait_for(lambda: not slurm.hpt_jobs(), timeout=30, interval=0.5, what="no hpt job in Slurm")


def test_custom_cluster_in_one_slurm_job(tmp_path, slurm, monkeypatch):
    """A trial of a master and a worker is one Slurm job; both tasks run on
    its agents with one TF_CONFIG naming both."""
    import json
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    monkeypatch.setenv("HPT_TEST_DUMP_DIR", str(dumps))
    c = _cluster(tmp_path)
    c.start_master()
    try:
        spec = synthetic_job(max_trials=1, parallel=1, extra_args=["--steps=3", "--sleep=0.1"])
        spec.update(scaleTier="CUSTOM", masterType="standard", workerType="standard",
                    workerCount=1)
        c.submit("custom", spec)
        job = c.wait_job("custom", timeout=90)
        assert job["state"] == "SUCCEEDED", job
        records = [json.loads(p.read_text()) for p in sorted(dumps.glob("task-*.json"))]
        configs = {json.loads(r["env"]["TF_CONFIG"])["task"]["type"]:
                   json.loads(r["env"]["TF_CONFIG"]) for r in records}
        assert set(configs) == {"master", "worker"}, configs
        cluster = configs["master"]["cluster"]
        assert configs["worker"]["cluster"] == cluster
        assert len(cluster["master"]) == 1 and len(cluster["worker"]) == 1, cluster
        addresses = cluster["master"] + cluster["worker"]
        assert len(set(addresses)) == 2, addresses
        log = c.hpt("jobs", "stream-logs", "custom").stdout
        assert log.count("goes to Slurm") == 1, log
    finally:
        c.stop()
    wait_for(lambda: not slurm.hpt_jobs(), timeout=30, interval=0.5, what="no hpt job in Slurm")


def test_max_jobs(tmp_path, slurm):
    """slurm.maxJobs bounds the Slurm jobs submitted at once."""
    c = _cluster(tmp_path, extra_slurm=["  maxJobs: 1"])
    # _cluster's maxJobs: 4 comes first; the later key is a duplicate.
    c.config.write_text(c.config.read_text().replace("  maxJobs: 4\n", ""))
    c.start_master()
    try:
        c.submit("bounded", synthetic_job(max_trials=2, parallel=2,
                                          extra_args=["--steps=10", "--sleep=0.1"]))
        most = 0
        while c.job("bounded")["state"] not in ("SUCCEEDED", "FAILED", "CANCELLED"):
            most = max(most, len([j for j in slurm.hpt_jobs().values()
                                  if j[1] != "COMPLETING"]))
            time.sleep(0.1)
        assert c.job("bounded")["state"] == "SUCCEEDED"
        assert most == 1
        log = c.hpt("jobs", "stream-logs", "bounded").stdout
        assert log.count("goes to Slurm") == 2, log
    finally:
        c.stop()
    wait_for(lambda: not slurm.hpt_jobs(), timeout=30, interval=0.5, what="no hpt job in Slurm")


def test_queue_time_counts_for_max_wait_time(tmp_path, slurm):
    """A trial held in Slurm's queue shows Slurm's reason; the job's
    scheduling.maxWaitTime counts that time, and cancelling then scancels
    the queued job."""
    c = _cluster(tmp_path, extra_slurm=["  sbatchArgs: ['--begin=now+1hour']"])
    c.start_master()
    try:
        spec = synthetic_job(max_trials=1, parallel=1)
        spec["scheduling"] = {"maxWaitTime": "4s"}
        c.submit("held", spec)
        trial = wait_for(lambda: [t for t in c.job("held").get("trainingOutput", {})
                                  .get("trials", []) if t.get("hptSlurmPendingReason")],
                         timeout=20, what="the trial pending in Slurm")[0]
        assert trial["hptSlurmPendingReason"] == "BeginTime", trial
        job = c.wait_job("held", timeout=30)
        assert job["state"] == "CANCELLED", job
        assert "maxWaitTime" in job["errorMessage"], job
        wait_for(lambda: not slurm.hpt_jobs(), timeout=30, interval=0.5,
                 what="the queued Slurm job cancelled")
    finally:
        c.stop()


def test_a_job_slurm_can_never_run_is_refused(tmp_path, slurm):
    """A job whose trials need more than any node of the partition has
    (as sinfo tells) is refused at submission, with the reason."""
    from hpt_harness import ApiError
    c = _cluster(tmp_path)
    c.config.write_text(c.config.read_text().replace(
        '"memoryGb": 0.5', '"memoryGb": 64'))
    c.start_master()
    try:
        def refused():
            # The master asks sinfo at its start; until it has answered,
            # nothing is known and a job is accepted (sbatch then refuses
            # its trials).
            refused.n += 1
            try:
                c.submit(f"toobig{refused.n}", synthetic_job(max_trials=1, parallel=1))
            except ApiError as error:
                return error
            return None
        refused.n = 0
        error = wait_for(refused, timeout=20, interval=0.2, what="the job refused")
        assert error.status == 400, error
        message = str(error.body)
        assert "Slurm can never run this job's trials: a Slurm task needs 65536 MB of memory; " \
               "the largest node of partition hpt has 2048 MB" in message, message
    finally:
        c.stop()


def test_sbatch_refusal_fails_the_trial(tmp_path, slurm):
    """A trial sbatch refuses fails with sbatch's own message."""
    c = _cluster(tmp_path, extra_slurm=["  sbatchArgs: ['--constraint=nosuchfeature']"])
    c.start_master()
    try:
        c.submit("refused", synthetic_job(max_trials=1, parallel=1))
        job = c.wait_job("refused", timeout=30)
        assert job["state"] == "FAILED", job
        message = job["trainingOutput"]["trials"][0]["errorMessage"]
        assert "sbatch failed (1)" in message and "sbatch: error" in message, message
    finally:
        c.stop()
