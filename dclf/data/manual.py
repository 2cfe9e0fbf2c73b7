"""Checks the manual_dir of datasets that cannot be downloaded, before any work starts."""

from __future__ import annotations

import os
from pathlib import Path

from dclf.data.errors import DataError


def require(path: str | os.PathLike, dataset: str, instructions: str) -> Path:
  """The manual_dir as a Path; DataError with the instructions if it is missing or empty."""
  root = Path(path).expanduser()
  if not root.is_dir():
    raise DataError(f"{dataset}: manual_dir {root} does not exist", instructions=instructions)
  if not any(root.iterdir()):
    raise DataError(f"{dataset}: manual_dir {root} is empty", instructions=instructions)
  return root


def from_download_manager(dl_manager, dataset: str, instructions: str) -> Path:
  """The manual_dir tfds resolved (--manual_dir or <data_dir>/downloads/manual), checked."""
  try:
    return Path(dl_manager.manual_dir)
  except AssertionError:
    raise DataError(f"{dataset}: the manual_dir is missing or empty", instructions=instructions) from None
