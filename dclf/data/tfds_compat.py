"""Lets tfds' local (non-Beam) writer spill to disk without TensorFlow.

tfds' `Shuffler` keeps up to 1 GB of serialized examples in memory; past that it writes
1000 bucket files through `tf.io.gfile`, so any split larger than 1 GB fails with
"No module named 'tensorflow'" (tensorflow-datasets 4.9.10). The buckets are plain local
files, so when TensorFlow is absent we hand the shuffler a tiny stand-in for the few
`tf.io.gfile` / `tf.errors` names it uses, built on etils.epath.
"""

from __future__ import annotations

import importlib.util
import resource
import types

from etils import epath
from tensorflow_datasets.core import shuffle

_BUCKET_FILES = shuffle.BUCKETS_NUMBER + 64  # the shuffler opens one file per bucket at once


class _NeverRaised(Exception):
  """Stands for tf.errors.ResourceExhaustedError: plain file I/O raises OSError instead."""


def _gfile_stand_in() -> types.SimpleNamespace:
  gfile = types.SimpleNamespace(
    GFile=lambda path, mode="r": epath.Path(path).open(mode),
    exists=lambda path: epath.Path(path).exists(),
    remove=lambda path: epath.Path(path).unlink(),
  )
  return types.SimpleNamespace(
    io=types.SimpleNamespace(gfile=gfile),
    errors=types.SimpleNamespace(ResourceExhaustedError=_NeverRaised),
  )


def _raise_open_files_limit() -> None:
  soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
  wanted = _BUCKET_FILES + 256
  if soft != resource.RLIM_INFINITY and soft < wanted:
    new_soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))


def install() -> None:
  """Patches tfds' shuffler when TensorFlow is not installed; a no-op otherwise."""
  if importlib.util.find_spec("tensorflow") is not None:
    return
  shuffle.tf = _gfile_stand_in()
  _raise_open_files_limit()
