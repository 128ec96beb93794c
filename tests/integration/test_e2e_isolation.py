"""What a hostile job or trainer could do to an agent's host, and what
stops it (docs/security.md, "Tasks"):

- a workingDir that could never stay beneath the agent's --workdir is
  refused at submission (it used to pass and fail every trial at launch);
- tasks run as the agent's --run-as user, or as a job's runAs user when
  the agent allows it (--allow-run-as), else fail before they start;
- such a task (the trainer reports what it tried) has its user's uid,
  groups and HOME, owns its task directory (0700) and its metric file's
  directory, imports its package from the cache, and cannot write the
  spool, the package cache, the agent's directories or another user's
  task directory;
- a workingDir that does not exist, or leaves the workdir through a
  symbolic link, fails the task at launch with the reason.

The run-as tests need root (they create the users hpt-test-task and
hpt-test-other when missing) and skip otherwise."""
import json
import os
import pathlib
import pwd
import shutil
import stat
import subprocess
import tarfile
import tempfile

import pytest

from hpt_harness import PYTHON, ApiError, Cluster, synthetic_job

USERS = ("hpt-test-task", "hpt-test-other")

# The trainer: tries to write where the test says, reports what happened
# on stdout (one PROBE line, JSON), then reports the metric.
PROBE = r'''
import errno, json, os, sys, time

def attempt(path):
    try:
        with open(os.path.join(path, "hpt-probe-%d" % os.getpid()), "w") as f:
            f.write("x")
        return "written"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))

report = {"uid": os.getuid(), "gid": os.getgid(), "groups": sorted(os.getgroups()),
          "home": os.environ.get("HOME"), "user": os.environ.get("USER"),
          "logname": os.environ.get("LOGNAME"), "cwd": os.getcwd(),
          "module": os.path.dirname(os.path.abspath(__file__)),
          "umask": os.umask(0o22)}
targets = json.loads(os.environ["PROBE_TARGETS"])
targets["own task dir"] = os.environ["HPT_TASK_DIR"]
targets["metric dir"] = os.path.dirname(os.environ["CLOUD_ML_HP_METRIC_FILE"])
targets["package"] = report["module"]
report["writes"] = {name: attempt(path) for name, path in targets.items()}
print("PROBE " + json.dumps(report), flush=True)
with open(os.environ["CLOUD_ML_HP_METRIC_FILE"], "w") as f:
    f.write(json.dumps({"timestamp": time.time(), "loss": 0.5}) + "\n")
'''


def _ensure_users():
    if os.geteuid() != 0:
        pytest.skip("needs root: creates task users and runs tasks as them")
    for user in USERS:
        try:
            pwd.getpwnam(user)
        except KeyError:
            result = subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir",
                                     "/nonexistent", "--shell", "/usr/sbin/nologin", user],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                pytest.skip(f"cannot create user {user}: {result.stderr.strip()}")
    return {user: pwd.getpwnam(user) for user in USERS}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("isolation"))
    c.start_master()
    c.start_agent("a1", cpus=2)
    yield c
    c.stop()


@pytest.mark.parametrize("working_dir, why", [
    ("/etc", "must be a relative path"),
    ("jobs/../../..", "must not contain a '..' component"),
    ("a\tb", "must not contain control characters"),
    ("d" * 1025, "longer than 1024 bytes"),
])
def test_working_dir_refused_at_submission(cluster, working_dir, why):
    spec = synthetic_job(max_trials=1, parallel=1)
    spec["workingDir"] = working_dir
    with pytest.raises(ApiError) as refused:
        cluster.submit("wd", spec)
    assert refused.value.status == 400, refused.value.body
    violations = refused.value.body["error"]["details"][0]["fieldViolations"]
    assert [(v["field"], v["hptPointer"]) for v in violations] == \
        [("training_input.working_dir", "/trainingInput/workingDir")], violations
    assert why in violations[0]["description"], violations


@pytest.fixture(scope="module")
def isolated(tmp_path_factory):
    """A master and an agent running tasks as hpt-test-task (and allowing
    hpt-test-other), its workdir where task users can reach it, with a
    package of the probe trainer and an operator's code directory."""
    users = _ensure_users()
    base = pathlib.Path(tempfile.mkdtemp(prefix="hpt-isolation-", dir="/tmp"))
    base.chmod(0o711)
    workdir = base / "agent"
    (workdir / "code").mkdir(parents=True)
    (workdir / "code").chmod(0o755)
    os.symlink("/tmp", workdir / "escape")
    source = base / "src" / "probe"
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("")
    (source / "task.py").write_text(PROBE)
    package = base / "probe-0.1.tar.gz"
    with tarfile.open(package, "w:gz") as archive:
        archive.add(source, arcname="probe")
    c = Cluster(tmp_path_factory.mktemp("isolated"))
    c.start_master()
    c.start_agent("iso", cpus=2, workdir=workdir,
                  extra=["--run-as", USERS[0], "--allow-run-as", USERS[1]])
    c.users, c.workdir, c.package = users, workdir, package
    yield c
    c.stop()
    shutil.rmtree(base, ignore_errors=True)


def probe_job(c, targets, **extra):
    return {"pythonModule": "probe.task", "packageUris": [f"file://{c.package}"],
            "env": {"PROBE_TARGETS": json.dumps({k: str(v) for k, v in targets.items()})},
            "hyperparameters": {"goal": "MINIMIZE", "hyperparameterMetricTag": "loss",
                                "maxTrials": 1, "params": [
                                    {"parameterName": "x", "type": "INTEGER", "minValue": 1,
                                     "maxValue": 2}]},
            **extra}


def task_dir(c, job_id):
    return c.workdir / "tasks" / f"{job_id}:1:master:0"


def probe_report(c, job_id):
    done = c.wait_job(job_id, timeout=90)
    log = (task_dir(c, job_id) / "stdout.log").read_text()
    lines = [line for line in log.splitlines() if line.startswith("PROBE ")]
    assert done["state"] == "SUCCEEDED" and lines, (done, log,
                                                    (task_dir(c, job_id) / "stderr.log").read_text())
    return json.loads(lines[0][len("PROBE "):])


def test_tasks_run_as_the_agents_task_user(isolated):
    c = isolated
    user = c.users["hpt-test-task"]
    targets = {"spool": c.workdir / "spool", "workdir": c.workdir, "tasks": c.workdir / "tasks",
               "packages": c.workdir / "packages", "code": c.workdir / "code"}
    c.submit("default_user", probe_job(c, targets))
    report = probe_report(c, "default_user")
    assert report["uid"] == user.pw_uid and report["gid"] == user.pw_gid, report
    assert user.pw_gid in report["groups"] and 0 not in report["groups"], report
    assert (report["home"], report["user"], report["logname"]) == (
        user.pw_dir, user.pw_name, user.pw_name), report
    assert report["module"].startswith(str(c.workdir / "packages")), report
    writes = report["writes"]
    assert writes["own task dir"] == "written" and writes["metric dir"] == "written", writes
    for name in ("spool", "workdir", "tasks", "packages", "code", "package"):
        assert writes[name] == "EACCES", (name, writes)
    # The task's directory is its user's alone; its logs are the agent's.
    directory = task_dir(c, "default_user")
    info = directory.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (user.pw_uid, 0o700), oct(info.st_mode)
    info = (directory / "hypertune").stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (user.pw_uid, 0o700)
    info = (directory / "stdout.log").stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o600)
    # The agent's own directories.
    modes = {name: stat.S_IMODE((c.workdir / name).stat().st_mode)
             for name in (".", "tasks", "spool", "packages")}
    assert modes == {".": 0o711, "tasks": 0o711, "spool": 0o700, "packages": 0o711}, modes


def test_an_allowed_run_as_user_cannot_touch_another_users_task(isolated):
    c = isolated
    if not task_dir(c, "default_user").exists():
        c.submit("default_user", probe_job(c, {}))
        probe_report(c, "default_user")
    other = c.users["hpt-test-other"]
    c.submit("other_user", probe_job(c, {"other task": task_dir(c, "default_user")},
                                     runAs="hpt-test-other"))
    report = probe_report(c, "other_user")
    assert report["uid"] == other.pw_uid and report["user"] == "hpt-test-other", report
    assert report["writes"]["other task"] == "EACCES", report


def test_a_run_as_user_the_agent_does_not_allow_fails_the_task(isolated):
    c = isolated
    spec = synthetic_job(max_trials=1, parallel=1)
    spec["runAs"] = "root"
    c.submit("not_allowed", spec)
    done = c.wait_job("not_allowed", timeout=60)
    assert done["state"] == "FAILED", done
    message = done["trainingOutput"]["trials"][0]["errorMessage"]
    assert "runAs user 'root' is not allowed on this agent" in message, message
    assert "--allow-run-as" in message, message


@pytest.mark.parametrize("working_dir, why", [
    ("nowhere", "working directory 'nowhere' does not exist beneath"),
    ("escape", "working directory 'escape' leaves"),
])
def test_a_working_dir_that_is_not_there_fails_the_task(isolated, working_dir, why):
    c = isolated
    spec = {"command": [PYTHON, "-c", "print('never')"], "workingDir": working_dir,
            "hyperparameters": {"goal": "MINIMIZE", "hyperparameterMetricTag": "loss",
                                "maxTrials": 1, "params": [
                                    {"parameterName": "x", "type": "INTEGER", "minValue": 1,
                                     "maxValue": 2}]}}
    job_id = f"wd_{working_dir}"
    c.submit(job_id, spec)
    done = c.wait_job(job_id, timeout=60)
    assert done["state"] == "FAILED", done
    message = done["trainingOutput"]["trials"][0]["errorMessage"]
    assert why in message, message


def test_a_working_dir_beneath_the_workdir(isolated):
    c = isolated
    (c.workdir / "code" / "here.py").write_text(
        "import json, os, time\n"
        "print('CWD', os.getcwd(), flush=True)\n"
        "open(os.environ['CLOUD_ML_HP_METRIC_FILE'], 'w').write("
        "json.dumps({'timestamp': time.time(), 'loss': 0.25}) + '\\n')\n")
    (c.workdir / "code" / "here.py").chmod(0o644)
    spec = {"command": [PYTHON, "here.py"], "workingDir": "code",
            "hyperparameters": {"goal": "MINIMIZE", "hyperparameterMetricTag": "loss",
                                "maxTrials": 1, "params": [
                                    {"parameterName": "x", "type": "INTEGER", "minValue": 1,
                                     "maxValue": 2}]}}
    c.submit("wd_code", spec)
    done = c.wait_job("wd_code", timeout=60)
    assert done["state"] == "SUCCEEDED", (done, (task_dir(c, "wd_code") / "stderr.log").read_text())
    assert (task_dir(c, "wd_code") / "stdout.log").read_text() == f"CWD {c.workdir}/code\n"


def test_run_as_needs_root_real_users_and_a_reachable_workdir():
    """The agent checks --run-as and --allow-run-as when it starts, and
    refuses to start with a clear message rather than fail every task."""
    _ensure_users()
    from hpt_harness import BIN

    def agent(workdir, *flags, user=None):
        result = subprocess.run([str(BIN / "hptagent"), "--master", "tcp://127.0.0.1:9",
                                 "--workdir", str(workdir), *flags],
                                capture_output=True, text=True, timeout=30, user=user)
        return result.returncode, result.stdout + result.stderr

    base = pathlib.Path(tempfile.mkdtemp(prefix="hpt-isolation-", dir="/tmp"))
    try:
        base.chmod(0o711)
        os.chown(base, pwd.getpwnam("nobody").pw_uid, -1)
        status, output = agent(base / "nobody", "--run-as", USERS[0], user="nobody")
        assert status == 1, output
        assert "--run-as and --allow-run-as need hptagent to run as root" in output, output
        status, output = agent(base / "root", "--allow-run-as", f"{USERS[0]},hpt-no-such-user")
        assert status == 1 and "there is no user 'hpt-no-such-user'" in output, output
        closed = base / "closed"
        closed.mkdir(mode=0o700)
        status, output = agent(closed / "agent", "--run-as", USERS[0])
        assert status == 1, output
        assert f"user '{USERS[0]}' cannot enter {closed} (mode 0700" in output, output
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_secrets_at_rest(isolated):
    """A job's env value (and a trainer that prints it, the worst case) is
    found only in files nobody but root can read: the master's store and
    job log, the agent's spool and the task's logs, each in a directory of
    mode 0700 below directories others may at most pass through. Neither
    daemon writes it to its own log."""
    c = isolated
    secret = "s3cr3t-" + os.urandom(8).hex()
    spec = {"command": [PYTHON, "-c",
                        "import json, os, sys, time\n"
                        "print('password', os.environ['DB_PASSWORD'], flush=True)\n"
                        "print('to stderr', os.environ['DB_PASSWORD'], file=sys.stderr)\n"
                        "open(os.environ['CLOUD_ML_HP_METRIC_FILE'], 'w').write(json.dumps("
                        "{'timestamp': time.time(), 'loss': 1.0}) + '\\n')\n"],
            "env": {"DB_PASSWORD": secret},
            "hyperparameters": {"goal": "MINIMIZE", "hyperparameterMetricTag": "loss",
                                "maxTrials": 1, "params": [
                                    {"parameterName": "x", "type": "INTEGER", "minValue": 1,
                                     "maxValue": 2}]}}
    c.submit("secrets", spec)
    assert c.wait_job("secrets", timeout=60)["state"] == "SUCCEEDED"
    holders = []
    for root in (c.state, c.workdir):
        for directory, _, files in os.walk(root):
            for name in files:
                path = pathlib.Path(directory) / name
                try:
                    if secret.encode() in path.read_bytes():
                        holders.append(path)
                except OSError:
                    pass
    # It is stored (the job's spec, the trainer's output) and spooled.
    assert any(p.parent == c.state for p in holders), holders
    assert any("spool" in p.parts for p in holders), holders
    for path in holders:
        info = path.lstat()
        assert info.st_uid == 0 and stat.S_IMODE(info.st_mode) & 0o077 == 0, (path, oct(info.st_mode))
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, path
        root = c.state if c.state in path.parents else c.workdir
        for directory in [d for d in path.parents if root in d.parents or d == root]:
            mode = stat.S_IMODE(directory.stat().st_mode)
            assert mode & 0o066 == 0, (directory, oct(mode))
    state_modes = {d: stat.S_IMODE(pathlib.Path(d).stat().st_mode)
                   for d, _, _ in os.walk(c.state)}
    assert set(state_modes.values()) == {0o700}, state_modes
    for log in (c.tmp / "master.log", c.tmp / "agent-iso.log"):
        assert secret not in log.read_text(), log
