"""`python -m dclf.data`: exit codes, one-line errors, and a build killed half way."""

import pytest
import tensorflow_datasets as tfds

import dclf.data
from dclf.errors import DataError

from _data_helpers import kill_when_written
from _runs import run_module, start_module


def _cli(*args, **kwargs):
  return run_module("dclf.data", *args, **kwargs)


def _assert_one_line_error(result):
  assert result.returncode == 2
  assert result.stderr.startswith("error: ")
  assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
  "args",
  [
    ("build", "distortions/nope"),
    ("build",),
    ("frobnicate",),
    ("build", "distortions/blur_noise_sample", "--num_sources", "many"),
    ("build", "live_iqa/blur_noise", "--num_sources", "3"),
  ],
)
def test_bad_input_exits_2_with_one_line(args, tmp_path):
  _assert_one_line_error(_cli(*args, "--data_dir", str(tmp_path)))


def test_missing_manual_dir_prints_instructions(tmp_path):
  result = _cli("build", "live_iqa/blur_noise", "--data_dir", str(tmp_path), "--manual_dir", str(tmp_path / "nowhere"))
  _assert_one_line_error(result)
  first, *rest = result.stderr.splitlines()
  assert "does not exist" in first and "live.ece.utexas.edu" in "\n".join(rest)


def test_build_prints_sizes(tmp_path):
  result = _cli(
    "build", "distortions/blur_noise_sample", "--data_dir", str(tmp_path), "--num_sources", "9", "--workers", "1"
  )
  assert result.returncode == 0, result.stderr
  assert "train 21, validation 3, test 3 examples" in result.stdout


def test_killed_build_is_not_complete_and_is_redone(tmp_path):
  """SIGKILL once the train split's file is written (validation and test still to come)."""
  config_dir = tmp_path / "distortions" / "blur_noise_sample"
  build = start_module(
    "dclf.data", "build", "distortions/blur_noise_sample", "--data_dir", tmp_path, "--workers", 1, "--num_sources", 180
  )
  kill_when_written(build, config_dir, "incomplete.*/*.array_record*")
  leftovers = list(config_dir.glob("incomplete.*"))
  assert leftovers and not (config_dir / "1.0.0").exists()
  assert not tfds.builder("distortions/blur_noise_sample", data_dir=str(tmp_path)).is_prepared()
  with pytest.raises(DataError, match="not built"):
    dclf.data.get_source("distortions/blur_noise_sample", "train", data_dir=str(tmp_path))

  result = _cli(
    "build", "distortions/blur_noise_sample", "--data_dir", str(tmp_path), "--num_sources", "9", "--workers", "1"
  )
  assert result.returncode == 0, result.stderr
  assert not list(config_dir.glob("incomplete.*"))
  source, _ = dclf.data.get_source("distortions/blur_noise_sample", "test", data_dir=str(tmp_path))
  assert len(source) == 3
