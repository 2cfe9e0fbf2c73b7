"""Keras on PyTorch for the benchmark's Keras rows (`dclf.bench.keras_runner`): one device, the one
Keras' torch backend picks (cuda if there is one, else the CPU: released Keras never picks a TPU),
and Keras' eager train step (`jit_compile=False`, Keras' default for this backend).

Several devices are not offered (`keras_runner.unsupported`): this backend has no data-parallel
train function of its own (`keras.distribution` is implemented for JAX, and for TensorFlow as a
do-not-use prototype), and keras-io's multi-GPU guide for it (guides/distributed_training_with_torch.py)
wraps the model in DistributedDataParallel under a hand-written PyTorch loop with PyTorch's
optimizer and loss: that is the PyTorch reference's step, not Keras'.

Imported by `keras_runner.load` once `KERAS_BACKEND` is set; `setup` runs before Keras is imported.
"""

import contextlib
import os

import numpy as np
import torch

PACKAGE = "torch"


def setup(platform: str, devices: int) -> None:
  """Before Keras is imported (it reads KERAS_TORCH_DEVICE then): the CPU when asked for it, else
  Keras' own choice, which the device check judges; on GPUs TF32 and cuDNN's autotuner, like for
  like with XLA's defaults on NVIDIA GPUs, as the PyTorch reference sets them."""
  del devices
  if platform == "cpu":
    os.environ["KERAS_TORCH_DEVICE"] = "cpu"
  if platform == "gpu":
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True


def _keras_device() -> torch.device:
  import keras  # pylint: disable=g-import-not-at-top  (after setup)

  return keras.ops.convert_to_tensor(np.zeros(1, np.float32)).device


def found() -> tuple[str, str, int]:
  """(platform, device kind, count) of the device Keras puts its tensors on."""
  device = _keras_device()
  if device.type == "cuda":
    return "gpu", torch.cuda.get_device_name(device), torch.cuda.device_count()
  return device.type, device.type, 1


class Replicas:
  """One device: Keras' own."""

  def __init__(self, platform: str, devices: int):
    del platform
    assert devices == 1, "keras_runner.unsupported refuses several devices on torch"
    self.name = "none"

  def scope(self):
    return contextlib.nullcontext()

  def place(self, arrays: tuple) -> tuple:
    import keras  # pylint: disable=g-import-not-at-top

    return tuple(keras.ops.convert_to_tensor(a) for a in arrays)


def fit_step(model, fn, batches, mode: str):
  """Calls Keras' `fn` on the list of one step's batches, as `fit` and `predict` do."""
  del model, mode
  return lambda: fn([next(batches)])


def compilations(fn):
  """Eager PyTorch (`jit_compile=False`) compiles nothing: a reader that stays at 0."""
  del fn
  return lambda: 0


def cache_loads():
  return None


def settings(platform: str) -> dict:
  del platform
  return {"matmul_precision": torch.get_float32_matmul_precision(), "cudnn_tf32": torch.backends.cudnn.allow_tf32}


def peak_memory(devices: int):
  """A reader of the GPU's peak memory since now; None on the CPU."""
  del devices
  if _keras_device().type != "cuda":
    return lambda: None
  torch.cuda.reset_peak_memory_stats()
  return torch.cuda.max_memory_allocated


def versions() -> dict:
  import keras  # pylint: disable=g-import-not-at-top

  return {"keras": keras.__version__, "torch": torch.__version__}
