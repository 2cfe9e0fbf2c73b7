"""What every framework runner of the benchmark implements, and what is written once for all of them.

A runner is a module that times one row of the study (one framework with its options, one model,
mode and precision) data-parallel over the devices of one platform. It provides:

  NAME: str                       the row's framework ("jax", "torch", "torch_xla", "keras"), its
                                  key in `dclf.bench.runners.RUNNERS`
  unsupported(platform, options, devices) -> str | None
                                  why the runner cannot run on `devices` devices of `platform`
                                  with `options` (recorded as an unsupported row, never run
                                  elsewhere nor on fewer devices), or None
  run(request: Request) -> Measurement
                                  times the request: finds its devices, calls `check_devices`
                                  before anything is timed, gets its batches from
                                  `dclf.bench.data.device_batches` with its own `put`, and times
                                  its step with `dclf.bench.timing.time_steps` (with the
                                  framework's `compilations` and `cache_loads` counters where it
                                  has them); may raise `Unsupported` where only running tells

Written once, elsewhere: the registry of rows (`dclf.bench.runners`), the loop over them
(`dclf.bench.suite`), the analytic FLOPs, the record and the tables (`dclf.bench.records`), and
the processes, repeats and interpreters (`dclf.bench.study`). A runner's module is imported only
in the row's own process, after the registry has set the row's environment (KERAS_BACKEND,
JAX_PLATFORMS=cpu where another framework holds the accelerator, ...); a runner of an optional
framework imports it in `run`, so that `unsupported` answers where the framework is not installed
(the torch-xla row on a GPU host, keras-torch on several devices).
"""

import dataclasses
from typing import Any

from dclf.bench.timing import Timings
from dclf.errors import UsageError

PLATFORMS = ("cpu", "gpu", "tpu")


class Unsupported(UsageError):
  """What `run` raises when it finds, only once started, that its framework cannot run the request
  as asked (a missing feature of an installed version, ...): the row is recorded as unsupported
  with this message, like a reason from `unsupported`."""


@dataclasses.dataclass(frozen=True)
class Request:
  """One row to time. `config.batch_size` is the global batch, split evenly over `devices`."""

  config: Any  # ml_collections.ConfigDict, resolved: model, batch_size, half_precision, image_size, preprocess, optimizer, seed
  mode: str  # "train" | "eval"
  platform: str  # one of PLATFORMS, resolved (never "auto")
  devices: int  # devices to run data-parallel over: the first `devices` of `platform`
  num_steps: int
  warmup: int
  real_data: bool = False
  num_classes: int = 3
  # The row's options (dclf.bench.runners.ROWS): parallelism, channels_last, compile, keras_backend, jit_compile.
  options: dict = dataclasses.field(default_factory=dict)
  profile_dir: str | None = None  # where a runner that can trace writes a trace of a few steps after the timed ones

  @property
  def batch_size_per_device(self) -> int:
    return self.config.batch_size // self.devices


@dataclasses.dataclass(frozen=True)
class Measurement:
  """What a runner measured; `dclf.bench.records.record` turns it into a record."""

  timings: Timings  # of the controlling process (rank 0): the timed window is the whole group's
  platform: str  # where it ran (the record refuses one that differs from the request's)
  device_kind: str
  devices: int
  versions: dict  # framework and runtime versions, e.g. {"torch": "2.9.0", "torch_xla": "2.9.0"}
  compile_s: float  # the step's compilation; timings.first_call_over_step_s where it happens inside the first call
  # Whether the compile was a load from a persistent cache; timings.first_call_cache_load where it happens inside
  # the first call.
  compile_cache_hit: bool | None = None
  # What the runner chose that changes the numbers: precision policy, matmul precision (TF32), parallelism, ...
  settings: dict = dataclasses.field(default_factory=dict)
  loss: float | None = None  # train mode: the loss of the last step (global mean), a check that the step learns
  flops_per_step: float | None = None  # the framework's own count, global; None: the analytic count stands in
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
