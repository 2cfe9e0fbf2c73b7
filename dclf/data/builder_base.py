"""What dclf's tfds builders share: the base class (array_record output, a worker count, a tfds
4.9.10 fix), the checks of a manual_dir before any work starts, and an ordered process pool."""

from __future__ import annotations

import collections
import contextlib
import fcntl
import itertools
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from pathlib import Path
from typing import TypeVar

import tensorflow_datasets as tfds
import tqdm
from etils import epath

import dclf
from dclf.data import png_build
from dclf.errors import DataError, RunError

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
    try:
      super().__init__(file_format=file_format or "array_record", **kwargs)
    except Exception as e:
      if not hasattr(self, "_data_dir"):  # before tfds read a build: not about one
        raise
      # tfds read a build's dataset_info.json (and features.json), which do not parse
      raise png_build.damaged(self, f"its dataset_info.json cannot be read ({png_build.describe(e)})") from None
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


def _apply(fn: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
  return [fn(item) for item in chunk]


_DEATH_WAIT_S = 5.0  # how long a dead worker's exit status may take to show


def _how_it_died(exitcode: int) -> str:
  if exitcode < 0:
    name = signal.Signals(-exitcode).name
    return f"killed by {name}" + (" (the kernel sends it when memory runs out)" if name == "SIGKILL" else "")
  return f"exit code {exitcode}"


class OrderedPool:
  """A process pool, started on first use, whose `map` yields results in input order.

  Workers are spawned, not forked (forking a process that holds tfds' threads is unsafe),
  so `fn` must be picklable. Results come back in order, so outputs never depend on the number
  of workers; at most `ahead` chunks per worker are queued or done but not yet consumed, so a slow
  consumer holds a bounded number of results. workers <= 1 runs everything in this process.

  A worker that dies (out of memory, a signal of its own) ends `map` with RunError at once, not a
  wait for a result that never comes (`concurrent.futures` notices a dead worker; a
  `multiprocessing.Pool` replaces it and waits forever). Workers ignore SIGINT and SIGTERM
  (`dclf.settle_worker`): the main process decides, and leaving the `with` block by an exception
  (a signal's included) kills them at once.
  """

  def __init__(self, workers: int | None = None, chunksize: int = 4, ahead: int = 4):
    self.workers = default_workers() if workers is None else workers
    self._chunksize = chunksize
    self._ahead = ahead
    self._executor = None

  def __enter__(self) -> OrderedPool:
    return self

  def __exit__(self, exc_type, *exc_info) -> None:
    if self._executor is not None:
      if exc_type is not None:
        for process in self._processes():
          process.kill()
      self._executor.shutdown(wait=True, cancel_futures=True)
      self._executor = None

  def _processes(self) -> list:
    # concurrent.futures has no public handle on its workers before Python 3.14 (kill_workers).
    return list((getattr(self._executor, "_processes", None) or {}).values())

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
    return self._pooled(fn, items)

  def _pooled(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
    if self._executor is None:
      context = multiprocessing.get_context("spawn")
      self._executor = futures.ProcessPoolExecutor(self.workers, mp_context=context, initializer=dclf.settle_worker)
    chunks = (items[i : i + self._chunksize] for i in range(0, len(items), self._chunksize))
    pending = collections.deque(
      self._executor.submit(_apply, fn, chunk) for chunk in itertools.islice(chunks, self.workers * self._ahead)
    )
    while pending:
      try:
        results = pending.popleft().result()
      except futures.BrokenExecutor:  # a worker died
        raise RunError(f"a worker process died ({self._causes_of_death()})") from None
      pending.extend(self._executor.submit(_apply, fn, chunk) for chunk in itertools.islice(chunks, 1))
      yield from results

  def _causes_of_death(self) -> str:
    """How the dead workers ended. Their exit status comes a moment after their pipes close, and
    the executor's own thread reaps them too: when it reaps a process first, this thread sees no
    status until that thread has stored it. So it asks again until one shows, for up to 5 s."""
    processes = self._processes()
    deadline = time.monotonic() + _DEATH_WAIT_S
    while True:
      ended = multiprocessing.connection.wait([p.sentinel for p in processes], timeout=0.1)
      for process in processes:
        if process.sentinel in ended:
          process.join(0.1)
      died = [_how_it_died(p.exitcode) for p in processes if p.exitcode not in (None, 0)]
      if died or time.monotonic() > deadline:
        return ", ".join(died) or "how is unknown"
