"""The launch scripts, through their --dry-run plans: the study's environments created from the pinned
file (launch/study-envs.txt), the dataset staged in local memory, the study run with each row's
interpreter and its folder copied back, on a TPU VM and on a GPU node; training launches as before;
bad input is one line. Nothing is installed or run: the plans are the commands the scripts would
run, read back with shlex."""

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from dclf.bench import runners, study

from _runs import REPO, assert_one_line_error

PINS_FILE = REPO / "launch" / "study-envs.txt"
PLATFORMS = ("cpu", "gpu", "tpu")
PIN = re.compile(r"(?P<name>[A-Za-z0-9_.-]+)(\[[A-Za-z0-9_,-]+\])?==(?P<version>[0-9][A-Za-z0-9.+]*)")
# A TPU VM's settings as a user sets them (the bucket, where the study goes on the VM).
TPU_SETTINGS = {"BUCKET": "gs://b/dclf", "TPU_NAME": "t", "ACCELERATOR_TYPE": "v5litepod-8", "STUDY_NAME": "s"}


def _pins() -> dict[str, dict[str, list[str]]]:
  """The pinned file as {environment: {field: values}}, read as launch/study_envs.sh reads it."""
  envs = {}
  for line in PINS_FILE.read_text().splitlines():
    if line.strip() and not line.startswith("#"):
      env, field, *values = line.split()
      assert field not in envs.setdefault(env, {}), f"{env} {field} given twice"
      envs[env][field] = values
  return envs


def _script(name: str, *args, env: dict | None = None, cwd=REPO) -> subprocess.CompletedProcess:
  base = {"PATH": "/usr/bin:/bin", "HOME": "/home/u"}  # nothing of the caller's settings leaks in
  return subprocess.run(
    ["bash", str(REPO / "launch" / name), *map(str, args)],
    env={**base, **(env or {})},
    cwd=cwd,
    capture_output=True,
    text=True,
    timeout=60,
  )


def _plan(name: str, *args, env: dict | None = None) -> list[list[str]]:
  """The dry-run plan's commands, each as its words; lines indented under '#   ' (what a script runs
  on a remote host) count as commands too, other comments are left out."""
  result = _script(name, "--dry-run", *args, env=env)
  assert result.returncode == 0, result.stderr
  assert result.stderr == ""
  commands, pending = [], ""
  for line in result.stdout.splitlines():
    line = pending + line if pending else line.removeprefix("#   ")
    if line and not line.startswith("#"):
      try:
        commands.append(shlex.split(line))
        pending = ""
      except ValueError:  # a quoted argument that goes on over the next lines (a remote script)
        pending = line + "\n"
  assert not pending, pending
  return commands


def _index(commands, *words) -> int:
  """The position of the first command holding all `words` in order (as a run of its words)."""
  for i, command in enumerate(commands):
    if any(command[j : j + len(words)] == list(words) for j in range(len(command))):
      return i
  raise AssertionError(f"no command with {words} in:\n" + "\n".join(shlex.join(c) for c in commands))


def _interpreters(envs_dir: str) -> list[str]:
  """The study's --python flags for the environments under envs_dir, from the pinned file."""
  flags = []
  for env, fields in _pins().items():
    for name in fields["serves"]:
      flags += ["--python", f"{name}={envs_dir}/{env}/bin/python"]
  return flags


def _assert_environments(commands, envs_dir: str, platform: str) -> int:
  """Every environment made with its platform's pins, dclf constrained to them; returns the
  position of the last command."""
  last = 0
  for env, fields in _pins().items():
    python = f"{envs_dir}/{env}/bin/python"
    venv = _index(commands, "-m", "venv", f"{envs_dir}/{env}")
    pins = _index(commands, python, "-m", "pip", "install", *fields[platform])
    constraints = _index(commands, "printf", r"%s\n", *(re.sub(r"\[.*\]", "", pin) for pin in fields[platform]))
    dclf = _index(commands, python, "-m", "pip", "install", "--constraint", f"{envs_dir}/{env}/dclf-constraints.txt")
    assert commands[dclf][-2:] == ["--editable", ".[test]"]
    assert venv < pins < constraints < dclf, (env, venv, pins, constraints, dclf)
    last = max(last, _index(commands, "rm", f"{envs_dir}/{env}/dclf-study-env.incomplete"))
  return last


# The pinned file.


def test_every_environment_is_pinned_on_every_platform():
  envs = _pins()
  assert set(envs) == {"jax", "torch", "keras"}
  for env, fields in envs.items():
    assert set(fields) == {"serves", *PLATFORMS}, env
    for platform in PLATFORMS:
      for requirement in fields[platform]:
        assert PIN.fullmatch(requirement), f"{env} {platform}: {requirement} is not pinned with =="


def test_every_row_the_study_runs_has_an_environment():
  """Each `serves` name is a row or a framework the study's --python takes, and every row is served
  (by its own name or its framework's) by exactly one environment."""
  served = [name for fields in _pins().values() for name in fields["serves"]]
  assert len(served) == len(set(served)), "a row or framework served by two environments"
  assert set(served) <= {*runners.ROWS, *runners.RUNNERS}, set(served) - {*runners.ROWS, *runners.RUNNERS}
  assert [row for row in runners.ROWS if row not in served and runners.framework(row) not in served] == []


def test_torch_xla_comes_with_the_torch_it_was_built_against():
  for platform, requirements in _pins()["torch"].items():
    versions = {m["name"]: m["version"] for m in map(PIN.fullmatch, requirements) if m}
    if "torch_xla" in versions:
      assert versions["torch_xla"] == versions["torch"], platform


def test_tensorflow_and_pytorch_never_share_an_environment():
  for env, fields in _pins().items():
    for platform in PLATFORMS:
      names = {PIN.fullmatch(r)["name"] for r in fields[platform]}
      assert not ({"torch"} & names and {"tensorflow", "tensorflow-cpu", "tensorflow-tpu"} & names), (env, platform)


# launch/study_envs.sh


@pytest.mark.parametrize("platform", PLATFORMS)
def test_environments_dry_run_installs_the_pins_then_dclf_and_prints_the_study(platform, tmp_path):
  result = _script("study_envs.sh", "--dry-run", "--platform", platform, tmp_path / "envs")
  assert result.returncode == 0, result.stderr
  commands = [shlex.split(line) for line in result.stdout.splitlines() if not line.startswith("#")]
  _assert_environments(commands, f"{tmp_path}/envs", platform)
  study_line = result.stdout.splitlines()[-1]
  assert shlex.split(study_line.removeprefix("#   ")) == [
    f"{tmp_path}/envs/jax/bin/python",
    *("-m", "dclf.bench.study", "OUT_DIR", "--platform", platform),
    *_interpreters(f"{tmp_path}/envs"),
  ]
  assert not (tmp_path / "envs").exists()


def test_environments_rerun_keeps_complete_ones_and_makes_the_others_again(tmp_path):
  pins = _pins()
  (tmp_path / "jax").mkdir()
  (tmp_path / "jax" / "dclf-study-env.txt").write_text("\n".join(["platform cpu", *pins["jax"]["cpu"]]) + "\n")
  (tmp_path / "torch").mkdir()  # made for another platform: made again
  (tmp_path / "torch" / "dclf-study-env.txt").write_text("\n".join(["platform gpu", *pins["torch"]["gpu"]]) + "\n")
  (tmp_path / "keras").mkdir()  # an interrupted creation: made again
  (tmp_path / "keras" / "dclf-study-env.incomplete").touch()
  result = _script("study_envs.sh", "--dry-run", "--platform", "cpu", tmp_path)
  assert result.returncode == 0, result.stderr
  assert f"# {tmp_path}/jax: complete" in result.stdout
  commands = [shlex.split(line) for line in result.stdout.splitlines() if not line.startswith("#")]
  assert not any(f"{tmp_path}/jax" in word for command in commands for word in command)
  for env in ("torch", "keras"):
    assert _index(commands, "rm", "-rf", f"{tmp_path}/{env}") < _index(commands, "-m", "venv", f"{tmp_path}/{env}")
  assert (tmp_path / "torch" / "dclf-study-env.txt").exists()  # a dry run changes nothing


def test_environments_interpreters_are_the_study_python_values(tmp_path):
  """What the scripts pass as --python is what the study takes (ROW_OR_FRAMEWORK=PATH), and runs
  every row with its environment's interpreter."""
  result = _script("study_envs.sh", "--interpreters", tmp_path)
  assert result.returncode == 0, result.stderr
  assert result.stdout.split() == _interpreters(str(tmp_path))[1::2]
  pythons = study.interpreters(result.stdout.split())
  envs = {row: Path(study.interpreter(pythons, row)).parents[1].name for row in runners.ROWS}
  assert envs == {
    **dict.fromkeys(["jax-jit", "jax-pmap"], "jax"),
    **{row: "torch" for row in runners.ROWS if row.startswith("torch")},
    "keras-torch": "torch",
    **dict.fromkeys(["keras-tensorflow", "keras-tensorflow-xla", "keras-jax"], "keras"),
  }


@pytest.mark.parametrize(
  "args, message",
  [
    (["DIR"], "--platform is required"),
    (["--platform", "tpu7", "DIR"], "--platform tpu7: one of cpu gpu tpu"),
    (["--platform", "cpu", "--envs", "jax,tensorflow", "DIR"], "unknown environment 'tensorflow'"),
    (["--platform", "cpu", "--frameworks", "jax", "DIR"], "unknown option '--frameworks'"),
  ],
)
def test_environments_bad_arguments_are_one_line(args, message, tmp_path):
  result = _script("study_envs.sh", "--dry-run", *[str(tmp_path) if a == "DIR" else a for a in args])
  assert message in assert_one_line_error(result.returncode, result.stderr) and result.stdout == ""


def test_environments_refuse_a_folder_they_did_not_make(tmp_path):
  (tmp_path / "torch").mkdir()
  (tmp_path / "torch" / "notes.txt").write_text("mine")
  result = _script("study_envs.sh", "--platform", "cpu", tmp_path, env={"PYTHON": "/bin/false"})
  line = assert_one_line_error(result.returncode, result.stderr)
  assert f"{tmp_path}/torch exists and is not an environment made by" in line and result.stdout == ""
  assert (tmp_path / "torch" / "notes.txt").read_text() == "mine" and not (tmp_path / "jax").exists()


# launch/tpu_vm.sh and launch/gpu.sh: the study.


def _assert_study(commands, *, envs_dir, platform, out_dir, stage, staging, results, study_flags):
  """Environments, then staging, then the study with every interpreter, then the copy of its folder."""
  environments = _assert_environments(commands, envs_dir, platform)
  staged = _index(commands, *staging)
  raw = _index(commands, f"{envs_dir}/jax/bin/python", "-m", "dclf.data", "convert-raw", "distortions/blur_noise")
  assert commands[raw][-2:] == ["--data_dir", stage]
  run = _index(commands, f"{envs_dir}/jax/bin/python", "-m", "dclf.bench.study", out_dir)
  words = commands[run]
  assert words[0] == "env" and f"TFDS_DATA_DIR={stage}" in words
  start = words.index("dclf.bench.study") + 2
  assert words[start : start + 2] == ["--platform", platform]
  assert words[start + 2 : start + 2 + len(_interpreters(envs_dir))] == _interpreters(envs_dir)
  assert words[words.index("2>&1") - len(study_flags) : words.index("2>&1")] == study_flags
  copied = _index(commands, "gcloud", "storage", "rsync", "--recursive", out_dir, f"{results}/{out_dir.split('/')[-1]}")
  assert environments < staged < raw < run < copied
  return words


def test_tpu_vm_dry_run_prints_the_whole_plan():
  commands = _plan(
    "tpu_vm.sh",
    "create",
    "install",
    "study",
    "logs",
    "delete",
    env={**TPU_SETTINGS, "STUDY_ARGS": "--quick --models softmax"},
  )
  gcloud = ["gcloud", "compute", "tpus", "tpu-vm"]
  create = _index(commands, *gcloud, "create", "t")
  install = _index(commands, *gcloud, "ssh", "t", "--zone", "us-central2-b", "--worker=all")
  assert shlex.split(commands[install][-1].splitlines()[-1]) == [
    *("PYTHON=python3.11", "bash", "launch/study_envs.sh", "--platform", "tpu", "--envs", "jax", "/opt/dclf/envs")
  ]
  jax_env = _index(commands, "/opt/dclf/envs/jax/bin/python", "-m", "pip", "install", *_pins()["jax"]["tpu"])
  ssh = _index(commands, *gcloud, "ssh", "t", "--zone", "us-central2-b", "--worker=0")
  remote = shlex.split(commands[ssh][-1])
  assert remote[:3] == ["cd", "dclf", "&&"] and "DATA_SOURCE=gs://b/dclf/tensorflow_datasets" in remote
  assert remote[-7:] == "launch/study.sh --platform tpu /opt/dclf/studies/s --quick --models softmax".split()
  on_vm = commands[ssh + 1 :]
  words = _assert_study(
    on_vm,
    envs_dir="/opt/dclf/envs",
    platform="tpu",
    out_dir="/opt/dclf/studies/s",
    stage="/dev/shm/dclf-data",
    staging=[
      *("gcloud", "storage", "rsync", "--recursive"),
      *("gs://b/dclf/tensorflow_datasets/distortions/blur_noise", "/dev/shm/dclf-data/distortions/blur_noise"),
    ],
    results="gs://b/dclf/studies",
    study_flags=["--quick", "--models", "softmax"],
  )
  assert "TPU_PROCESS_BOUNDS=1,1,1" in words  # a single-host study, also on a multi-host slice
  back = _index(commands, *gcloud, "scp", "--zone", "us-central2-b", "--worker=0", "--recurse", "t:/opt/dclf/studies/s")
  logs = _index(commands, *gcloud, "scp", "--zone", "us-central2-b", "--worker=all")
  delete = _index(commands, *gcloud, "delete", "t")
  assert commands[back][-1] == "./tpu_results/"
  assert create < install < jax_env < ssh < back < logs < delete


def test_a_failed_study_still_copies_its_folder_back_and_deletes_the_vm(tmp_path):
  """A study with a failed row exits 1 from worker 0's ssh: the results are still copied back, the
  (spot) VM still deleted, and the script's exit code is the study's."""
  (tmp_path / "bin").mkdir()
  gcloud = tmp_path / "bin" / "gcloud"
  gcloud.write_text('#!/bin/bash\necho "$*" >> "$CALLS"\n[[ "$*" == *" ssh "*"--worker=0"* ]] && exit 1\nexit 0\n')
  gcloud.chmod(0o755)
  calls = tmp_path / "calls"
  env = {
    **TPU_SETTINGS,
    "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin",
    "CALLS": str(calls),
    "RESULTS": str(tmp_path / "r"),
  }
  result = _script("tpu_vm.sh", "study", "delete", env=env)
  assert result.returncode == 1, result.stderr
  verbs = [line.split()[3] for line in calls.read_text().splitlines()]
  assert verbs == ["ssh", "scp", "delete"] and (tmp_path / "r").is_dir()


def test_gpu_study_dry_run_prints_the_whole_plan():
  settings = {"ENVS_DIR": "/envs", "DATA_SOURCE": "/nfs/tfds", "RESULTS_DEST": "gs://b/studies"}
  commands = _plan("gpu.sh", "study", "/runs/gpu-study", "--models", "sgdnet", env=settings)
  words = _assert_study(
    commands,
    envs_dir="/envs",
    platform="gpu",
    out_dir="/runs/gpu-study",
    stage="/dev/shm/dclf-data",
    staging=["cp", "-a", "/nfs/tfds/distortions/blur_noise/.", "/dev/shm/dclf-data/distortions/blur_noise/"],
    results="gs://b/studies",
    study_flags=["--models", "sgdnet"],
  )
  assert not any(word.startswith("TPU_") for word in words)


def test_a_synthetic_data_study_stages_nothing():
  commands = _plan("gpu.sh", "study", "/runs/synthetic", env={"ENVS_DIR": "/envs", "DATASETS": ""})
  assert not any("convert-raw" in command or "cp" in command for command in commands)
  run = _index(commands, "/envs/jax/bin/python", "-m", "dclf.bench.study", "/runs/synthetic")
  assert not any(word.startswith("TFDS_DATA_DIR") for word in commands[run])


# Training launches as before, and bad steps.


def test_training_launches_are_unchanged():
  (run,) = _plan("tpu_vm.sh", "run", env={**TPU_SETTINGS, "EXTRA_ARGS": "--config.batch_size=1024"})
  assert run[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "t"] and "--worker=all" in run
  remote = shlex.split(run[-1])
  assert remote[3:7] == ["/opt/dclf/envs/jax/bin/python", "-m", "dclf.main", "--config"]
  assert "--multihost=on" in remote and "--config.batch_size=1024" in remote
  (train,) = _plan("gpu.sh", "configs/sgdnet.py", "w", "--config.batch_size=4")
  assert train == [
    "XLA_PYTHON_CLIENT_PREALLOCATE=false",
    *("python", "-m", "dclf.main", "--config", "configs/sgdnet.py", "--workdir", "w", "--multihost=off"),
    "--config.batch_size=4",
  ]


def test_a_bad_step_is_one_line_and_nothing_runs():
  result = _script("tpu_vm.sh", "--dry-run", "create", "studdy", env=TPU_SETTINGS)
  line = assert_one_line_error(result.returncode, result.stderr)
  assert "unknown step 'studdy'" in line and result.stdout == ""


@pytest.mark.parametrize("script, args", [("study.sh", ["OUT"]), ("study.sh", ["--platform", "gpu-a100", "OUT"])])
def test_study_needs_a_platform(script, args):
  result = _script(script, "--dry-run", *args)
  assert "--platform" in assert_one_line_error(result.returncode, result.stderr) and result.stdout == ""
