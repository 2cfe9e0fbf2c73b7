"""The Keras rows of the framework-speed study (`dclf.bench.runner`'s interface): the original
code's models (`dclf.bench.keras_models`) trained or run by Keras' own compiled step, data-parallel
over the asked devices with the distribution each backend has: `DataParallel` on JAX
(`keras_on_jax`), `tf.distribute` strategies on TensorFlow (`keras_on_tensorflow`), one device on
PyTorch (`keras_on_torch`). `options["keras_backend"]` picks the backend (BACKENDS).

The step is Keras' own: `model.train_function` / `predict_function` as `fit` / `predict` build them
(`make_train_function`: a tf.function, jax.jit with the state donated, or eager PyTorch), with an
explicit `jit_compile` (Keras' "auto" means False for TensorFlow on a machine without GPU and
under any tf.distribute strategy), called once per batch as fit's inner loop calls it: no
callbacks, no host sync per step. The batches come from `dclf.bench.data.device_batches`, as every
runner's: the backend's `place` is the `put`, splitting the global batch over the replicas as `fit`
splits it (on TensorFlow one `PerReplica` value, each replica's slice on its own device); synthetic
data placed once, real data from the trainer's loader with its prefetch. Recompilations after the
warm-up, and a first compile loaded from a persistent cache, are counted where the backend tells
(`timing.time_steps`). A train step's loss is Keras' own report: its loss tracker's mean over the
row's steps so far (a check that the step learns, equal on 1 and N devices). Keras rows write no
trace (`Request.profile_dir`).

Keras fixes its backend when first imported: one backend per process. This module imports no
framework: `run` chooses the backend (`load`) and sets it up before Keras starts (TensorFlow's
logical CPU devices, strategy and GPU memory growth; TF32 and cuDNN's autotuner for PyTorch on GPUs;
TensorFlow's start-up banners off), so a registry can list this runner anywhere, and the process
that runs a row must run no other Keras backend (nor PyTorch beside TensorFlow: importing TensorFlow
before PyTorch's triton crashes the process). The registry keeps JAX on the CPU in the processes of
the TensorFlow and PyTorch rows (`dclf.bench.runners`), where dclf's FLOP count and config checks
still use it.
"""

import contextlib
import dataclasses
import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from dclf.bench import data
from dclf.bench.runner import Measurement, Request, Unsupported, check_devices
from dclf.bench.timing import KeepLast, time_steps
from dclf.errors import RunError, UsageError

NAME = "keras"
# options["keras_backend"] -> (Keras' backend, jit_compile).
BACKENDS = {
  "tensorflow": ("tensorflow", False),
  "tensorflow-xla": ("tensorflow", True),
  "jax": ("jax", True),
  "torch": ("torch", False),
}
NO_TPU = (
  "released Keras puts its torch backend on cuda, mps, xpu or the CPU, never on a TPU "
  "(keras/src/backend/torch/core.py); not run on the CPU instead"
)
NO_TORCH_DATA_PARALLEL = (
  "Keras' torch backend has no data-parallel train function (keras.distribution is JAX's; keras-io's "
  "multi-GPU guide for torch trains the model with a PyTorch loop, optimizer and loss under "
  "DistributedDataParallel: the PyTorch reference's step, not Keras')"
)
NO_XLA_STRATEGY = (
  "Keras turns XLA off under tf.distribute (jit_compile='auto' is False with a strategy), and "
  "jit_compile=True over MirroredStrategy fails: XLA compiles the replicated step as one cluster on "
  "one device (InvalidArgumentError: resource located in device CPU:1 accessed from CPU:0)"
)
XLA_ON_TPU = "TPUStrategy compiles every TensorFlow step with XLA: on a TPU the keras-tensorflow row is that row"


def _backend(options: dict) -> str:
  name = options.get("keras_backend")
  if name not in BACKENDS:
    raise UsageError(f"the Keras runner needs options['keras_backend'], one of {', '.join(BACKENDS)}; got {name!r}")
  return name


# keras_backend -> ((whether a row of (platform, devices) is out of reach, why), ...).
UNSUPPORTED = {
  "torch": (
    (lambda platform, devices: platform == "tpu", NO_TPU),
    (lambda _, devices: devices > 1, NO_TORCH_DATA_PARALLEL),
  ),
  "tensorflow-xla": (
    (lambda platform, _: platform == "tpu", XLA_ON_TPU),
    (lambda _, devices: devices > 1, NO_XLA_STRATEGY),
  ),
}
# Keras' backend -> what installs it beside dclf.
INSTALL = {
  "tensorflow": "pip install -e '.[keras]'",
  "jax": "pip install keras",
  "torch": "pip install -e '.[torch]' keras",
}


def unsupported(platform: str, options: dict, devices: int) -> str | None:
  """Why Keras on `options["keras_backend"]` cannot time `devices` devices of `platform`, or None."""
  rules = UNSUPPORTED.get(_backend(options), ())
  return next((why for applies, why in rules if applies(platform, devices)), None)


def load(backend: str, platform: str, devices: int):
  """Keras on `backend`, set up for `devices` devices of `platform`: returns the backend's module
  (`dclf.bench.keras_on_<backend>`). UsageError when Keras already runs on another backend in this
  process, or when Keras or the backend's package is not installed (an optional extra)."""
  loaded = sys.modules.get("keras")
  if loaded is not None and loaded.backend.backend() != backend:
    raise UsageError(
      f"Keras already runs on {loaded.backend.backend()} in this process; Keras on {backend} needs a process of its own"
    )
  os.environ["KERAS_BACKEND"] = backend
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up banners
  try:
    module = importlib.import_module(f"dclf.bench.keras_on_{backend}")
    module.setup(platform, devices)
    import keras  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import  (its backend set above)
  except ImportError as e:
    raise UsageError(f"Keras on {backend} is not installed ({e}; {INSTALL[backend]})") from None
  return module


def _arrays(batch: dict, mode: str) -> tuple:
  """A loader's (or the synthetic) batch as the step takes it: (uint8 images, int32 labels), or (images,) to predict."""
  images = np.asarray(batch["image"])
  return (images, np.asarray(batch["label"], np.int32)) if mode == "train" else (images,)


def _sync(outputs) -> None:
  """Waits for a step's outputs (or a list of them) by reading them back: every backend's way."""
  import keras  # pylint: disable=g-import-not-at-top

  for t in keras.tree.flatten(outputs):
    keras.ops.convert_to_numpy(t)


def _loss(outputs) -> float:
  """The loss a train step's outputs (Keras' logs) report."""
  import keras  # pylint: disable=g-import-not-at-top

  return float(keras.ops.convert_to_numpy(outputs["loss"]))


def prepare(request: Request):
  """Checks `request` and loads Keras on its backend for it: (the backend's module, `keras_models`).
  Unsupported for a row out of reach (`unsupported`); UsageError for a model the reference lacks,
  or devices other than asked."""
  name = _backend(request.options)
  reason = unsupported(request.platform, request.options, request.devices)
  if reason:
    raise Unsupported(reason)
  backend = load(BACKENDS[name][0], request.platform, request.devices)
  from dclf.bench import keras_models  # pylint: disable=g-import-not-at-top  (Keras, on the backend just loaded)

  if request.config.model not in keras_models.MODELS:
    models = ", ".join(keras_models.MODELS)
    raise UsageError(f"the Keras reference has no model {request.config.model!r}; it has: {models}")
  check_devices(request, *backend.found())
  return backend, keras_models


@dataclasses.dataclass(frozen=True)
class Loop:
  replicas: Any  # the backend's Replicas: the distribution, its scope and how it places a batch
  model: Any  # the compiled keras.Model
  fn: Any  # Keras' compiled train (or predict) function
  batches: Any  # placed batches (`data.device_batches`)
  step: Callable[[], Any]  # calls `fn` on the next batch as fit (predict) does; returns its outputs unread


@contextlib.contextmanager
def fit_loop(request: Request, backend, keras_models):
  """Keras' step of `request` as `fit` (`predict`) runs it, under the distribution's scope (the
  model is built, compiled and stepped in it); the loader stops when the context ends."""
  config, mode = request.config, request.mode
  replicas = backend.Replicas(request.platform, request.devices)
  with replicas.scope():
    jit_compile = BACKENDS[request.options["keras_backend"]][1]
    model = keras_models.compiled_model(config, jit_compile=jit_compile, num_classes=request.num_classes, mode=mode)
    synthetic = data.synthetic_batch(config, request.num_classes)
    model._symbolic_build(data_batch=_arrays(synthetic, "train"))  # pylint: disable=protected-access  # as fit does first
    if mode == "train":
      model.make_train_function()
      fn = model.train_function
    else:
      model.make_predict_function()
      fn = model.predict_function
    put = lambda batch: replicas.place(_arrays(batch, mode))
    batches = data.device_batches(config, put, real_data=request.real_data, num_classes=request.num_classes)
    try:
      yield Loop(replicas, model, fn, batches, backend.fit_step(model, fn, batches, mode))
    finally:
      batches.close()


def run(request: Request) -> Measurement:
  """Times `request.mode` of `request.config.model` with Keras on `request.options["keras_backend"]`,
  data-parallel over `request.devices` devices of `request.platform`, after checking it got them."""
  backend, keras_models = prepare(request)
  try:
    return _measure(request, backend, keras_models)
  except Exception as e:  # pylint: disable=broad-except
    if request.platform != "tpu" or isinstance(e, UsageError | RunError):
      raise
    # Known to fail on TPU VMs with some releases (keras-team/keras#19448): a failed row, not a number.
    message = str(e).strip().splitlines()[0] if str(e).strip() else ""
    raise RunError(f"Keras on {backend.PACKAGE} failed on the TPU: {type(e).__name__}: {message}") from e


def _measure(request: Request, backend, keras_models) -> Measurement:
  with fit_loop(request, backend, keras_models) as loop:
    step = KeepLast(loop.step)
    peak_memory = backend.peak_memory(request.devices)
    timings = time_steps(
      step,
      _sync,
      steps=request.num_steps,
      warmup=request.warmup,
      compilations=backend.compilations(loop.fn),
      cache_loads=backend.cache_loads(),
    )
  platform, device_kind, _ = backend.found()
  return Measurement(
    timings=timings,
    platform=platform,
    device_kind=device_kind,
    devices=request.devices,
    versions=backend.versions(),
    compile_s=timings.first_call_over_step_s,
    compile_cache_hit=timings.first_call_cache_load,
    settings={
      "keras_backend": request.options["keras_backend"],
      "jit_compile": loop.model.jit_compile,
      "distribution": loop.replicas.name,
      "precision_policy": keras_models.precision_policy(request.config),
      **backend.settings(request.platform),
    },
    loss=_loss(step.last) if request.mode == "train" else None,
    peak_memory_bytes=peak_memory(),
  )
