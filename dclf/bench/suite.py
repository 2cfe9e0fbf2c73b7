"""Runs a set of benchmark configurations: JAX (every parallelism) and the PyTorch reference, for
every precision and mode of one model config; with real data, each beside the same configuration
on synthetic data, and the loader's own cost per host core."""

from dclf import input_pipeline, parallel, state
from dclf.bench import data, flops, jax_runner
from dclf.errors import UsageError
from dclf.progress import log

MODES = tuple(jax_runner.MODES)


def load_torch_reference():
  """`dclf.bench.torch_reference`, imported on demand; None without PyTorch (an optional extra)."""
  try:
    import torch  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    return None
  from dclf.bench import torch_reference  # pylint: disable=g-import-not-at-top  (optional: imports torch)

  return torch_reference


def _variant(config, precision: str, parallelism: str = "pmap"):
  """`config` as one run uses it: its precision and parallelism, and the image size a training step
  sees (the crop size when the config trains on random crops)."""
  variant = config.copy_and_resolve_references()
  variant.half_precision = precision == "bf16"
  variant.parallelism = parallelism
  variant.image_size = config.train_crop_size or config.image_size
  return variant


def _loader_rate(config) -> float:
  """The training loader's images per CPU second (host core), put on the devices as a pmap run does."""
  par = parallel.create("pmap")
  put = lambda batch: par.put_batch(input_pipeline.split_for_devices(batch, len(par.devices)))
  return data.loader_cost(config, put).images_per_sec_per_core


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
  frameworks=("jax",),
  modes=MODES,
  parallelisms=("pmap", "jit"),
  precisions=("fp32",),
  num_steps: int = 20,
  warmup: int = 3,
  real_data: bool = False,
  torch_reference=None,
  torch_options=None,
) -> list[dict]:
  """Records for every (precision, mode), each with every JAX parallelism then PyTorch; with
  `real_data`, every configuration runs on synthetic data, then on the real data.

  `config.half_precision` and `config.parallelism` are overridden by `precisions` and
  `parallelisms`; `torch_reference` is what `load_torch_reference()` returns (PyTorch runs need it).
  """
  state.validate(config)
  if "torch" in frameworks and config.model not in torch_reference.MODELS:
    raise UsageError(
      f"the PyTorch reference has no model {config.model!r}; it has: {', '.join(torch_reference.MODELS)}"
    )
  num_classes = len(state.output_names(config))
  sized = _variant(config, "fp32")
  model_flops = flops.model_flops(state.build_model(sized, num_classes), sized.image_size)
  common = {"num_steps": num_steps, "warmup": warmup, "model_flops": model_flops}
  loader_rate = _loader_rate(config) if real_data else None
  results = []
  for precision in precisions:
    # One initial state per precision (the compute dtype is part of it), shared by the JAX runs: it
    # is copied to the devices for each run, and initialising compiles slowly on CPU. Random
    # weights: `config.init_from` changes no step's speed, and needs a download.
    initial = state.initial_state(_variant(config, precision), num_classes) if "jax" in frameworks else None
    for mode in modes:
      if "jax" in frameworks:
        for parallelism in parallelisms:
          log("jax %s %s %s %s", config.model, mode, parallelism, precision)
          variant = _variant(config, precision, parallelism)
          run = lambda real_data: jax_runner.run(variant, initial, mode=mode, real_data=real_data, **common)
          results += _side_by_side(run, real_data, loader_rate)
      if "torch" in frameworks:
        log("torch %s %s %s", config.model, mode, precision)
        options = {"mode": mode, "num_classes": num_classes, **common, **(torch_options or {})}
        run = lambda real_data: torch_reference.run(_variant(config, precision), real_data=real_data, **options)
        results += _side_by_side(run, real_data, loader_rate)
  return results
