"""Times the trainer's own steps: the train step (state donated) and the predict step that
`dclf.steps.compile_steps` builds for the config, the very function `dclf.train` calls.

Compilation is timed on its own (`lower(...).compile()`), and the compiled executable is what the
loop calls, so nothing recompiles inside it. Every output of one XLA execution becomes ready
together, so waiting for the metrics (or probabilities) waits for the whole step. With a
`profile_dir`, PROFILE_STEPS more steps run after the timed ones under `jax.profiler` (the
profiler's overhead stays out of the numbers).
"""

import itertools
import time
from pathlib import Path

import jax

from dclf import input_pipeline, objectives, parallel, runtime, state, steps
from dclf.bench import data, flops, records
from dclf.bench.timing import time_steps
from dclf.prefetch import DeviceBatches
from dclf.progress import StepProfile

PROFILE_STEPS = 3

# mode -> (compiled-on-call function, arguments after (state, batch), whether it returns a new state).
MODES = {
  "train": lambda compiled: (compiled.train, (compiled.rng,), True),
  "eval": lambda compiled: (compiled.predict, (), False),
}


def _device_batches(par, config, num_classes: int, real_data: bool):
  """The same device batch forever (synthetic), or the trainer's loader and prefetching (`close` it)."""
  if real_data:
    return DeviceBatches(data.real_loader(config), par.put_batch, input_pipeline.DataState())
  label_key = objectives.of_config(config).label_key
  return itertools.repeat(par.put_batch(data.synthetic_batch(config, num_classes, label_key)))


def _peak_memory_bytes():
  """The largest peak over local devices since the process started; None where not reported (CPU)."""
  stats = [d.memory_stats() or {} for d in jax.local_devices()]
  peaks = [s["peak_bytes_in_use"] for s in stats if "peak_bytes_in_use" in s]
  return max(peaks) if peaks else None


def _program_memory_bytes(compiled):
  """XLA's buffer assignment for one device: arguments + outputs + temporaries - donated aliases."""
  try:
    m = compiled.memory_analysis()
  except NotImplementedError:
    return None
  if m is None:
    return None
  return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes)


def run(
  config,
  initial_state: state.TrainState,
  *,
  mode: str,
  real_data: bool,
  num_steps: int,
  warmup: int,
  model_flops: flops.ModelFlops,
  profile_dir=None,
) -> dict:
  """Benchmarks `mode` of `config.model` with `config.parallelism` and `config.half_precision`,
  starting from `initial_state` (`dclf.state.initial_state(config)`, on the host; not modified);
  traces a few more steps into `profile_dir`/MODEL-MODE-PARALLELISM-PRECISION when given."""
  par = parallel.create(config.parallelism)
  fn, extra_args, returns_state = MODES[mode](steps.compile_steps(config, par))
  device_state = par.put_state(initial_state)
  batches = _device_batches(par, config, len(state.output_names(config)), real_data)

  start = time.perf_counter()
  compiled = fn.lower(device_state, next(batches), *extra_args).compile()
  compile_s = time.perf_counter() - start

  def step():
    nonlocal device_state
    outputs = compiled(device_state, next(batches), *extra_args)
    if returns_state:
      device_state, outputs = outputs
    return outputs

  timings = time_steps(step, jax.block_until_ready, steps=num_steps, warmup=warmup)
  precision = "bf16" if config.half_precision else "fp32"
  if profile_dir:
    profile = StepProfile(Path(profile_dir) / f"{config.model}-{mode}-{par.name}-{precision}", PROFILE_STEPS, 1, 0)
    profile.step_done(0, None)  # starts the trace: the timed steps are done
    for i in range(1, PROFILE_STEPS + 1):
      profile.step_done(i, step())
  if real_data:
    batches.close()
  per_image = model_flops.train if mode == "train" else model_flops.forward
  device_flops = flops.xla_flops(compiled)
  return records.record(
    framework="jax",
    versions=runtime.versions(),
    device_kind=jax.devices()[0].device_kind,
    devices=jax.device_count(),
    config=config,
    mode=mode,
    parallelism=par.name,
    precision=precision,
    data=data.describe(config, real_data),
    timings=timings,
    compile_s=compile_s,
    flops_per_step=device_flops * jax.device_count() if device_flops else None,
    flops_source="xla",
    model_flops_per_step=per_image * config.batch_size,
    peak_memory_bytes=_peak_memory_bytes(),
    program_memory_bytes=_program_memory_bytes(compiled),
  )
