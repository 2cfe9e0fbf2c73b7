"""The torch_xla row's work (`dclf.bench.torch_xla_runner`), as torch_xla's maintainers recommend
data parallelism (pytorch/xla examples/data_parallel/train_resnet_spmd_data_parallel.py): SPMD in
one process, a 1-D mesh over every device, the global batch sharded on its batch axis, the whole
step (preprocessing, forward, backward, optimizer) one graph under `torch_xla.compile(full_graph=
True)`, bf16 through `torch.autocast("xla")`.

The Python loop only traces and launches; `dclf.bench.timing` waits for the devices
(`xm.wait_device_ops`) after each step of the per-step run and once after the back-to-back window.
Compilations are torch_xla's own metrics (CompileTime): their total over the row is its compile
time, and any after the warm-up are recompilations. The first call's compile is a cache load when
it loaded from the persistent cache (XLA_PERSISTENT_CACHE_PATH, which `xr.initialize_cache` sets;
its PersistentCacheHit counter). The global batch reaches the mesh through
`dclf.bench.data.device_batches`, sharded on its batch axis as it is copied (with --real-data in
the trainer's prefetch thread, as torch_xla's own ParallelLoader copies in a thread). The registry
keeps JAX on the host CPU in this row's process (`dclf.bench.runners`): it must not take the TPU.
"""

import importlib.metadata
import os
import subprocess
import sys

import numpy as np
import torch
import torch_xla
import torch_xla.backends
import torch_xla.core.xla_model as xm
import torch_xla.debug.metrics as met
import torch_xla.distributed.spmd as xs
import torch_xla.runtime as xr

from dclf.bench import data, torch_models
from dclf.bench.runner import Measurement, Request, check_devices
from dclf.bench.timing import KeepLast, time_steps
from dclf.errors import RunError, UsageError

PLATFORMS = {"CPU": "cpu", "TPU": "tpu", "CUDA": "gpu"}  # PJRT device type -> platform
IMAGE_SHARDING, LABEL_SHARDING = ("data", None, None, None), ("data",)  # NHWC images, labels
KIND_TIMEOUT_S = 300


def found_devices() -> tuple[str, str, int]:
  """(platform, device kind, device count) of torch_xla's PJRT runtime."""
  device_type = xr.device_type() or "none"
  return PLATFORMS.get(device_type, device_type.lower()), _device_kind(), xr.global_runtime_device_count()


def _device_kind() -> str:
  """PJRT's name of the devices ("TPU v4", "cpu": JAX's too), asked of a process of its own: asking
  here would tie this process's runtime to the real devices, and SPMD mode then crashes it."""
  code = "import torch_xla.core.xla_model as xm; print(xm.xla_device_kind())"
  env = {name: value for name, value in os.environ.items() if name != "XLA_USE_SPMD"}  # SPMD has no kind
  found = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=KIND_TIMEOUT_S)
  lines = found.stdout.strip().splitlines()
  if found.returncode or not lines:
    last = (found.stderr.strip().splitlines() or ["no output"])[-1]
    raise RunError(f"torch_xla could not name its devices (exit code {found.returncode}): {last}")
  return lines[-1]


def _compilations() -> int:
  return (met.metric_data("CompileTime") or (0,))[0]


def _cache_hits() -> int:
  return met.counter_value("PersistentCacheHit") or 0


def _counts() -> dict:
  """torch_xla's compilations so far in this process, and their seconds."""
  compile_time = met.metric_data("CompileTime") or (0, 0)
  return {"compilations": compile_time[0], "compile_s": compile_time[1] / 1e9}


def versions() -> dict:
  found = {}
  for package in ("torch", "torch_xla", "libtpu"):
    try:
      found[package] = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
      pass
  return found


class Row:
  """The row on every device of torch_xla's runtime: the model, its compiled step, and the global
  batch sharded over the mesh. Stops (UsageError) when the runtime is not the platform and device
  count asked for."""

  def __init__(self, request: Request):
    self.platform, self.device_kind, available = found_devices()
    if not xr.is_spmd():
      xr.use_spmd()  # before any tensor is on a device
    self._counts_at_start = _counts()
    check_devices(request, self.platform, self.device_kind, available)
    if available != request.devices:
      raise UsageError(
        f"torch_xla's SPMD mesh spans every device of its process ({available} here) and {request.devices} were "
        "asked for: set the devices torch_xla sees (CPU_NUM_DEVICES on a CPU) or ask for all"
      )
    config = request.config
    self.mesh = xs.Mesh(np.arange(available), (available,), ("data",))
    device = torch_xla.device()
    torch.manual_seed(config.seed)
    model = torch_models.create_model(config.model, request.num_classes, config.image_size).to(device)
    autocast = lambda: torch.autocast("xla", dtype=torch.bfloat16, enabled=config.half_precision)
    step = torch_models.MODES[request.mode](model, model, config, torch_models.preprocessor(config, device), autocast)
    self._compiled = torch_xla.compile(step, full_graph=True, name=f"{config.model}_{request.mode}")
    shardings = (xs.ShardingSpec(self.mesh, IMAGE_SHARDING), xs.ShardingSpec(self.mesh, LABEL_SHARDING))
    to_mesh = lambda batch: tuple(
      xm.send_cpu_data_to_device(tensor, device, sharding)[0]
      for tensor, sharding in zip(torch_models.host_batch(batch), shardings)
    )
    self.batches = data.device_batches(config, to_mesh, real_data=request.real_data, num_classes=request.num_classes)

  def step(self):
    """Traces and launches one step; its output is not waited for."""
    return self._compiled(*next(self.batches))

  def counts(self) -> dict:
    """`_counts()` of this row: since it was set up."""
    now = _counts()
    return {name: now[name] - self._counts_at_start[name] for name in now}

  def close(self) -> None:
    self.batches.close()


def run(request: Request) -> Measurement:
  row = Row(request)
  step = KeepLast(row.step)
  try:
    timings = time_steps(
      step,
      lambda _: xm.wait_device_ops(),
      steps=request.num_steps,
      warmup=request.warmup,
      compilations=_compilations,
      cache_loads=_cache_hits,
    )
  finally:
    row.close()
  counts, cache = row.counts(), os.environ.get("XLA_PERSISTENT_CACHE_PATH")
  return Measurement(
    timings=timings,
    platform=row.platform,
    device_kind=row.device_kind,
    devices=request.devices,
    versions=versions(),
    compile_s=counts["compile_s"],  # the step's graph, and the small ones of setting it up
    compile_cache_hit=timings.first_call_cache_load,
    settings={
      "precision_policy": torch_models.precision_policy(request.config),
      "distribution": f"SPMD, a 1-D mesh of {request.devices} devices, the batch sharded over it",
      "mat_mul_precision": torch_xla.backends.get_mat_mul_precision(),
      "xla_compilations": counts["compilations"],
      "persistent_cache": cache,
    },
    loss=float(step.last.cpu()) if request.mode == "train" else None,
  )
