"""Custom containers: jobs whose trainer is an image (imageUri), run by a
real agent with Debian's podman.

The images are built offline (podman import of a busybox-static rootfs):
a trainer in busybox sh that reads its --NAME=VALUE flags, prints what it
sees (argv, environment, devices, user) to stdout, and writes its metric to
cloudml-hypertune's default path, /tmp/hypertune/output.metrics. The
tests skip only when podman with runc cannot run a container on this
machine at all (not root, no podman), saying why."""
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from hpt_harness import BIN, SRC, Cluster, wait_for

RUNTIME = ["podman", "--runtime", "runc"]
#  This machine's podman needs them (no CAP_SYS_RESOURCE for the defaults).
RUN_ARGS = ["--ulimit=nofile=1024:1024", "--ulimit=nproc=1024:1024"]
TAG = "hpt-test"
TRAINER = f"localhost/{TAG}-trainer:1"
WORKER = f"localhost/{TAG}-worker:1"
TOPOLOGY = SRC / "tests" / "data" / "topologies" / "gpu-host-v100-a.xml"

#  The trainer: its flags, then what the tests check, then the metric at the
#  default path. --steps=N reports N steps (step i: loss (x-1)^2 + 1/i);
#  --sleep=S then waits S seconds (only when x is --sleep-x=V, if given),
#  ignoring SIGTERM as a container's PID 1 does, unless --trap=1 (then
#  SIGTERM ends it).
TRAIN_SH = r"""
x=0; steps=1; sleep=0; trap=0; sleep_x=""
for a in "$@"; do
  case "$a" in
    --x=*) x="${a#--x=}";; --steps=*) steps="${a#--steps=}";;
    --sleep=*) sleep="${a#--sleep=}";; --trap=*) trap="${a#--trap=}";;
    --sleep-x=*) sleep_x="${a#--sleep-x=}";;
  esac
done
if [ -n "$sleep_x" ] && [ "$sleep_x" != "$x" ]; then sleep=0; fi
# Set before the first report: a stop may come as soon as one is read.
if [ "$trap" = 1 ]; then trap 'echo got SIGTERM; exit 143' TERM; fi
echo "ARGV: $0 $*"
echo "ID: $(id -u):$(id -g)"
echo "DEVICES: $(ls /dev | grep hpt-gpu | tr '\n' ' ')"
echo "CPUS: $(grep Cpus_allowed_list /proc/self/status | tr -d '\t')"
echo "MEMORY: $(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
env | sort | sed 's/^/ENV: /'
mkdir -p /tmp/hypertune
out=""
i=1
while [ "$i" -le "$steps" ]; do
  loss=$(awk -v x="$x" -v i="$i" 'BEGIN { print (x - 1) * (x - 1) + 1 / i }')
  out="$out{\"loss\": \"$loss\", \"global_step\": \"$i\", \"trial\": \"$CLOUD_ML_TRIAL_ID\", \"timestamp\": $i}
"
  printf '%s' "$out" > /tmp/hypertune/output.metrics.tmp
  mv /tmp/hypertune/output.metrics.tmp /tmp/hypertune/output.metrics
  i=$((i + 1))
done
if [ "$sleep" != 0 ]; then
  sleep "$sleep" &
  wait $!
fi
echo done
"""
WORKER_SH = r"""
echo "WORKER IMAGE: $0 $*"
env | sort | sed 's/^/ENV: /'
"""


def _run(*argv, check=True, timeout=60):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{argv}: {result.stdout}{result.stderr}")
    return result


def _build_image(tmp, name, script_name, script, entrypoint):
    root = tmp / f"rootfs-{script_name}"
    (root / "bin").mkdir(parents=True)
    (root / "tmp").mkdir()
    (root / "dev").mkdir()
    (root / "etc").mkdir()
    (root / "tmp").chmod(0o1777)
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    for applet in ("sh", "echo", "env", "sort", "sed", "mkdir", "mv", "awk", "printf", "sleep",
                   "id", "ls", "grep", "tr", "cat"):
        os.symlink("busybox", root / "bin" / applet)
    (root / script_name).write_text(script)
    tar = tmp / f"{script_name}.tar"
    _run("tar", "-C", str(root), "-cf", str(tar), ".")
    _run(*RUNTIME, "import", "--change", f"ENTRYPOINT {json.dumps(entrypoint)}",
         "--change", 'CMD ["--from-cmd"]', str(tar), name)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    if shutil.which("podman") is None or not os.path.exists("/bin/busybox"):
        pytest.skip("podman or busybox-static is not installed (bash ops/install-deps.sh)")
    tmp = tmp_path_factory.mktemp("images")
    _build_image(tmp, TRAINER, "train.sh", TRAIN_SH, ["/bin/sh", "/train.sh"])
    _build_image(tmp, WORKER, "worker.sh", WORKER_SH, ["/bin/sh", "/worker.sh"])
    probe = _run(*RUNTIME, "run", "--rm", *RUN_ARGS, TRAINER, check=False)
    if probe.returncode != 0:
        pytest.skip(f"podman --runtime runc cannot run a container here: {probe.stderr.strip()}")
    yield
    _run(*RUNTIME, "rmi", "--force", TRAINER, WORKER, check=False)


#  Containers are removed off the agent's loop once their task has exited,
#  so a finished job may still have some for a moment: tests wait for none.
def _containers(workdir):
    """Names of the containers (any state) labelled with an agent's workdir."""
    out = _run(*RUNTIME, "ps", "--all", "--format", "{{.Names}}", "--filter",
               f"label=hpt.workdir={pathlib.Path(workdir).resolve()}").stdout
    return [line for line in out.split() if line]


def _agent_args(extra=()):
    return ["--container-runtime", " ".join(RUNTIME),
            *[a for arg in RUN_ARGS for a in ("--container-run-arg", arg)], *extra]


def _job(image=TRAINER, trials=2, parallel=2, args=None, **hp):
    spec = {"masterConfig": {"imageUri": image},
            "hyperparameters": {
                "goal": "MINIMIZE", "hyperparameterMetricTag": "loss",
                "maxTrials": trials, "maxParallelTrials": parallel,
                "params": [{"parameterName": "x", "type": "DISCRETE",
                            "discreteValues": [1, 2, 3, 4]}], **hp}}
    if args is not None:
        spec["args"] = args
    return spec


def _task_output(workdir, job, trial, replica="master", index=0):
    return (pathlib.Path(workdir) / "tasks" / f"{job}:{trial}:{replica}:{index}" /
            "stdout.log").read_text()


def _env(output):
    return dict(line[5:].split("=", 1) for line in output.splitlines()
                if line.startswith("ENV: ") and "=" in line)


@pytest.fixture
def cluster(tmp_path, images):
    c = Cluster(tmp_path, machine_types={"standard": {"cpus": 1, "memoryGb": 0.5},
                                         "gpu2": {"cpus": 1, "memoryGb": 0.5,
                                                  "accelerators": {"type": "NVIDIA_TESLA_V100",
                                                                   "count": 2}},
                                         "mig1g": {"cpus": 1, "memoryGb": 0.5,
                                                   "accelerators": {
                                                       "type": "NVIDIA_A100_80GB_1G_10GB",
                                                       "count": 1}}})
    c.start_master()
    yield c
    c.stop()


def test_tuning_job_on_an_image(cluster, tmp_path):
    """A tuning job whose only trainer is an image: validate and the API
    accept it; each trial's container gets the contract (flags, TF_CONFIG,
    CLOUD_ML_*, HPT_*, the job's env) and its metric written to the
    hypertune default path is the trial's; the image's pull is shown;
    every container is gone once the job is."""
    workdir = tmp_path / "agent-a"
    cluster.start_agent("a", cpus=2, extra=_agent_args())
    spec = _job(args=["--steps=2"])
    spec["env"] = {"JOB_SECRET": "s3"}
    spec["jobDir"] = str(tmp_path / "jobdir")
    config = tmp_path / "job.json"
    config.write_text(json.dumps({"trainingInput": spec}))
    assert cluster.hpt("validate", "--config", str(config)).returncode == 0
    cluster.submit("img1", spec)
    job = cluster.wait_job("img1", timeout=60)
    assert job["state"] == "SUCCEEDED", job
    trials = job["trainingOutput"]["trials"]
    assert len(trials) == 2
    for trial in trials:
        x = float(trial["hyperparameters"]["x"])
        assert trial["finalMetric"]["objectiveValue"] == pytest.approx((x - 1) ** 2 + 0.5)
        assert trial["finalMetric"]["trainingStep"] == "2"
        out = _task_output(workdir, "img1", trial["trialId"])
        env = _env(out)
        assert f"--steps=2 --job-dir={tmp_path / 'jobdir'} --x=" in out.splitlines()[0]
        assert env["CLOUD_ML_HP_METRIC_FILE"] == "/tmp/hypertune/output.metrics"
        assert env["CLOUD_ML_TRIAL_ID"] == trial["trialId"]
        assert env["CLOUD_ML_JOB_ID"] == "img1" and env["HPT_JOB_ID"] == "img1"
        assert env["JOB_SECRET"] == "s3"
        assert env["CUDA_VISIBLE_DEVICES"] == ""
        tf_config = json.loads(env["TF_CONFIG"])
        assert tf_config["task"] == {"type": "master", "index": 0, "trial": trial["trialId"]}
        assert "HOME" not in env or env["HOME"] != os.environ.get("HOME")
    #  The machine type's memory (0.5 GB) is the container's limit, unless
    #  the agent said this host cannot enforce limits.
    memory = re.search(r"^MEMORY: (.*)$", out, re.M).group(1)
    if "without CPU and memory limits" not in (tmp_path / "agent-a.log").read_text():
        assert memory == str(512 * 1024 * 1024), out
    logs = cluster.hpt("jobs", "stream-logs", "img1").stdout
    assert f"hpt: pulling image {TRAINER}" in logs
    #  Two trials wanted the image at once: one pull served both.
    assert (tmp_path / "agent-a.log").read_text().count(f"pulling image {TRAINER}") == 1
    wait_for(lambda: _containers(workdir) == [], timeout=30, what="no container left")
    #  The environment files (the job's env values) are gone with them.
    assert list((workdir / "containers").iterdir()) == []


def test_custom_cluster_with_images_per_replica(cluster, tmp_path):
    """CUSTOM: the master runs its image, the workers their own image with
    containerCommand and containerArgs, the parameter server the master's
    image (the default); every container sees TF_CONFIG with the host's
    addresses and its own task."""
    workdir = tmp_path / "agent-a"
    cluster.start_agent("a", cpus=4, extra=_agent_args())
    #  The master waits a while: the trial
    #  ends when the master exits, and the workers must have started and
    #  printed by then even on a loaded machine.
    spec = _job(trials=1, parallel=1)
    spec["masterConfig"]["containerArgs"] = ["--sleep=5"]
    spec.update({"scaleTier": "CUSTOM", "masterType": "standard",
                 "workerType": "standard", "workerCount": 2,
                 "parameterServerType": "standard", "parameterServerCount": 1,
                 "workerConfig": {"imageUri": WORKER,
                                  "containerCommand": ["/bin/sh", "/worker.sh", "cmd"],
                                  "containerArgs": ["--role=w"]}})
    cluster.submit("custom1", spec)
    job = cluster.wait_job("custom1", timeout=60)
    assert job["state"] == "SUCCEEDED", job
    master = _env(_task_output(workdir, "custom1", 1))
    cluster_spec = json.loads(master["TF_CONFIG"])["cluster"]
    assert len(cluster_spec["master"]) == 1 and len(cluster_spec["worker"]) == 2
    assert len(cluster_spec["ps"]) == 1
    for address in cluster_spec["master"] + cluster_spec["worker"] + cluster_spec["ps"]:
        assert re.fullmatch(r"a:\d+", address) or re.fullmatch(r"[\w.-]+:\d+", address)
    for index in range(2):
        out = _task_output(workdir, "custom1", 1, "worker", index)
        assert out.startswith("WORKER IMAGE: /worker.sh cmd --role=w --x=")
        task = json.loads(_env(out)["TF_CONFIG"])["task"]
        assert task == {"type": "worker", "index": index, "trial": "1"}
    ps = _task_output(workdir, "custom1", 1, "ps", 0)
    #  The master's image, entrypoint and containerArgs.
    assert ps.startswith("ARGV: /train.sh --sleep=5 --x=")
    assert json.loads(_env(ps)["TF_CONFIG"])["task"]["type"] == "ps"
    wait_for(lambda: _containers(workdir) == [], timeout=30, what="no container left")


def test_cancel_and_early_stop_remove_containers(cluster, tmp_path):
    """A cancelled job's containers (a PID 1 that ignores SIGTERM: killed
    after the grace period) and a trial stopped early (its trainer ends on
    SIGTERM) leave no container behind."""
    workdir = tmp_path / "agent-a"
    cluster.start_agent("a", cpus=2, extra=_agent_args())
    cluster.submit("cancel1", _job(args=["--sleep=60"]))
    wait_for(lambda: len(_containers(workdir)) == 2, timeout=30, what="two containers")
    wait_for(lambda: cluster.job("cancel1")["state"] == "RUNNING", what="RUNNING")
    cluster.request("POST", "/v1/projects/default/jobs/cancel1:cancel")
    job = cluster.wait_job("cancel1", timeout=30)
    assert job["state"] == "CANCELLED"
    wait_for(lambda: _containers(workdir) == [], timeout=30, what="no container left")

    #  Early stopping (ASHA, eta 2): trial 1 (x=1) completes two steps;
    #  trial 2 (x=4) is worse at the first rung and is stopped.
    spec = _job(trials=2, parallel=1, enableTrialEarlyStopping=True,
                algorithm="GRID_SEARCH",
                earlyStopping={"rule": "asha", "reductionFactor": 2, "minCompletedTrials": 1})
    spec["hyperparameters"]["params"][0]["discreteValues"] = [1, 4]
    spec["masterConfig"]["containerArgs"] = ["--steps=2", "--sleep=60", "--sleep-x=4",
                                             "--trap=1"]
    cluster.submit("stop1", spec)
    job = cluster.wait_job("stop1", timeout=60)
    stopped = [t for t in job["trainingOutput"]["trials"] if t.get("isTrialStoppedEarly")]
    assert job["state"] == "SUCCEEDED", job
    assert stopped, job
    assert "got SIGTERM" in _task_output(workdir, "stop1", stopped[0]["trialId"])
    wait_for(lambda: _containers(workdir) == [], timeout=30, what="no container left")


def test_agent_sigkill_then_restart_removes_leftovers(cluster, tmp_path):
    """A SIGKILLed agent leaves its containers running; the restarted
    agent removes them (by label) before it registers."""
    workdir = tmp_path / "agent-a"
    agent = cluster.start_agent("a", cpus=2, extra=_agent_args())
    cluster.submit("kill1", _job(trials=1, parallel=1, args=["--sleep=60"]))
    wait_for(lambda: len(_containers(workdir)) == 1, timeout=30, what="a container")
    cluster.kill(agent, signal.SIGKILL)
    time.sleep(1)
    assert len(_containers(workdir)) == 1  # the container outlived its agent
    log = tmp_path / "agent-a.log"
    registered = log.read_text().count("registered with the master")
    #  (The master still thinks the killed agent READY: wait for the log.)
    cluster.start_agent("a", cpus=2, extra=_agent_args())
    wait_for(lambda: log.read_text().count("registered with the master") > registered,
             what="the agent registered again")
    text = log.read_text()
    removed = text.index("removed the containers left by an earlier run")
    again = [m.start() for m in re.finditer("registered with the master", text)][registered]
    assert removed < again
    assert _containers(workdir) == []


def test_gpus_through_a_fake_cdi_spec(cluster, tmp_path):
    """A GPU task in a container gets exactly its GPUs through CDI (a spec
    whose devices are /dev/null under other names) and CUDA_VISIBLE_DEVICES
    as the container numbers them; without a spec the agent says it cannot
    run GPU containers and the job is refused, naming the fix."""
    kind = f"hpt-test-{uuid.uuid4().hex[:8]}.local/gpu"
    no_spec = _run(str(BIN / "hptagent"), "--print-topology", "--topology", str(TOPOLOGY),
                   "--cdi-gpu-kind", kind).stdout
    assert json.loads(no_spec)["containers"]["gpus"] is False
    cdi = pathlib.Path("/var/run/cdi")
    cdi.mkdir(parents=True, exist_ok=True)
    spec_file = cdi / f"{kind.split('.')[0]}.yaml"
    devices = "".join(f"- name: \"{i}\"\n  containerEdits:\n    deviceNodes:\n"
                      f"    - {{path: /dev/hpt-gpu{i}, hostPath: /dev/null}}\n" for i in range(4))
    spec_file.write_text(f"cdiVersion: \"0.5.0\"\nkind: \"{kind}\"\ndevices:\n{devices}")
    try:
        with_spec = json.loads(_run(str(BIN / "hptagent"), "--print-topology", "--topology",
                                    str(TOPOLOGY), "--cdi-gpu-kind", kind).stdout)
        assert with_spec["containers"]["gpus"] is True
        workdir = tmp_path / "agent-g"
        cluster.start_agent("g", cpus=2, extra=_agent_args(
            ["--topology", str(TOPOLOGY), "--cdi-gpu-kind", kind]))
        spec = _job(trials=1, parallel=1)
        spec.update({"scaleTier": "CUSTOM", "masterType": "gpu2"})
        cluster.submit("gpu1", spec)
        job = cluster.wait_job("gpu1", timeout=60)
        assert job["state"] == "SUCCEEDED", job
        out = _task_output(workdir, "gpu1", 1)
        devices = re.search(r"^DEVICES: (.*)$", out, re.M).group(1).split()
        assert len(devices) == 2, out
        assert _env(out)["CUDA_VISIBLE_DEVICES"] == "0,1"
        assert _env(out)["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    finally:
        spec_file.unlink()
    #  Without a spec: no agent can give GPUs to containers.
    cluster.start_agent("h", cpus=2, extra=_agent_args(
        ["--topology", str(TOPOLOGY), "--cdi-gpu-kind", kind]))
    cluster.kill(cluster.agents["g"], signal.SIGTERM)
    wait_for(lambda: cluster.node("g")["state"] != "READY", what="g gone")
    with pytest.raises(Exception) as refused:
        cluster.submit("gpu2", spec)
    assert "nvidia-ctk cdi generate" in str(refused.value)


def test_mig_instances_through_cdi(cluster, tmp_path):
    """MIG instances in containers (the fake NVML's A100 in MIG mode,
    tests/data/fakenvml/a100-mig.json): the agent names each to the
    runtime as the CDI spec does, by MIG UUID when the spec has it, else
    GPU:SLOT (nvidia-ctk's default), and gives its UUID in
    CUDA_VISIBLE_DEVICES."""
    kind = f"hpt-test-{uuid.uuid4().hex[:8]}.local/gpu"
    cdi = pathlib.Path("/var/run/cdi")
    cdi.mkdir(parents=True, exist_ok=True)
    spec_file = cdi / f"{kind.split('.')[0]}.yaml"
    names = {"0": "hpt-gpu0", "1": "hpt-gpu1", "0:2": "hpt-gpu-mig2",
             "MIG-aaaaaaaa-0000-5000-8000-000000000004": "hpt-gpu-mig3"}
    devices = "".join(f"- name: \"{name}\"\n  containerEdits:\n    deviceNodes:\n"
                      f"    - {{path: /dev/{node}, hostPath: /dev/null}}\n"
                      for name, node in names.items())
    spec_file.write_text(f"cdiVersion: \"0.5.0\"\nkind: \"{kind}\"\ndevices:\n{devices}")
    fake = {"HPT_NVML_LIBRARY": str(BIN.parent / "tests" / "libhpt-fakenvml.so"),
            "HPT_FAKE_NVML": str(SRC / "tests" / "data" / "fakenvml" / "a100-mig.json")}
    try:
        workdir = tmp_path / "agent-m"
        cluster.start_agent("m", cpus=2, env=fake, extra=_agent_args(
            ["--topology", str(SRC / "tests" / "data" / "topologies" / "cpu-host-32.xml"),
             "--cdi-gpu-kind", kind, "--gpu-sample-ms", "0"]))
        spec = _job(trials=2, parallel=2, args=["--steps=1", "--sleep=2"])
        spec.update({"scaleTier": "CUSTOM", "masterType": "mig1g"})
        cluster.submit("mig", spec)
        job = cluster.wait_job("mig", timeout=90)
        assert job["state"] == "SUCCEEDED", job
        seen = set()
        for trial in (1, 2):
            out = _task_output(workdir, "mig", trial)
            (device,) = re.search(r"^DEVICES: (.*)$", out, re.M).group(1).split()
            seen.add((device, _env(out)["CUDA_VISIBLE_DEVICES"]))
        assert seen == {("hpt-gpu-mig2", "MIG-aaaaaaaa-0000-5000-8000-000000000003"),
                        ("hpt-gpu-mig3", "MIG-aaaaaaaa-0000-5000-8000-000000000004")}, seen
    finally:
        spec_file.unlink()


def test_missing_image_and_refusals(cluster, tmp_path):
    """A pull of an image that is nowhere fails the trial with the
    runtime's message; containerCommand without an image is refused naming
    the field; an agent without the runtime runs no container job."""
    cluster.start_agent("a", cpus=2, extra=_agent_args())
    missing = f"localhost/hpt-test-missing-{uuid.uuid4().hex[:8]}:1"
    cluster.submit("miss1", _job(image=missing, trials=1, parallel=1))
    job = cluster.wait_job("miss1", timeout=60)
    assert job["state"] == "FAILED"
    message = job["trainingOutput"]["trials"][0].get("errorMessage", "") + job.get(
        "errorMessage", "")
    assert f"could not pull image {missing}" in message, job
    assert "Error" in message or "error" in message, job
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"trainingInput": {
        "command": ["true"], "workerConfig": {"containerCommand": ["x"]},
        "hyperparameters": _job()["hyperparameters"]}}))
    result = cluster.hpt("validate", "--config", str(bad))
    assert result.returncode == 2
    assert "/trainingInput/workerConfig/containerCommand" in result.stdout + result.stderr
    assert "needs an image" in result.stdout + result.stderr
    cluster.kill(cluster.agents["a"], signal.SIGTERM)
    cluster.start_agent("p", cpus=2, extra=["--container-runtime", "/nonexistent/podman"])
    wait_for(lambda: cluster.node("a")["state"] != "READY", what="a gone")
    with pytest.raises(Exception) as refused:
        cluster.submit("noruntime", _job(trials=1, parallel=1))
    assert "no agent runs containers" in str(refused.value)
