"""`hpt validate` over tests/data/configs: every config's output and exit
status must match its .expected file exactly (messages, positions, paths).

To accept a deliberate change of output, regenerate with
HPT_UPDATE_EXPECTED=1 and review the diff."""
import hashlib
import json
import os
import pathlib
import subprocess

import pytest

SRC = pathlib.Path(os.environ.get("HPT_SOURCE_DIR", pathlib.Path(__file__).parents[2]))
BIN = pathlib.Path(os.environ.get("HPT_BIN_DIR", SRC / "build" / "bin"))
CONFIGS = SRC / "tests" / "data" / "configs"
CASES = sorted(p for p in CONFIGS.glob("*/*") if p.suffix in (".yaml", ".json"))


def run_validate(*args, cwd=CONFIGS):
    return subprocess.run([str(BIN / "hpt"), "validate", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=30)


# gcloud config files that leave the trainer to the command line (the
# seeds): validated with the flag that gives one, as they are submitted.
TRAINER_FLAGS = {
    "valid/seed_config.yaml": ["--module-name", "trainer.task"],
    "valid/seed_job_spec.json": ["--module-name", "trainer.task"],
}
NO_TRAINER = ("no trainer: set trainingInput.command (hpt extension: the program to run), "
              "trainingInput.pythonModule or trainingInput.masterConfig.imageUri; the master "
              "refuses a job without one")


@pytest.mark.parametrize("config", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_expected_output(config):
    rel = config.relative_to(CONFIGS)
    result = run_validate("--config", str(rel), *TRAINER_FLAGS.get(str(rel), []))
    got = result.stdout + result.stderr + f"exit {result.returncode}\n"
    expected_file = config.with_name(config.name + ".expected")
    if os.environ.get("HPT_UPDATE_EXPECTED"):
        expected_file.write_text(got)
    assert got == expected_file.read_text()
    assert (result.returncode == 0) == (config.parent.name == "valid")


# The seed examples the project started from, kept byte for byte as given:
# they must be accepted unchanged, so the test pins their content too (an
# edit that made them pass would hide a regression).
SEED_SHA256 = {
    "seed_config.yaml": "f7a3de482c50c6daf0a941262b614b1bc0d6da2b56e908e3a39875fb17b6f7e9",
    "seed_job_spec.json": "b65ba87cca236c8040e648b53676d9d67679d57ea823ced9d8a9e1ad7ef0e50f",
}


def test_seed_examples_validate_unchanged():
    for name, digest in SEED_SHA256.items():
        path = CONFIGS / "valid" / name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, f"{path} was edited"
        # The file alone names no trainer: the master would refuse it, and
        # so does validate, with the master's message.
        alone = run_validate("--config", str(path))
        assert alone.returncode == 2 and alone.stdout == ""
        assert NO_TRAINER in alone.stderr and "1 problem found" in alone.stderr
        result = run_validate("--config", str(path), "--module-name", "trainer.task")
        assert result.returncode == 0, result.stderr
        job = json.loads(result.stdout)
        assert job["trainingInput"]["pythonModule"] == "trainer.task"
        hp = job["trainingInput"]["hyperparameters"]
        assert hp["hyperparameterMetricTag"] == "metric1"
        assert [p["parameterName"] for p in hp["params"]] == ["hidden1", "numRnnCells", "rnnCellType"]


def test_what_the_master_refuses_without_a_cluster_is_an_error(tmp_path):
    """No trainer at all (no command, pythonModule or imageUri) is refused
    by the master; validate says so as an error with the same message,
    unless a flag gives the trainer, and then judges the merged job as
    submit sends it. A config-relative package path must exist."""
    config = tmp_path / "hp.yaml"
    config.write_text("trainingInput:\n"
                      "  hyperparameters:\n"
                      "    goal: MINIMIZE\n"
                      "    hyperparameterMetricTag: loss\n"
                      "    maxTrials: 2\n"
                      "    params:\n"
                      "      - {parameterName: x, type: DOUBLE, minValue: 0, maxValue: 1}\n")
    refused = run_validate("--config", str(config))
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr == f"{config}: trainingInput: {NO_TRAINER}\n1 problem found\n"

    image = run_validate("--config", str(config), "--master-image-uri", "registry.lab/t:1")
    assert image.returncode == 0, image.stderr
    assert json.loads(image.stdout)["trainingInput"]["masterConfig"]["imageUri"] == \
        "registry.lab/t:1"
    bad = run_validate("--config", str(config), "--module-name", "not a module")
    assert bad.returncode == 2
    assert f"{config} with the flags: /trainingInput/pythonModule:" in bad.stderr
    (tmp_path / "trainer").mkdir()
    packaged = run_validate("--config", str(config), "--module-name", "trainer.task",
                            "--package-path", str(tmp_path / "trainer"))
    assert packaged.returncode == 0, packaged.stderr
    assert json.loads(packaged.stdout)["trainingInput"]["packageUris"] == \
        [str(tmp_path / "trainer")]
    assert run_validate("--config", str(config), "--module-name", "trainer.task",
                        "--package-path", str(tmp_path / "nope")).returncode == 2

    config.write_text(config.read_text().replace(
        "trainingInput:\n", "trainingInput:\n  pythonModule: trainer.task\n"
        "  packageUris: [trainer, missing]\n"))
    missing = run_validate("--config", str(config), cwd=CONFIGS)
    assert missing.returncode == 2
    assert "trainingInput.packageUris[1]: 'missing': no such file or directory" in missing.stderr


def test_normalized_output_validates_again(tmp_path):
    """The normalized JSON and YAML are themselves valid configs that
    normalize to the same JSON (the round trip users rely on when they
    save `hpt validate` output)."""
    first = run_validate("--config", "valid/all_fields.yaml")
    assert first.returncode == 0
    (tmp_path / "n.json").write_text(first.stdout)
    second = run_validate("--config", str(tmp_path / "n.json"))
    assert second.stdout == first.stdout
    as_yaml = run_validate("--config", "valid/all_fields.yaml", "--format", "yaml")
    (tmp_path / "n.yaml").write_text(as_yaml.stdout)
    third = run_validate("--config", str(tmp_path / "n.yaml"))
    assert third.stdout == first.stdout


def test_usage_errors():
    assert run_validate().returncode == 2
    assert run_validate("--config", "valid/seed_config.yaml", "--format", "xml").returncode == 2
    assert run_validate("--config", "valid/all_fields.yaml", "--packages", "x").returncode == 2
    missing = run_validate("--config", "does/not/exist.yaml")
    assert missing.returncode == 2
    assert "does/not/exist.yaml: cannot open: No such file or directory" in missing.stderr


def test_binaries_answer_help_and_version():
    for prog in ("hpt", "hptmaster", "hptagent", "hpt-bench"):
        out = subprocess.run([str(BIN / prog), "--version"], capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout.startswith(prog + " "), (prog, out)
        out = subprocess.run([str(BIN / prog), "--help"], capture_output=True, text=True)
        assert out.returncode == 0 and "Usage" in out.stdout, (prog, out)
