"""Keras on JAX for the benchmark's Keras rows (`dclf.bench.keras_runner`): data parallelism with
Keras' distribution API, `keras.distribution.DataParallel` over the asked devices, set before the
model is built (keras.io/api/distribution): variables replicated, the global batch sharded on its
first axis as `fit` shards it (`jax.make_array_from_process_local_data` with the distribution's
data layout), and Keras' jitted step compiled for the mesh.

Imported by `keras_runner.load` once `KERAS_BACKEND` is set; imports no Keras itself before `setup`.
"""

import contextlib

import jax
import jaxlib

from dclf.bench.jax_stats import COMPILATIONS, peak_memory_bytes

PACKAGE = "jax"


def setup(platform: str, devices: int) -> None:
  """Before JAX starts: on the CPU, JAX alone (no accelerator plugin) with `devices` host devices.
  A JAX already started keeps its devices, and the device check judges them."""
  if platform != "cpu":
    return
  with contextlib.suppress(RuntimeError):
    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_num_cpu_devices", devices)


def found() -> tuple[str, str, int]:
  """(platform, device kind, count) of the devices JAX runs on."""
  devices = jax.devices()
  return devices[0].platform, devices[0].device_kind, len(devices)


class Replicas:
  """`DataParallel` over the first `devices` devices of `platform`."""

  def __init__(self, platform: str, devices: int):
    import keras  # pylint: disable=g-import-not-at-top  (after setup: Keras' backend is chosen by then)

    self.distribution = keras.distribution.DataParallel(devices=keras.distribution.list_devices(platform)[:devices])
    self.name = "DataParallel"

  def scope(self):
    return self.distribution.scope()

  def place(self, arrays: tuple) -> tuple:
    """Host arrays of the global batch as one jax.Array each, sharded on the batch axis over the mesh."""
    layout = lambda a: self.distribution.get_data_layout(a.shape).backend_layout
    return tuple(jax.make_array_from_process_local_data(layout(a), a) for a in arrays)


def fit_step(model, fn, batches, mode: str):
  """Calls Keras' jitted `fn` on the next batch as `fit` (`predict`) does: the variables' values kept
  out of the model as one state, donated to each call and replaced by what it returns."""
  state = [[v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables]]
  if mode == "train":
    state += [[v.value for v in model.optimizer.variables], [v.value for v in model.metrics_variables]]
  state = tuple(state)

  def step():
    nonlocal state
    outputs, state = fn(state, iter([next(batches)]))
    return outputs

  return step


def compilations(fn):
  """A reader of this process's XLA compilations (JAX tells each one to `jax.monitoring`)."""
  del fn
  return COMPILATIONS.compiled


def cache_loads():
  """A reader of the compilations loaded from JAX's persistent compilation cache."""
  return COMPILATIONS.loaded


def settings(platform: str) -> dict:
  del platform
  return {"matmul_precision": jax.config.jax_default_matmul_precision or "default"}


def peak_memory(devices: int):
  """A reader of the largest peak of the used devices since the process started; None where JAX
  reports none (CPU)."""
  return lambda: peak_memory_bytes(jax.devices()[:devices])


def versions() -> dict:
  import keras  # pylint: disable=g-import-not-at-top

  return {"keras": keras.__version__, "jax": jax.__version__, "jaxlib": jaxlib.__version__}
