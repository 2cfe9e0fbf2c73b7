"""What dclf's tfds builders share: the base class (array_record output, a worker count, a tfds
4.9.10 fix), the checks of a manual_dir before any work starts, and an ordered process pool."""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import tensorflow_datasets as tfds
import tqdm
from etils import epath

from dclf.errors import DataError

T = TypeVar("T")
R = TypeVar("R")


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


LOCK_NAME = ".dclf_build.lock"


@contextlib.contextmanager
def exclusive(config_dir: Path, busy: str):
  """An advisory lock on a dataset config's folder: one build or raw conversion of it at a time (a
  conversion reads the build that a rebuild replaces). The kernel drops the lock when its holder
  dies, so a killed job never blocks the next; while another process holds it: DataError(busy)."""
  config_dir.mkdir(parents=True, exist_ok=True)
  with open(config_dir / LOCK_NAME, "w") as lock:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      raise DataError(busy) from None
    yield


def require_manual_dir(path: str | os.PathLike, dataset: str, instructions: str) -> Path:
  """The manual_dir as a Path; DataError with the instructions if it is missing or empty."""
  root = Path(path).expanduser()
  if root.exists() and not root.is_dir():
    raise DataError(f"{dataset}: manual_dir {root} is a file, not a folder", instructions=instructions)
  if not root.is_dir():
    raise DataError(f"{dataset}: manual_dir {root} does not exist", instructions=instructions)
  if not any(root.iterdir()):
    raise DataError(f"{dataset}: manual_dir {root} is empty", instructions=instructions)
  return root


def manual_dir(dl_manager, dataset: str, instructions: str) -> Path:
  """The manual_dir tfds resolved (--manual_dir or <data_dir>/downloads/manual), checked."""
  try:
    return Path(dl_manager.manual_dir)
  except AssertionError:
    raise DataError(f"{dataset}: the manual_dir is missing or empty", instructions=instructions) from None


def default_workers() -> int:
  return os.cpu_count() or 1


class OrderedPool:
  """A process pool, started on first use, whose `map` yields results in input order.

  Workers are spawned, not forked (forking a process that holds tfds' threads is unsafe),
  so `fn` must be picklable. Results come back in order (Pool.imap), so outputs never depend
  on the number of workers. workers <= 1 runs everything in this process.
  """

  def __init__(self, workers: int | None = None, chunksize: int = 4):
    self.workers = default_workers() if workers is None else workers
    self._chunksize = chunksize
    self._pool = None

  def __enter__(self) -> OrderedPool:
    return self

  def __exit__(self, *exc_info) -> None:
    if self._pool is not None:
      self._pool.terminate()
      self._pool.join()
      self._pool = None

  def map(self, fn: Callable[[T], R], items: Sequence[T], desc: str = "", unit: str = " sources") -> Iterator[R]:
    """fn(item) for every item, in order, with a progress bar over the items."""
    progress = tqdm.tqdm(total=len(items), desc=desc, unit=unit, leave=False, mininterval=1.0)
    with progress:
      for result in self._results(fn, items):
        yield result
        progress.update()

  def _results(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
    if self.workers <= 1 or len(items) <= 1:
      return map(fn, items)
    if self._pool is None:
      self._pool = multiprocessing.get_context("spawn").Pool(self.workers)
    return self._pool.imap(fn, items, chunksize=self._chunksize)
