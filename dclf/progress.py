"""Training progress: a terminal progress bar and honest images/s."""

import sys
import time

import jax


class ProgressBar:
  """A tqdm bar on process 0 when stderr is a terminal; nothing otherwise (log lines remain)."""

  def __init__(self, total: int, initial: int):
    self._bar = None
    if sys.stderr.isatty() and jax.process_index() == 0:
      from tqdm import tqdm  # pylint: disable=g-import-not-at-top
      self._bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)

  def update(self, n: int = 1):
    if self._bar is not None:
      self._bar.update(n)

  def close(self):
    if self._bar is not None:
      self._bar.close()


class Throughput:
  """Images/s over windows of training steps.

  The first step of a run compiles, so timing starts when it has finished; time spent in
  `paused()` (evaluation, checkpointing decisions) is not counted. Clocks are read only after the
  device work of the window is done (`window_rate` is called with fetched metrics).
  """

  def __init__(self, batch_size: int):
    self._batch_size = batch_size
    self._start = None
    self._steps = 0
    self.total_images = 0
    self.total_seconds = 0.0

  def step_done(self, metrics) -> None:
    if self._start is None:
      jax.block_until_ready(metrics)
      self._start = time.perf_counter()
    else:
      self._steps += 1

  def window_rate(self) -> float:
    """Images/s since the last call (NaN when only the compiling step ran); starts a new window."""
    elapsed = time.perf_counter() - self._start
    rate = self._steps * self._batch_size / elapsed if self._steps else float("nan")
    if self._steps:
      self.total_images += self._steps * self._batch_size
      self.total_seconds += elapsed
    self._start, self._steps = time.perf_counter(), 0
    return rate

  def pause_for(self, seconds: float) -> None:
    """Excludes `seconds` of non-training work from the current window."""
    if self._start is not None:
      self._start += seconds

  @property
  def images_per_sec(self):
    return self.total_images / self.total_seconds if self.total_seconds else None
