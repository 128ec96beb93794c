"""One machine: hptmaster without --cluster, and ops/cluster.local.yaml.

The defaults (and the local cluster file, which keeps them) bind fixed ports (agents tcp://127.0.0.1:7460, API
127.0.0.1:7470) that another test, or anything else on this host, may
hold. So the master runs in a network namespace of its own (`unshare
--net`, its loopback brought up), where those ports are always free, and
every client joins that namespace (`nsenter --net`). Then:

- it starts in an empty working directory with no HPT_* variable, says
  once in its log which defaults it uses, prints its ready line with the
  default endpoints and keeps its store in ./hpt-state;
- an agent at the default agents endpoint registers, and `hpt nodes list`
  with no --master, HPT_MASTER or config file (its own default, the
  master's default API) lists it;
- `hptmaster backup OUT.db` without --cluster copies that same store;
- with `--cluster ops/cluster.local.yaml`, two agents of one CPU each (a
  2-core machine) take both examples as `hpt jobs submit training J
  --config examples/E/job.yaml` sends them from a checkout, with no
  other flag or variable: a trial of each succeeds.

Needs root (namespaces); skipped with the reason otherwise."""
import json
import os
import shutil
import signal
import subprocess

import pytest

from hpt_harness import BIN, SRC, wait_for


def clean_env(home):
    """The environment without any hpt setting: the defaults decide."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPT_")}
    env["HOME"] = str(home)
    env.pop("XDG_CONFIG_HOME", None)
    return env


@pytest.fixture
def master_args():
    return []


@pytest.fixture
def netns_master(tmp_path, master_args):
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nsenter"):
        pytest.skip("a network namespace needs root, unshare and nsenter")
    probe = subprocess.run(["unshare", "--net", "ip", "link", "set", "lo", "up"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a network namespace here: {probe.stderr.strip()}")
    cwd = tmp_path / "site"
    cwd.mkdir()
    env = clean_env(tmp_path)
    out, err = open(tmp_path / "master.out", "wb"), open(tmp_path / "master.err", "wb")
    master = subprocess.Popen(
        ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
         str(BIN / "hptmaster"), *master_args],
        cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True)
    procs = [master]
    try:
        yield tmp_path, cwd, env, master, procs
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        out.close()
        err.close()


def in_netns(master, argv):
    """argv run in the master's network namespace."""
    return ["nsenter", f"--net=/proc/{master.pid}/ns/net", *argv]


def wait_ready(tmp, master):
    def ready():
        if master.poll() is not None:
            raise AssertionError("hptmaster exited: " + (tmp / "master.err").read_text())
        return "hptmaster ready" in (tmp / "master.out").read_text()

    wait_for(ready, what="hptmaster ready")


def start_agent(tmp, cwd, env, master, procs, name, cpus):
    log = open(tmp / f"{name}.log", "wb")
    procs.append(subprocess.Popen(
        in_netns(master, [str(BIN / "hptagent"), "--master", "tcp://127.0.0.1:7460",
                          "--name", name, "--workdir", str(tmp / name),
                          "--cpus", str(cpus), "--memory-gb", "2"]),
        cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    log.close()


def hpt(master, cwd, env, *args):
    """hpt with its own default master (no --master, HPT_MASTER or file)."""
    return subprocess.run(in_netns(master, [str(BIN / "hpt"), *args]), cwd=cwd, env=env,
                          capture_output=True, text=True)


def test_master_without_cluster_uses_every_default(netns_master):
    tmp, cwd, env, master, procs = netns_master
    wait_ready(tmp, master)
    assert (tmp / "master.out").read_text().strip() == \
        "hptmaster ready api=http://127.0.0.1:7470 agents=tcp://127.0.0.1:7460"
    log = (tmp / "master.err").read_text()
    said = [line for line in log.splitlines() if "no --cluster" in line]
    assert len(said) == 1, log
    for value in ("agents=tcp://127.0.0.1:7460", "api=127.0.0.1:7470", "stateDir=./hpt-state"):
        assert value in said[0], said[0]
    assert (cwd / "hpt-state" / "hpt.db").is_file()

    # The master's pid is unshare's, exec'd: its namespace is the master's.
    start_agent(tmp, cwd, env, master, procs, "solo", 1)

    def listed():
        result = hpt(master, cwd, env, "nodes", "list")
        return result.returncode == 0 and "solo" in result.stdout and "READY" in result.stdout

    wait_for(listed, what="agent solo READY through the default API")

    backup = subprocess.run([str(BIN / "hptmaster"), "backup", str(tmp / "copy.db")],
                            cwd=cwd, env=env, capture_output=True, text=True)
    assert backup.returncode == 0, backup.stderr
    assert "hpt-state/hpt.db" in backup.stdout
    assert (tmp / "copy.db").stat().st_size > 0


@pytest.mark.parametrize("master_args", [["--cluster", str(SRC / "ops" / "cluster.local.yaml")]])
def test_local_cluster_file_takes_the_examples(netns_master):
    tmp, cwd, env, master, procs = netns_master
    wait_ready(tmp, master)
    assert "no --cluster" not in (tmp / "master.err").read_text()
    for name in ("local-1", "local-2"):
        start_agent(tmp, cwd, env, master, procs, name, 1)
    wait_for(lambda: hpt(master, cwd, env, "nodes", "list").stdout.count("READY") == 2,
             what="two agents READY")
    for example in ("digits", "synthetic"):
        # From the checkout, as the README has it: hpt's working directory
        # is the repository's root.
        result = hpt(master, SRC, env, "jobs", "submit", "training", f"{example}_1",
                     "--config", f"examples/{example}/job.yaml")
        assert result.returncode == 0, result.stderr

        def one_succeeded():
            described = hpt(master, cwd, env, "jobs", "describe", f"{example}_1",
                            "--format", "json")
            job = json.loads(described.stdout)
            assert job["state"] in ("QUEUED", "PREPARING", "RUNNING", "SUCCEEDED"), job
            trials = job.get("trainingOutput", {}).get("trials", [])
            return any(t.get("state") == "SUCCEEDED" and t.get("finalMetric") for t in trials)

        # Its trainer ran, from the package the config names, and reported.
        wait_for(one_succeeded, timeout=90, what=f"{example}: a trial SUCCEEDED")
        assert hpt(master, cwd, env, "jobs", "cancel", f"{example}_1").returncode == 0
