"""Runs a set of benchmark configurations: JAX (every parallelism) and the PyTorch reference, for
every precision and mode of one model config."""

from dclf import state
from dclf.bench import flops, jax_runner
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
  """Records for every (precision, mode), each with every JAX parallelism then PyTorch.

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
  common = {"real_data": real_data, "num_steps": num_steps, "warmup": warmup, "model_flops": model_flops}
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
          results.append(jax_runner.run(_variant(config, precision, parallelism), initial, mode=mode, **common))
      if "torch" in frameworks:
        log("torch %s %s %s", config.model, mode, precision)
        results.append(
          torch_reference.run(
            _variant(config, precision), mode=mode, num_classes=num_classes, **common, **(torch_options or {})
          )
        )
  return results
