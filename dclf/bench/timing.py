"""One timing loop for every framework: compile and warm-up excluded, device work waited for,
recompilations inside the timed steps counted.

A step function launches one step (asynchronously where the framework allows) and returns what to
wait on; `sync` blocks until that work is done (`jax.block_until_ready`,
`torch.cuda.synchronize`). Per-step times sync after every step; the back-to-back run syncs once
after all of them, as a training loop does, so it is the throughput training sees (the record's
images/s: images of the window / its wall time). The process's CPU time over that run (all its
threads) is the cost of a step on a CPU shared with other jobs, where wall time also counts the
time others held the cores; on an accelerator it is the host's overhead.

`compilations`, where the framework can count them, returns how many programs it has compiled so
far (JAX's compilation events, Dynamo's graphs, torch_xla's compile counter, traces of a
tf.function): its growth over the timed steps (after the first call and the warm-up) is
`Timings.recompiles`, and a step that recompiles there is not the steady state the numbers claim.
`cache_loads`, where the framework has a persistent compilation cache and counts its hits, returns
how many programs it has loaded from it so far: whether the first call's compile was such a load is
`Timings.first_call_cache_load`, for frameworks that compile inside their first call.
"""

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Timings:
  first_call_s: float  # the first call: compilation, autotuning and allocation included
  step_s: tuple[float, ...]  # each step synced on its own
  back_to_back_s: float  # all steps launched back to back, one sync at the end
  back_to_back_cpu_s: float  # this process's CPU time (all threads) over the back-to-back run
  recompiles: int | None = None  # compilations during the timed steps; None: the framework cannot tell
  first_call_cache_load: bool | None = None  # the first call's compile loaded from a persistent cache; None: unknown

  @property
  def median_s(self) -> float:
    return float(np.median(self.step_s))

  @property
  def p90_s(self) -> float:
    return float(np.percentile(self.step_s, 90))

  @property
  def back_to_back_step_s(self) -> float:
    return self.back_to_back_s / len(self.step_s)

  @property
  def first_call_over_step_s(self) -> float:
    """The first call minus a steady step: the compile time of frameworks that compile inside their
    first call (torch.compile, tf.function, cuDNN autotuning)."""
    return max(self.first_call_s - self.median_s, 0.0)


class KeepLast:
  """A step for `time_steps` that keeps what its last call returned (`last`): the outputs a runner
  reads once timing is done (the loss of the last training step)."""

  def __init__(self, step: Callable[[], Any]):
    self._step, self.last = step, None

  def __call__(self):
    self.last = self._step()
    return self.last


def time_steps(
  step: Callable[[], Any],
  sync: Callable[[Any], None],
  *,
  steps: int,
  warmup: int,
  compilations: Callable[[], int] | None = None,
  cache_loads: Callable[[], int] | None = None,
) -> Timings:
  """Times `step()`: one first call, `warmup` untimed calls, then `steps` synced calls and
  `steps` back-to-back calls, counting `compilations()` over the last two and `cache_loads()` over
  the first call."""
  loaded_before = cache_loads() if cache_loads else None
  start = time.perf_counter()
  sync(step())
  first_call_s = time.perf_counter() - start
  first_call_cache_load = cache_loads() > loaded_before if cache_loads else None
  for _ in range(warmup):
    sync(step())
  compiled_before = compilations() if compilations else None
  step_s = []
  for _ in range(steps):
    start = time.perf_counter()
    sync(step())
    step_s.append(time.perf_counter() - start)
  start, cpu_start = time.perf_counter(), time.process_time()
  outputs = [step() for _ in range(steps)]
  sync(outputs)
  wall_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
  recompiles = compilations() - compiled_before if compilations else None
  return Timings(first_call_s, tuple(step_s), wall_s, cpu_s, recompiles, first_call_cache_load)
