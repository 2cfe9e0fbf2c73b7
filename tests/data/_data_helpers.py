"""Helpers shared by the data tests: read a built split, compare two builds, kill a command half way."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import numpy as np

import dclf.data

REPO_ROOT = Path(__file__).resolve().parents[2]


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


def kill_when_written(process: subprocess.Popen, folder: Path, pattern: str, poll_s: float = 0.2) -> None:
  """SIGKILLs `process` as soon as `folder` holds a file matching `pattern` (within 2 minutes);
  fails if the process ended before."""
  try:
    deadline = time.monotonic() + 120
    while not list(folder.glob(pattern)) and time.monotonic() < deadline:
      time.sleep(poll_s)
    assert process.poll() is None, "the command finished before it could be killed"
  finally:
    process.send_signal(signal.SIGKILL)
    process.wait()
