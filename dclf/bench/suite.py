"""Runs a set of benchmark configurations: JAX (every parallelism), the PyTorch reference and the
Keras reference, for every precision and mode of one model config; with real data, each beside the
same configuration on synthetic data, and the loader's own cost per host core."""

import importlib
import os
import sys

from dclf import parallel, state
from dclf.bench import data, flops, jax_runner
from dclf.errors import UsageError
from dclf.progress import log

MODES = tuple(jax_runner.MODES)
# --keras-backend -> (Keras' backend, jit_compile). Explicit: Keras' "auto" is False for TensorFlow
# on a machine without GPU and True with one.
KERAS_BACKENDS = {
  "tensorflow": ("tensorflow", False),
  "tensorflow-xla": ("tensorflow", True),
  "jax": ("jax", True),
  "torch": ("torch", False),
}


def load_torch_reference():
  """`dclf.bench.torch_reference`, imported on demand; None without PyTorch (an optional extra)."""
  try:
    import torch  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    return None
  from dclf.bench import torch_reference  # pylint: disable=g-import-not-at-top  (optional: imports torch)

  return torch_reference


def load_keras_reference(keras_backend: str):
  """`dclf.bench.keras_reference` with Keras on the backend `keras_backend` runs on. Keras fixes its
  backend when first imported, so a process runs one backend: UsageError when Keras already runs
  on another here, or when Keras or the backend's package is not installed (an optional extra)."""
  backend, _ = KERAS_BACKENDS[keras_backend]
  loaded = sys.modules.get("keras")
  if loaded is not None and loaded.backend.backend() != backend:
    raise UsageError(
      f"Keras already runs on {loaded.backend.backend()} in this process; --keras-backend {keras_backend} "
      "needs a process of its own"
    )
  os.environ["KERAS_BACKEND"] = backend
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up banners
  try:
    module = importlib.import_module(backend)
    import keras  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import  (optional; its backend set above)
  except ImportError as e:
    raise UsageError(f"Keras on {backend} is not installed ({e}; pip install -e '.[keras]')") from None
  if backend == "tensorflow":
    for gpu in module.config.list_physical_devices("GPU"):
      module.config.experimental.set_memory_growth(gpu, True)  # leave room for JAX's FLOP counting
  if backend == "torch":  # like-for-like with XLA's defaults on NVIDIA GPUs, as the PyTorch reference
    module.backends.cuda.matmul.allow_tf32 = module.backends.cudnn.allow_tf32 = True
    module.backends.cudnn.benchmark = True
  from dclf.bench import keras_reference  # pylint: disable=g-import-not-at-top  (optional: imports keras)

  return keras_reference


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
  return data.loader_cost(config, parallel.create("pmap").put_batch).images_per_sec_per_core


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
  keras_reference=None,
  keras_backend: str = "",
  profile_dir=None,
) -> list[dict]:
  """Records for every (precision, mode), each with every JAX parallelism, then PyTorch, then Keras;
  with `real_data`, every configuration runs on synthetic data, then on the real data.

  `config.half_precision` and `config.parallelism` are overridden by `precisions` and
  `parallelisms`; `torch_reference` is what `load_torch_reference()` returns (PyTorch runs need it),
  `keras_reference` what `load_keras_reference(keras_backend)` returns (Keras runs need both);
  `profile_dir` receives a trace of each JAX configuration.
  """
  state.validate(config)
  for framework, name, reference in (("torch", "PyTorch", torch_reference), ("keras", "Keras", keras_reference)):
    if framework in frameworks and config.model not in reference.MODELS:
      raise UsageError(f"the {name} reference has no model {config.model!r}; it has: {', '.join(reference.MODELS)}")
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
          run = lambda real_data: jax_runner.run(
            variant, initial, mode=mode, real_data=real_data, profile_dir=profile_dir, **common
          )
          results += _side_by_side(run, real_data, loader_rate)
      if "torch" in frameworks:
        log("torch %s %s %s", config.model, mode, precision)
        options = {"mode": mode, "num_classes": num_classes, **common, **(torch_options or {})}
        run = lambda real_data: torch_reference.run(_variant(config, precision), real_data=real_data, **options)
        results += _side_by_side(run, real_data, loader_rate)
      if "keras" in frameworks:
        log("keras/%s %s %s %s", keras_backend, config.model, mode, precision)
        options = {
          "mode": mode,
          "num_classes": num_classes,
          "keras_backend": keras_backend,
          "jit_compile": KERAS_BACKENDS[keras_backend][1],
          **common,
        }
        run = lambda real_data: keras_reference.run(_variant(config, precision), real_data=real_data, **options)
        results += _side_by_side(run, real_data, loader_rate)
  return results
