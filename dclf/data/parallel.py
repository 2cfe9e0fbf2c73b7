"""Fans per-source work out to worker processes while keeping the input order."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import tqdm

T = TypeVar("T")
R = TypeVar("R")


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

  def map(self, fn: Callable[[T], R], items: Sequence[T], desc: str = "") -> Iterator[R]:
    """fn(item) for every item, in order, with a progress bar over the items."""
    progress = tqdm.tqdm(total=len(items), desc=desc, unit=" sources", leave=False, mininterval=1.0)
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
