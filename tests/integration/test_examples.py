"""The example trainers run directly, with the environment an agent gives
them (a temporary hypertune file, tag, trial id, TF_CONFIG), so their
contract is checked without a master or an agent: the metric file is in
cloudml-hypertune's format (JSON lines, whole rewrites, last 100 kept),
the synthetic objective is the documented function, its failure modes do
what tests rely on, the digits MLP learns (validation accuracy > 0.85 with
good parameters), and the example job configs validate, name their
trainer package relative to themselves, and run it as an agent does
(`python3 -m trainer.task`, the package on PYTHONPATH) from any working
directory."""
import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
import yaml

SRC = pathlib.Path(os.environ.get("HPT_SOURCE_DIR", pathlib.Path(__file__).parents[2]))
BIN = pathlib.Path(os.environ.get("HPT_BIN_DIR", SRC / "build" / "bin"))
EXAMPLES = SRC / "examples"
SYNTHETIC = EXAMPLES / "synthetic" / "trainer" / "task.py"
DIGITS = EXAMPLES / "digits" / "trainer" / "task.py"
PYTHON = "/usr/bin/python3"


def agent_env(tmp_path, tag="objective", trial="7", **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUD_ML_", "HPT_TEST_"))}
    env.update({
        "CLOUD_ML_HP_METRIC_FILE": str(tmp_path / "metrics" / "hypertune.jsonl"),
        "CLOUD_ML_HP_METRIC_TAG": tag,
        "CLOUD_ML_TRIAL_ID": trial,
        "OPENBLAS_NUM_THREADS": "1",
    })
    env.update(extra)
    return env


def read_reports(tmp_path):
    """Parses the metric file strictly as the agent's reader expects it."""
    text = (tmp_path / "metrics" / "hypertune.jsonl").read_text()
    assert text.endswith("\n")
    reports = [json.loads(line) for line in text.splitlines()]
    for report in reports:
        assert isinstance(report["timestamp"], float) and report["timestamp"] > 1.5e9
        assert isinstance(report["trial"], str)
        assert isinstance(report["global_step"], str) and int(report["global_step"]) >= 0
        assert report["checkpoint_path"] == ""
        metrics = set(report) - {"timestamp", "trial", "global_step", "checkpoint_path"}
        assert len(metrics) == 1
        value = float(report[metrics.pop()])  # a string holding a float
        assert math.isfinite(value)
    return reports


def values(reports, tag):
    return [(int(r["global_step"]), float(r[tag])) for r in reports if tag in r]


def run(script, args, env, cwd, timeout=120):
    return subprocess.run([PYTHON, str(script), *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


# --- synthetic -------------------------------------------------------------

def test_synthetic_known_objective_and_curve(tmp_path):
    result = run(SYNTHETIC, ["--steps=10", "--x=0.2", "--y", "0.5", "--optimizer=adam",
                             "--target=optimizer:sgd,y:0.5", "--report-loss=1"],
                 agent_env(tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    reports = read_reports(tmp_path)
    assert {r["trial"] for r in reports} == {"7"}
    curve = values(reports, "objective")
    assert [step for step, _ in curve] == list(range(1, 11))
    expected = 1.0 - (0.2 - 0.5) ** 2 - 0.25
    assert abs(curve[-1][1] - expected) < 1e-9
    assert all(a[1] < b[1] for a, b in zip(curve, curve[1:]))  # converging upward
    losses = values(reports, "loss")
    assert len(losses) == 10 and abs(losses[-1][1] - (1.0 - expected)) < 1e-9
    timestamps = [r["timestamp"] for r in reports]
    assert timestamps == sorted(timestamps)


def test_synthetic_keeps_last_100_reports(tmp_path):
    result = run(SYNTHETIC, ["--steps=150", "--x=0.5"], agent_env(tmp_path, tag="m"), tmp_path)
    assert result.returncode == 0, result.stderr
    curve = values(read_reports(tmp_path), "m")
    assert [step for step, _ in curve] == list(range(51, 151))
    assert curve[-1][1] == 1.0


def test_synthetic_default_tag_and_noise(tmp_path):
    env = agent_env(tmp_path)
    del env["CLOUD_ML_HP_METRIC_TAG"]
    result = run(SYNTHETIC, ["--x=0.5", "--noise=0.1", "--seed=3"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    (value,) = values(read_reports(tmp_path), "training/hptuning/metric")
    assert value[1] != 1.0 and abs(value[1] - 1.0) < 1.0


def test_synthetic_dump(tmp_path):
    tf_config = json.dumps({"cluster": {"master": ["127.0.0.1:2222"]},
                            "task": {"type": "master", "index": 0, "trial": "7"},
                            "job": {}, "environment": "cloud"})
    env = agent_env(tmp_path, HPT_TEST_DUMP_DIR=str(tmp_path / "dump"), TF_CONFIG=tf_config,
                    CUDA_VISIBLE_DEVICES="1,0", CUDA_DEVICE_ORDER="PCI_BUS_ID")
    result = run(SYNTHETIC, ["--job-dir=/tmp/jd", "--x=0.25"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    (dump,) = (tmp_path / "dump").glob("task-7-master-0-*.json")
    record = json.loads(dump.read_text())
    assert record["argv"] == ["--job-dir=/tmp/jd", "--x=0.25"]
    assert record["env"]["TF_CONFIG"] == tf_config
    assert record["env"]["CUDA_VISIBLE_DEVICES"] == "1,0"
    assert record["env"]["CLOUD_ML_TRIAL_ID"] == "7"
    assert record["cwd"] == str(tmp_path)
    assert record["affinity"] == sorted(os.sched_getaffinity(0))
    assert record["pid"] > 0 and record["pgid"] > 0


def test_synthetic_fail_modes(tmp_path):
    result = run(SYNTHETIC, ["--fail-mode=exit1", "--x=0.5"], agent_env(tmp_path), tmp_path)
    assert result.returncode == 1 and "failing on purpose" in result.stderr
    assert len(values(read_reports(tmp_path), "objective")) == 1

    (tmp_path / "metrics" / "hypertune.jsonl").unlink()
    result = run(SYNTHETIC, ["--fail-mode=no-report"], agent_env(tmp_path), tmp_path)
    assert result.returncode == 0
    assert not (tmp_path / "metrics" / "hypertune.jsonl").exists()

    result = run(SYNTHETIC, ["--fail-mode=signal"], agent_env(tmp_path), tmp_path)
    assert result.returncode == -signal.SIGKILL

    result = run(SYNTHETIC, ["--fail-mode=bogus"], agent_env(tmp_path), tmp_path)
    assert result.returncode != 0 and "fail-mode" in result.stderr


def wait_for(predicate, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("mode", ["hang", "spawn-hang"])
def test_synthetic_hangs_until_killed(tmp_path, mode):
    metric_file = tmp_path / "metrics" / "hypertune.jsonl"
    process = subprocess.Popen([PYTHON, str(SYNTHETIC), "--fail-mode=" + mode, "--x=0.5"],
                               env=agent_env(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        assert wait_for(metric_file.exists)
        if mode == "spawn-hang":
            line = ""
            while "child" not in line:
                line = process.stdout.readline()
                assert line, "no child line"
            child = int(line.split()[-1])
            assert os.getpgid(child) == process.pid  # in the trainer's group
        time.sleep(0.2)
        assert process.poll() is None
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL


# --- digits ----------------------------------------------------------------

def test_digits_learns_with_good_parameters(tmp_path):
    started = time.time()
    result = run(DIGITS, ["--epochs=20", "--hidden_units=64", "--learning_rate=0.01",
                          "--activation=relu", "--job-dir=" + str(tmp_path / "job")],
                 agent_env(tmp_path, tag="accuracy", trial="3"), tmp_path)
    seconds = time.time() - started
    assert result.returncode == 0, result.stderr
    reports = read_reports(tmp_path)
    accuracy = values(reports, "accuracy")
    assert [step for step, _ in accuracy] == list(range(1, 21))
    assert all(0.0 <= value <= 1.0 for _, value in accuracy)
    assert accuracy[-1][1] > 0.85, accuracy
    losses = values(reports, "loss")
    assert len(losses) == 20 and losses[-1][1] < losses[0][1]
    summary = json.loads((tmp_path / "job" / "summary.json").read_text())
    assert summary["accuracy"] == accuracy[-1][1]
    print("digits trial: %.2f s for 20 epochs" % seconds, file=sys.stderr)
    assert seconds < 60


def test_digits_bad_parameters_learn_less(tmp_path):
    result = run(DIGITS, ["--epochs=3", "--hidden_units=8", "--learning_rate=0.0001",
                          "--activation=logistic", "--unknown_param=1"],
                 agent_env(tmp_path, tag="acc"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ignoring unknown arguments: --unknown_param=1" in result.stderr
    accuracy = values(read_reports(tmp_path), "acc")
    assert len(accuracy) == 3 and accuracy[-1][1] < 0.85


@pytest.mark.parametrize("args", [["--hidden_units=0"], ["--learning_rate=-1"],
                                  ["--activation=softmax"], ["--epochs=x"]])
def test_digits_rejects_invalid_values(tmp_path, args):
    result = run(DIGITS, args, agent_env(tmp_path), tmp_path)
    assert result.returncode == 2
    assert "error" in result.stderr


# --- job configs -----------------------------------------------------------

@pytest.mark.parametrize("example", ["synthetic", "digits"])
def test_job_config_validates(tmp_path, example):
    """From another directory: the config's packageUris entry is relative
    to the file, and names the package of its pythonModule."""
    hpt = BIN / "hpt"
    if not hpt.exists():
        pytest.skip("hpt not built")
    result = subprocess.run([str(hpt), "validate", "--config",
                             str(EXAMPLES / example / "job.yaml")],
                            capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    spec = json.loads(result.stdout)["trainingInput"]
    (package,) = spec["packageUris"]
    assert package == str(EXAMPLES / example / "trainer")
    module = spec["pythonModule"].split(".")
    assert module[0] == "trainer"
    assert (pathlib.Path(package).parent.joinpath(*module[:-1]) / (module[-1] + ".py")).is_file()


@pytest.mark.parametrize("example,params", [
    ("synthetic", ["--x=0.5", "--y=0.5", "--optimizer=sgd"]),
    ("digits", ["--hidden_units=32", "--learning_rate=0.01", "--activation=tanh"]),
])
def test_job_trainer_runs_as_the_agent_runs_it(tmp_path, example, params):
    """As the agent runs a pythonModule job: `python3 -m MODULE` with the
    first python3 on PATH (here maybe one without scikit-learn), in a task
    directory elsewhere, the package's directory on PYTHONPATH (where the
    agent unpacked it), args then --NAME=VALUE appended."""
    spec = yaml.safe_load((EXAMPLES / example / "job.yaml").read_text())["trainingInput"]
    assert "command" not in spec
    (package,) = spec["packageUris"]
    argv = ["python3", "-m", spec["pythonModule"], *spec.get("args", []), *params]
    if example == "digits":
        argv = [a if not a.startswith("--epochs=") else "--epochs=2" for a in argv]
    env = agent_env(tmp_path, tag=spec["hyperparameters"]["hyperparameterMetricTag"],
                    PYTHONPATH=str((EXAMPLES / example / package).parent))
    env.update(spec.get("env", {}))
    task_dir = tmp_path / "task"
    task_dir.mkdir()
    result = subprocess.run(argv, env=env, cwd=task_dir, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    tag = spec["hyperparameters"]["hyperparameterMetricTag"]
    curve = values(read_reports(tmp_path), tag)
    assert curve
    if example == "synthetic":
        assert curve[-1][1] == 1.0  # the documented optimum

    # Without the package shipped there is no trainer: the job depends on
    # its packageUris, not on a file that happens to be nearby.
    del env["PYTHONPATH"]
    result = subprocess.run(argv, env=env, cwd=task_dir, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert "No module named" in result.stderr
