"""What every framework runner of the benchmark implements, and what is written once for all of them.

A runner is a module that times one row of the study (one framework with its options, one model,
mode and precision) data-parallel over the devices of one platform. It provides:

  NAME: str                       the row's framework ("jax", "torch", "torch_xla", "keras")
  unsupported(platform, options) -> str | None
                                  why the runner cannot run on `platform` with `options`
                                  (recorded as an unsupported row, never run elsewhere), or None
  run(request: Request) -> Measurement
                                  times the request; calls `check_devices` before timing

`dclf.bench.runners` registers them; the suite and the study loop over that registry.
"""

import dataclasses
from typing import Any

from dclf.bench.timing import Timings
from dclf.errors import UsageError

PLATFORMS = ("cpu", "gpu", "tpu")


@dataclasses.dataclass(frozen=True)
class Request:
  """One row to time. `config.batch_size` is the global batch, split evenly over `devices`."""

  config: Any  # ml_collections.ConfigDict, resolved: model, batch_size, half_precision, preprocess, optimizer, seed
  mode: str  # "train" | "eval"
  platform: str  # one of PLATFORMS, resolved (never "auto")
  devices: int  # devices to run data-parallel over
  num_steps: int
  warmup: int
  real_data: bool = False
  num_classes: int = 3
  options: dict = dataclasses.field(default_factory=dict)  # the runner's own (channels_last, compile, backend, ...)

  @property
  def batch_size_per_device(self) -> int:
    return self.config.batch_size // self.devices


@dataclasses.dataclass(frozen=True)
class Measurement:
  """What a runner measured; `dclf.bench.records` turns it into a record."""

  timings: Timings  # of the controlling process (rank 0): the timed window is the whole group's
  platform: str
  device_kind: str
  devices: int
  versions: dict  # framework and runtime versions
  compile_s: float
  recompiles: int | None = None  # compilations after the warm-up (None: the framework cannot tell)
  compile_cache_hit: bool | None = None  # whether the compile was a load from a persistent cache
  settings: dict = dataclasses.field(default_factory=dict)  # precision policy, matmul precision, ...
  flops_per_step: float | None = None  # global; None: the analytic count is used
  flops_source: str = "analytic"
  peak_memory_bytes: int | None = None
  program_memory_bytes: int | None = None


def check_devices(request: Request, platform: str, device_kind: str, available: int) -> None:
  """Stops a row that did not get what it asked for, before anything is timed: the framework found
  `available` devices of `platform` (`device_kind`); the request wants `request.devices` of
  `request.platform`, and a global batch that splits evenly over them."""
  if platform != request.platform:
    raise UsageError(
      f"{request.platform} asked for, but this framework runs on {platform} ({device_kind}); no row is timed on "
      "another platform than asked"
    )
  if available < request.devices:
    raise UsageError(f"{request.devices} {platform} devices asked for, {available} found ({device_kind})")
  if request.config.batch_size % request.devices:
    raise UsageError(
      f"the global batch {request.config.batch_size} does not split evenly over {request.devices} devices"
    )
