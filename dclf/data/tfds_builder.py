"""The base of dclf's tfds builders: array_record output, worker count, a tfds 4.9.10 fix."""

from __future__ import annotations

import sys

import tensorflow_datasets as tfds
from etils import epath


class ArrayRecordBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Writes array_record (random access, no TensorFlow) unless told otherwise.

  Builder kwargs: workers (processes for decoding/distorting; default all cores).
  """

  def __init_subclass__(cls, **kwargs):
    super().__init_subclass__(**kwargs)
    # tfds 4.9.10 derives code_path via `importlib_resources`, a dependency it declares
    # only for Python < 3.9 (tensorflow/datasets#11212): without it every build fails.
    # The builder's own file is the answer it would compute.
    cls.code_path = epath.Path(sys.modules[cls.__module__].__file__)

  def __init__(self, *, workers: int | None = None, file_format: str | None = None, **kwargs):
    super().__init__(file_format=file_format or "array_record", **kwargs)
    self.workers = workers
