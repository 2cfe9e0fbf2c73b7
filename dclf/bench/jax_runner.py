"""The JAX runner (`dclf.bench.runner`'s contract): times the trainer's own steps, the train step
(state donated) and the predict step that `dclf.steps.compile_steps` builds for the config, the
very functions `dclf.train` calls, data-parallel under `pmap` or `jit` + `shard_map`
(`dclf.parallel`) over the first `request.devices` devices of the platform.

Compilation is timed on its own (`lower(...).compile()`), and the compiled executable is what the
loop calls, so nothing recompiles inside it (and JAX's own count of compilations over the timed
steps, from `jax.monitoring`'s events, says so in every record). Whether that compile was a load
from JAX's persistent cache (JAX_COMPILATION_CACHE_DIR) is recorded too. Every output of one XLA
execution becomes ready together, so waiting for the metrics (or probabilities) waits for the
whole step. With a `profile_dir`, PROFILE_STEPS more steps run after the timed ones under
`jax.profiler` (the profiler's overhead stays out of the numbers).
"""

import time
from pathlib import Path

import jax

from dclf import parallel, runtime, state, steps
from dclf.bench import data, flops
from dclf.bench.jax_stats import COMPILATIONS, peak_memory_bytes
from dclf.bench.runner import Measurement, Request, check_devices
from dclf.bench.timing import KeepLast, time_steps
from dclf.progress import StepProfile

NAME = "jax"
PROFILE_STEPS = 3
PARALLELISMS = tuple(parallel.PARALLELISMS)

# mode -> (compiled-on-call function, arguments after (state, batch), whether it returns a new state).
MODES = {
  "train": lambda compiled: (compiled.train, (compiled.rng,), True),
  "eval": lambda compiled: (compiled.predict, (), False),
}


def unsupported(platform: str, options: dict, devices: int) -> str | None:
  """JAX runs on every platform and device count; the row's options name a parallelism."""
  del platform, devices
  if options.get("parallelism") not in PARALLELISMS:
    return f"no JAX parallelism {options.get('parallelism')!r}; known: {', '.join(PARALLELISMS)}"
  return None


def _devices(request: Request) -> list:
  """The first `request.devices` devices of the platform asked for, checked."""
  try:
    found = jax.devices(request.platform)
  except RuntimeError:  # JAX has no such backend here: it runs on its default one
    found = jax.devices()
  check_devices(request, found[0].platform, found[0].device_kind, len(found))
  return found[: request.devices]


def _program_memory_bytes(compiled):
  """XLA's buffer assignment for one device: arguments + outputs + temporaries - donated aliases."""
  try:
    m = compiled.memory_analysis()
  except NotImplementedError:
    return None
  if m is None:
    return None
  return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes)


def _settings(config, par) -> dict:
  return {
    "parallelism": {"pmap": "jax.pmap", "jit": "jax.jit + shard_map"}[par.name],
    "precision_policy": "bfloat16 compute, float32 parameters" if config.half_precision else "float32",
    "matmul_precision": str(jax.config.jax_default_matmul_precision or "default"),
  }


def run(request: Request) -> Measurement:
  """Times `request.mode` of `request.config.model` with the row's parallelism, from a fresh
  initial state (random weights: values change no step's speed); traces a few more steps into
  `profile_dir`/MODEL-MODE-PARALLELISM-PRECISION when asked."""
  devices = _devices(request)
  config = request.config.copy_and_resolve_references()
  config.parallelism = request.options["parallelism"]
  par = parallel.create(config.parallelism, devices)
  fn, extra_args, returns_state = MODES[request.mode](steps.compile_steps(config, par))
  device_state = par.put_state(state.initial_state(config, request.num_classes))
  shard = (jax.process_index(), jax.process_count())
  batches = data.device_batches(
    config, par.put_batch, real_data=request.real_data, num_classes=request.num_classes, shard=shard
  )
  try:
    loaded = COMPILATIONS.loaded()
    start = time.perf_counter()
    compiled = fn.lower(device_state, next(batches), *extra_args).compile()
    compile_s = time.perf_counter() - start
    cache_hit = COMPILATIONS.loaded() > loaded

    def run_step():
      nonlocal device_state
      outputs = compiled(device_state, next(batches), *extra_args)
      if returns_state:
        device_state, outputs = outputs
      return outputs

    step = KeepLast(run_step)
    timings = time_steps(
      step, jax.block_until_ready, steps=request.num_steps, warmup=request.warmup, compilations=COMPILATIONS.compiled
    )
    loss = float(par.get_replicated(step.last)["loss"]) if request.mode == "train" else None
    if request.profile_dir:
      precision = "bf16" if config.half_precision else "fp32"
      folder = Path(request.profile_dir) / f"{config.model}-{request.mode}-{par.name}-{precision}"
      profile = StepProfile(folder, PROFILE_STEPS, 1, 0)
      profile.step_done(0, None)  # starts the trace: the timed steps are done
      for i in range(1, PROFILE_STEPS + 1):
        profile.step_done(i, step())
  finally:
    batches.close()
  device_flops = flops.xla_flops(compiled)
  return Measurement(
    timings=timings,
    platform=devices[0].platform,
    device_kind=devices[0].device_kind,
    devices=len(devices),
    versions={**runtime.versions(), "platform": " ".join(devices[0].client.platform_version.split())},
    compile_s=compile_s,
    compile_cache_hit=cache_hit,
    settings=_settings(config, par),
    loss=loss,
    flops_per_step=device_flops * len(devices) if device_flops else None,
    flops_source="xla",
    peak_memory_bytes=peak_memory_bytes(devices),
    program_memory_bytes=_program_memory_bytes(compiled),
  )
