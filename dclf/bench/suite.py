"""Runs rows of the study in this process: the row's runner (`dclf.bench.runners`) for every
precision and mode of one model config, each a `Request` whose `Measurement` becomes a record
(`dclf.bench.records`); with real data, each beside the same configuration on synthetic data, and
the loader's own cost per host core. One loop for every framework: what differs is in the runner
modules and the registry.

Rows of different frameworks belong in different processes (`python -m dclf.bench.study`):
TensorFlow and PyTorch's Triton crash each other in one, and Keras fixes its backend per process.
"""

from dclf import state
from dclf.bench import data, flops, records, runners
from dclf.bench.runner import Request, Unsupported
from dclf.progress import log

MODES = ("train", "eval")


def variant(config, precision: str):
  """`config` as one run uses it: its precision, and the image size a training step sees (the
  crop size when the config trains on random crops)."""
  resolved = config.copy_and_resolve_references()
  resolved.half_precision = precision == "bf16"
  resolved.image_size = config.train_crop_size or config.image_size
  return resolved


def _side_by_side(run, real_data: bool, loader_rate: float | None) -> list[dict]:
  """`run(real_data=False)`, and with real data also `run(real_data=True)`, whose record gains
  `real_vs_synthetic` (its images/s over the synthetic run's) and `loader_images_per_sec_per_core`."""
  synthetic = run(real_data=False)
  if not real_data:
    return [synthetic]
  real = run(real_data=True)
  real.update(
    real_vs_synthetic=real["images_per_sec"] / synthetic["images_per_sec"], loader_images_per_sec_per_core=loader_rate
  )
  return [synthetic, real]


def benchmark(
  config,
  *,
  rows=("jax-pmap", "jax-jit"),
  platform: str,
  devices: int,
  modes=MODES,
  precisions=("fp32",),
  num_steps: int = 20,
  warmup: int = 3,
  real_data: bool = False,
  profile_dir=None,
) -> list[dict]:
  """Records of every row (names of `dclf.bench.runners.ROWS`), each for every (precision, mode),
  on `devices` devices of `platform` with `config.batch_size` as the global batch; with
  `real_data`, every configuration runs on synthetic data, then on the real data. A row its runner
  cannot run on `devices` devices of `platform` gives one unsupported record instead. `profile_dir` receives a trace of
  each configuration whose runner can trace."""
  loaded = {row: runners.load(row) for row in runners.check(rows)}  # their environments before JAX starts
  state.validate(config)
  num_classes = len(state.output_names(config))
  sized = variant(config, "fp32")
  model_flops = flops.model_flops(state.build_model(sized, num_classes), sized.image_size)
  loader_rate = data.loader_cost(config).images_per_sec_per_core if real_data else None
  results = []
  for row, runner in loaded.items():
    options = runners.ROWS[row].options
    unsupported = lambda reason: records.unsupported_record(
      row=row, framework=runner.NAME, model=config.model, platform=platform, devices=devices, reason=reason
    )
    reason = runner.unsupported(platform, options, devices)
    if reason:
      log("%s %s: unsupported on %d %s device(s) (%s)", row, config.model, devices, platform, reason)
      results.append(unsupported(reason))
      continue
    row_results = []
    try:
      for precision in precisions:
        for mode in modes:
          log("%s %s %s %s on %d %s device(s)", row, config.model, mode, precision, devices, platform)
          per_image = model_flops.train if mode == "train" else model_flops.forward

          def run(real_data, mode=mode, precision=precision, per_image=per_image):
            request = Request(
              config=variant(config, precision),
              mode=mode,
              platform=platform,
              devices=devices,
              num_steps=num_steps,
              warmup=warmup,
              real_data=real_data,
              num_classes=num_classes,
              options=dict(options),
              profile_dir=profile_dir,
            )
            with runners.framework_imports(row):
              measurement = runner.run(request)
            return records.record(
              request,
              measurement,
              row=row,
              framework=runner.NAME,
              model_flops_per_step=per_image * config.batch_size,
              data=data.describe(config, real_data),
            )

          row_results += _side_by_side(run, real_data, loader_rate)
    except Unsupported as e:
      log("%s %s: unsupported (%s)", row, config.model, e)
      row_results = [unsupported(str(e))]
    results += row_results
  return results
