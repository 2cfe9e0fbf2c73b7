"""What a run tells its user and records in its workdir: dclf's own log lines, a progress bar,
honest images/s, how long the devices waited for input, and metrics in `workdir/metrics.jsonl`
and TensorBoard event files.

Log lines go to stderr from process 0 only, kept apart from absl's root logger so the libraries'
INFO chatter (orbax logs every file it writes) can stay at WARNING while ours stays visible.
Metrics are written by process 0 only, since they are already global means over all devices
(TensorBoard through tensorboardX: no TensorFlow).
"""

import json
import logging
import queue
import sys
import time
from pathlib import Path

import jax

from dclf.fileio import atomic_write_text

logger = logging.getLogger("dclf")


def setup_logging(level: int = logging.INFO) -> None:
  if not logger.handlers:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
  logger.setLevel(level if jax.process_index() == 0 else logging.WARNING)
  logger.propagate = False


def log(msg: str, *args) -> None:
  """One INFO line of dclf's own (process 0)."""
  logger.info(msg, *args)


def warn(msg: str, *args) -> None:
  """One WARNING line of dclf's own (every process: each one's input, say, is its own)."""
  logger.warning("WARNING: " + msg, *args)


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
    self.last_window_s = 0.0  # the seconds the last `window_rate` measured

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
    self.last_window_s = elapsed if self._steps else 0.0
    self._start, self._steps = time.perf_counter(), 0
    return rate

  def pause_for(self, seconds: float) -> None:
    """Excludes `seconds` of non-training work from the current window."""
    if self._start is not None:
      self._start += seconds

  @property
  def images_per_sec(self):
    return self.total_images / self.total_seconds if self.total_seconds else None


INPUT_BOUND = 0.10  # a run whose devices wait for input longer than this share of the time is input-bound


class InputWait:
  """Seconds the devices sat idle because the step loop waited for input.

  A step returns before the device has run it, so the loop normally runs ahead, and time spent
  waiting for a batch while earlier steps still execute costs nothing (the time spent waiting
  alone is large even when the device never starves). While it waits, `next_batch` polls the last
  step's outputs (`is_ready()`, never blocking) and counts only the part of the wait after they
  were ready.
  """

  def __init__(self, poll_s: float = 0.0005):
    self._poll = poll_s
    self.idle_s = 0.0
    self._window_start = 0.0
    self.warned = False

  def next_batch(self, batches, last_outputs=None):
    """The next batch of `batches` (`get(timeout)`, raising queue.Empty); `last_outputs`: what the
    last dispatched step returned (None before the first step: no device work to starve)."""
    try:
      return batches.get(0)
    except queue.Empty:
      pass
    leaf = jax.tree.leaves(last_outputs)[0] if last_outputs is not None else None
    idle_since = time.perf_counter() if leaf is not None and leaf.is_ready() else None
    while True:
      try:
        batch = batches.get(self._poll)
        break
      except queue.Empty:
        if idle_since is None and leaf is not None and leaf.is_ready():
          idle_since = time.perf_counter()
    if idle_since is not None:
      self.idle_s += time.perf_counter() - idle_since
    return batch

  def window_fraction(self, seconds: float) -> float:
    """The share of the last `seconds` of training (a log window) the devices waited for input;
    starts a new window."""
    idle, self._window_start = self.idle_s - self._window_start, self.idle_s
    return min(idle / seconds, 1.0) if seconds > 0 else 0.0

  def fraction(self, total_seconds: float) -> float | None:
    """The share of all timed training seconds the devices waited for input."""
    return min(self.idle_s / total_seconds, 1.0) if total_seconds else None

  def first_time_bound(self, fraction: float) -> bool:
    """True the first time a window is input-bound (the run warns once)."""
    if fraction > INPUT_BOUND and not self.warned:
      self.warned = True
      return True
    return False


class MetricWriter:
  """Appends `{"step": s, "<prefix>/<name>": value ...}` rows; mirrors them as TB scalars."""

  def __init__(self, workdir, enabled: bool | None = None):
    self.enabled = jax.process_index() == 0 if enabled is None else enabled
    self._path = Path(workdir) / "metrics.jsonl"
    self._tb = None
    if self.enabled:
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top

      self._tb = SummaryWriter(str(Path(workdir) / "tensorboard"))

  def truncate_after(self, step: int) -> None:
    """Drops rows past `step`: a resumed run logs those steps again."""
    if not (self.enabled and self._path.exists()):
      return
    rows = [line for line in self._path.read_text().splitlines() if line.strip()]
    kept = [line for line in rows if json.loads(line)["step"] <= step]
    if len(kept) != len(rows):
      atomic_write_text(self._path, "".join(line + "\n" for line in kept))

  def write(self, step: int, metrics: dict, prefix: str) -> None:
    if not self.enabled:
      return
    row = {"step": int(step), **{f"{prefix}/{k}": float(v) for k, v in metrics.items()}}
    with self._path.open("a") as f:
      f.write(json.dumps(row) + "\n")
    for key, value in row.items():
      if key != "step":
        self._tb.add_scalar(key, value, int(step))

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()
