"""Keras on TensorFlow for the benchmark's Keras rows (`dclf.bench.keras_runner`): data parallelism
with `tf.distribute`, as Keras' guide for this backend prescribes (keras-io
guides/distributed_training_with_tensorflow.py; Keras' own `keras.distribution` is marked
do-not-use on TensorFlow): `MirroredStrategy` over several GPUs (or logical CPU devices),
`TPUStrategy` on a TPU (`TPUClusterResolver("local")` on a TPU VM, `tensorflow-tpu`), TensorFlow's
default strategy on one GPU or CPU. The model is built, compiled and stepped under the strategy's
scope; Keras' step runs the batch's replicas through `strategy.run` and reduces their outputs.

The batch reaches the step as `fit`'s distributed iterator hands it over: one `PerReplica` value,
each replica's slice of the global batch on that replica's device (placed once for synthetic data,
like the JAX rows' batch). `fit` gets the same values from a `tf.data` distributed dataset, which
would copy the batch from the host every step. Keras' train function takes either: both run the
same traced `one_step_on_data`.

Imported by `keras_runner.load` once `KERAS_BACKEND` is set; `setup` runs before Keras is imported.
"""

import contextlib
import functools
import os

import tensorflow as tf

PACKAGE = "tensorflow"
_tpu = {}  # what `setup` got from the TPU system: its resolver and topology, or why there is none


def _init_tpu() -> None:
  if _tpu:
    return
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="local")
    _tpu.update(resolver=resolver, topology=tf.tpu.experimental.initialize_tpu_system(resolver))
  except (ValueError, RuntimeError, tf.errors.OpError) as e:
    _tpu["error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"


def setup(platform: str, devices: int) -> None:
  """Before TensorFlow's runtime starts: the TPU system on `tpu`; on `cpu` no GPU and `devices`
  logical CPU devices (MirroredStrategy's test bed, as Keras' own tf_distribute_training_test.py);
  memory that grows on GPUs, so that nothing else in the process is starved. A runtime already
  started keeps its devices, and the device check judges them."""
  if platform == "tpu":
    _init_tpu()
  with contextlib.suppress(RuntimeError):
    if platform == "cpu":
      tf.config.set_visible_devices([], "GPU")
      cpu = tf.config.list_physical_devices("CPU")[0]
      tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
    for gpu in tf.config.list_physical_devices("GPU"):
      tf.config.experimental.set_memory_growth(gpu, True)


def _tpu_kind() -> str:
  """TensorFlow's TPU devices are TPU:0..N; the generation is the TPU VM's accelerator type (e.g.
  v4-8) where its environment sets TPU_ACCELERATOR_TYPE."""
  accelerator = os.environ.get("TPU_ACCELERATOR_TYPE")
  return f"TPU {accelerator}" if accelerator else "TPU"


def found() -> tuple[str, str, int]:
  """(platform, device kind, count) of the devices TensorFlow runs on: the TPU system `setup`
  initialised, else its GPUs, else its (logical) CPU devices."""
  if "topology" in _tpu:
    topology = _tpu["topology"]
    return "tpu", _tpu_kind(), topology.num_tasks * topology.num_tpus_per_task
  gpus = tf.config.list_logical_devices("GPU")
  if gpus:
    details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
    return "gpu", details.get("device_name", "GPU"), len(gpus)
  no_tpu = f"; TensorFlow found no TPU ({_tpu['error']})" if "error" in _tpu else ""
  return "cpu", "cpu" + no_tpu, len(tf.config.list_logical_devices("CPU"))


@functools.cache
def _strategy(platform: str, devices: int) -> tuple:
  """(strategy, its replicas' devices) over the first `devices` devices of `platform`: one per
  process, because two MirroredStrategy objects in one process number their collective ops alike,
  and the second's all-reduce then meets the first's (a shape mismatch, or worse, none)."""
  if platform == "tpu":
    assignment = tf.tpu.experimental.DeviceAssignment.build(_tpu["topology"], num_replicas=devices)
    strategy = tf.distribute.TPUStrategy(_tpu["resolver"], experimental_device_assignment=assignment)
    return strategy, strategy.extended.worker_devices
  names = [d.name for d in tf.config.list_logical_devices(platform.upper())[:devices]]
  if devices > 1:
    return tf.distribute.MirroredStrategy(names), names
  return tf.distribute.get_strategy(), names  # where Keras' jit_compile works (it turns XLA off under any other)


class Replicas:
  """The strategy over the first `devices` devices of `platform`."""

  def __init__(self, platform: str, devices: int):
    self.strategy, self.devices = _strategy(platform, devices)
    self.name = type(self.strategy).__name__.strip("_")

  def scope(self):
    return self.strategy.scope()

  def place(self, arrays: tuple):
    """Host arrays of the global batch as each replica's slice on its device."""
    n = self.strategy.num_replicas_in_sync

    def replica_slices(context):
      i = context.replica_id_in_sync_group
      with tf.device(self.devices[i]):
        return tuple(tf.constant(a[i * len(a) // n : (i + 1) * len(a) // n]) for a in arrays)

    return self.strategy.experimental_distribute_values_from_function(replica_slices)


def fit_step(model, fn, batches, mode: str):
  """Calls Keras' traced `fn` on the next batch as `fit` (an iterator of batches) or `predict` (the
  list of one step's batches) calls it."""
  del model
  if mode == "train":
    return lambda: fn(iter([next(batches)]))
  return lambda: fn([next(batches)])


def _tf_functions(fn, seen: set) -> list:
  """The tf.functions `fn` calls: itself, or those in the closures Keras' trainer builds them in."""
  if id(fn) in seen:
    return []
  seen.add(id(fn))
  if isinstance(fn, tf.types.experimental.PolymorphicFunction):
    return [fn]
  found_here = []
  for inner in [getattr(fn, "__wrapped__", None)] + [c.cell_contents for c in getattr(fn, "__closure__", None) or ()]:
    if callable(inner):
      found_here += _tf_functions(inner, seen)
  return found_here


def compilations(fn):
  """A reader of how often Keras' tf.functions behind `fn` were traced (each trace is a new graph,
  compiled again); None where none is found (a Keras whose trainer is built otherwise)."""
  functions = _tf_functions(fn, set())
  if not functions:
    return None
  return lambda: sum(f.experimental_get_tracing_count() for f in functions)


def cache_loads():
  """TensorFlow loads no compiled step from a persistent cache here: None, nothing to tell."""
  return None


def settings(platform: str) -> dict:
  precision = {  # TensorFloat-32 (on by default) applies to GPUs only; XLA's default on TPUs: bfloat16 passes
    "gpu": "tf32" if tf.config.experimental.tensor_float_32_execution_enabled() else "float32",
    "tpu": "default",
  }
  return {"matmul_precision": precision.get(platform, "float32")}


def peak_memory(devices: int):
  """A reader of the largest peak memory of the used accelerators since now; None on CPUs."""
  names = [f"{kind}:{i}" for kind in ("GPU", "TPU") for i in range(len(tf.config.list_logical_devices(kind)))]
  names = names[:devices]
  for name in names:
    tf.config.experimental.reset_memory_stats(name)
  return lambda: max((tf.config.experimental.get_memory_info(name)["peak"] for name in names), default=None)


def versions() -> dict:
  import keras  # pylint: disable=g-import-not-at-top

  return {"keras": keras.__version__, "tensorflow": tf.__version__}
