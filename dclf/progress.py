"""What a run tells its user and records in its workdir: dclf's own log lines, a progress bar,
honest images/s, how long the devices waited for input, metrics in `workdir/metrics.jsonl` and
TensorBoard event files, and on demand a profile of a few steps (`StepProfile`).

Log lines go to stderr from process 0 only, kept apart from absl's root logger so the libraries'
INFO chatter (orbax logs every file it writes) can stay at WARNING while ours stays visible.
Metrics are written by process 0 only, since they are already global means over all devices
(TensorBoard through tensorboardX: no TensorFlow).
"""

import collections
import json
import logging
import math
import queue
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import jax

from dclf.fileio import atomic_write_text, to_json

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
  """One WARNING line of dclf's own: something went wrong and was worked around (shown even
  where `setup_logging` did not run: Python's last-resort handler prints warnings)."""
  logger.warning("warning: " + msg, *args)


class ProgressBar:
  """A tqdm bar on process 0 when stderr is a terminal. Otherwise nothing, or, with
  `log_every_s`, a log line `desc: unit n/total` at most that often (an evaluation has no other
  sign of life)."""

  def __init__(
    self, total: int, initial: int = 0, *, desc: str | None = None, unit: str = "step", log_every_s: float | None = None
  ):
    self._bar = None
    self._total, self._n, self._desc, self._unit = total, initial, desc, unit
    self._log_every_s, self._last_log = log_every_s, time.perf_counter()
    if sys.stderr.isatty() and jax.process_index() == 0:
      from tqdm import tqdm  # pylint: disable=g-import-not-at-top

      self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, leave=desc is None)

  def update(self, n: int = 1):
    self._n += n
    if self._bar is not None:
      self._bar.update(n)
    elif self._log_every_s is not None and time.perf_counter() - self._last_log >= self._log_every_s:
      self._last_log = time.perf_counter()
      log("%s: %s %d/%d", self._desc, self._unit, self._n, self._total)

  def close(self):
    if self._bar is not None:
      self._bar.close()


EVAL_LOG_EVERY_S = 10.0


def tracked(items: Iterable, total: int, desc: str) -> Iterator:
  """`items` (a pass of `total` batches), showing how far the pass is: a bar on a terminal, else a
  line when it starts and one every EVAL_LOG_EVERY_S seconds."""
  log("%s: %d batches ...", desc, total)
  bar = ProgressBar(total, desc=desc, unit="batch", log_every_s=EVAL_LOG_EVERY_S)
  try:
    for item in items:
      yield item
      bar.update()
  finally:
    bar.close()


class FirstCall:
  """A compiled step whose first call, where `jax.jit` / `jax.pmap` compile it, is announced and
  timed in the log ("compiling the train step ... done in 38.2 s"): on a CPU compilation is the
  longest silence of a run. Later calls go straight through."""

  def __init__(self, fn: Callable, what: str):
    self._fn, self._what, self._called = fn, what, False

  def __call__(self, *args):
    if self._called:
      return self._fn(*args)
    self._called = True
    log("compiling the %s ...", self._what)
    start = time.perf_counter()
    outputs = jax.block_until_ready(self._fn(*args))
    log("compiling the %s ... done in %.1f s", self._what, time.perf_counter() - start)
    return outputs


class WindowMeans:
  """Means of per-step metrics (dicts of device scalars) over the last `size` steps (a log
  interval; fewer just after a start or resume): the steps' arrays are kept as they come and
  fetched only when the window is read."""

  def __init__(self, size: int):
    self._steps = collections.deque(maxlen=size)

  def add(self, metrics) -> None:
    self._steps.append(metrics)

  def read(self, fetch: Callable) -> tuple[dict, int]:
    """(the means, the number of steps they cover); `fetch` brings one step's metrics to the host
    (e.g. `par.get_replicated`)."""
    fetched = [fetch(metrics) for metrics in self._steps]
    if not fetched:
      return {}, 0
    return {key: sum(float(m[key]) for m in fetched) / len(fetched) for key in fetched[0]}, len(fetched)


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
      f.write(to_json(row) + "\n")
    for key, value in row.items():
      if key != "step" and math.isfinite(value):
        self._tb.add_scalar(key, value, int(step))

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()


class StepProfile:
  """A `jax.profiler` trace of `num_steps` steps of a loop into `directory` (nothing when 0).

  The steps traced are the `warmup`+1-th of this process and the following ones: the first step
  compiles, and during the second the loader's prefetching fills. Each traced step is a
  `StepTraceAnnotation` ("train", step_num) from the end of the previous step's dispatch to the end
  of its own: one loop iteration's host work (waiting for input, dispatching, logging), with the
  device work it launched, waited for before the trace stops. TensorBoard's profile tab
  (`pip install tensorboard tensorboard-plugin-profile`; `tensorboard --logdir DIR`) reads the
  `plugins/profile/<time>/*.xplane.pb`; ui.perfetto.dev opens `perfetto_trace.json.gz`. With several
  processes each writes its own `process<i>` folder.
  """

  def __init__(self, directory, num_steps: int, first_step: int, warmup: int = 2):
    if jax.process_count() > 1:
      directory = Path(directory) / f"process{jax.process_index()}"
    self._directory = Path(directory)
    self._start = first_step + warmup  # the first step traced
    self._stop = self._start + num_steps  # the first step not traced
    self._annotation = None
    self._tracing = False
    self._last = None

  def step_done(self, step: int, outputs) -> None:
    """Call after dispatching step `step`; `outputs` are what it returned (waited for at the edges)."""
    if not self._start - 1 <= step < self._stop or self._stop == self._start:
      return
    self._last = step
    if self._annotation is not None:
      self._annotation.__exit__(None, None, None)
      self._annotation = None
    if step == self._start - 1:
      jax.block_until_ready(outputs)  # the steps before stay out of the trace
      jax.profiler.start_trace(str(self._directory), create_perfetto_trace=True)
      self._tracing = True
    if step == self._stop - 1:
      jax.block_until_ready(outputs)
      self.close()
    else:
      self._annotation = jax.profiler.StepTraceAnnotation("train", step_num=step + 1)
      self._annotation.__enter__()

  def close(self) -> None:
    """Ends the trace (a loop that stopped early ends it here)."""
    if self._annotation is not None:
      self._annotation.__exit__(None, None, None)
      self._annotation = None
    if self._tracing:
      jax.profiler.stop_trace()
      self._tracing = False
      log(
        "profile of steps %d-%d in %s: tensorboard --logdir %s (profile tab), or perfetto_trace.json.gz in ui.perfetto.dev",
        self._start,
        self._last,
        self._directory,
        self._directory,
      )
