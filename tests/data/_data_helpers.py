"""Helpers shared by the data tests: read a built split, compare two builds, kill a command half way."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np

import dclf.data

REPO_ROOT = Path(__file__).resolve().parents[2]
NAME = "distortions/blur_noise_sample"  # the dataset the raw copy tests build (the `built` fixture)


def private_copy(data_dir: Path, tmp_path: Path) -> str:
  """A copy of the tfds data_dir `data_dir` in `tmp_path`, for a test to change."""
  shutil.copytree(data_dir, tmp_path, dirs_exist_ok=True)
  return str(tmp_path)


def version_dir(data_dir) -> Path:
  return Path(data_dir) / "distortions" / "blur_noise_sample" / "1.0.0"


def read_split(name: str, split: str, data_dir: Path) -> list[dict]:
  source, _ = dclf.data.get_source(name, split, data_dir=str(data_dir))
  return [source[index] for index in range(len(source))]


def by_key(examples: list[dict]) -> dict[tuple[str, str], dict]:
  return {(ex["source_id"].decode(), ex["distortion"].decode()): ex for ex in examples}


def assert_same_examples(left: list[dict], right: list[dict]) -> None:
  left_by_key, right_by_key = by_key(left), by_key(right)
  assert left_by_key.keys() == right_by_key.keys()
  for key, example in left_by_key.items():
    other = right_by_key[key]
    assert example.keys() == other.keys()
    for feature, value in example.items():
      np.testing.assert_array_equal(value, other[feature], err_msg=f"{key} {feature}")


def wait_for_file(
  process: subprocess.Popen, folder: Path, pattern: str, poll_s: float = 0.2, timeout: float = 120
) -> None:
  """Returns as soon as `folder` holds a file matching `pattern`; fails if `process` ends first or
  `timeout` seconds pass."""
  deadline = time.monotonic() + timeout
  while not list(folder.glob(pattern)):
    assert process.poll() is None, f"the command ended before {pattern} appeared"
    assert time.monotonic() < deadline, f"no {pattern} in {folder} after {timeout} s"
    time.sleep(poll_s)


def kill_when_written(process: subprocess.Popen, folder: Path, pattern: str, poll_s: float = 0.2) -> None:
  """SIGKILLs `process` as soon as `folder` holds a file matching `pattern` (within 2 minutes);
  fails if the process ended before."""
  try:
    wait_for_file(process, folder, pattern, poll_s)
  finally:
    process.send_signal(signal.SIGKILL)
    process.wait()


def die_at(fatal_item: int, signum: int, item: int) -> int:
  """An OrderedPool task whose worker process dies by `signum` at `fatal_item`."""
  if item == fatal_item:
    os.kill(os.getpid(), signum)
  return item


def error_line(stderr: str) -> str:
  """A command's one `error:` line: its last line, with no other error line and no traceback before
  it (progress bars, which end in a carriage return, and library warnings may come before)."""
  lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
  errors = [line for line in lines if line.startswith("error: ")]
  assert lines and errors == [lines[-1]] and "Traceback" not in stderr, stderr
  return errors[0]
