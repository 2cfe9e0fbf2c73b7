"""What the benchmarked steps eat, the same for every framework: one synthetic batch placed on the
devices once (the input pipeline out of the measurement), or, with --real-data, the trainer's
loader every step with the trainer's prefetching (reading, decoding and the host-to-device copy
in the measurement); and what that loader costs the host.

`device_batches(config, put, ...)` is the one way a runner gets its batches: `put` is the
framework's own copy of a host batch to its devices (`dclf.parallel`'s `put_batch`, a
`torch.Tensor.to(device)`, a sharded `torch_xla` transfer), the rest is shared. A process that
feeds a slice of each global batch (one PyTorch DDP process per device) names it with `shard`.
"""

import dataclasses
import itertools
import time

import numpy as np
import psutil

from dclf import datasets, input_pipeline, objectives
from dclf.prefetch import DeviceBatches

# (index, count): this process's slice of every global batch, the index-th of `count` equal ones.
WHOLE = (0, 1)


def label_key(config) -> str:
  """The batch key of the targets: `label` (int32 classes) or `labels` (multi-hot) by objective."""
  return objectives.of_config(config).label_key


def _local_size(config, shard) -> int:
  index, count = shard
  if not 0 <= index < count or config.batch_size % count:
    raise ValueError(f"shard {shard} of a global batch of {config.batch_size}")
  return config.batch_size // count


def synthetic_batch(config, num_classes: int, shard=WHOLE) -> dict:
  """The `shard` slice of one global batch of uint8 images and their targets, like a loader's
  (int32 classes under `label`, or a multi-hot uint8 vector under `labels`). The global batch is
  the same whatever the shard count: N processes of one device each see what one process of N
  devices sees."""
  rng = np.random.default_rng(config.seed)
  size, key = config.batch_size, label_key(config)
  targets = (
    rng.integers(0, num_classes, (size,), dtype=np.int32)
    if key == "label"
    else rng.integers(0, 2, (size, num_classes), dtype=np.uint8)
  )
  images = rng.integers(0, 256, (size, config.image_size, config.image_size, 3), dtype=np.uint8)
  local = _local_size(config, shard)
  part = slice(shard[0] * local, (shard[0] + 1) * local)
  return {"image": images[part], key: targets[part]}


def _train_data(config) -> datasets.Dataset:
  return datasets.load(config, splits=(config.train_split,))


def real_loader(config, shard=WHOLE) -> input_pipeline.Loader:
  """The training loader of `config.dataset` and `config.train_split`, as `dclf.train` builds it
  (its data format and worker count, random crops when the config trains on crops, the objective's
  targets), reading the `shard` slice of each global batch."""
  _local_size(config, shard)
  return input_pipeline.train_loader(
    _train_data(config).splits[config.train_split],
    global_batch_size=config.batch_size,
    seed=config.seed,
    workers=config.data_workers,
    crop_size=config.train_crop_size,
    keys=input_pipeline.model_keys(label_key(config)),
    shard=shard,
  )


class _Repeated:
  """One device batch forever (synthetic data): nothing to stop."""

  def __init__(self, batch):
    self._batches = itertools.repeat(batch)

  def __iter__(self):
    return self

  def __next__(self):
    return next(self._batches)

  def close(self) -> None:
    pass


def device_batches(config, put, *, real_data: bool, num_classes: int, shard=WHOLE):
  """An iterator of batches on the devices, to `close()` after the run.

  `put(batch)` takes this process's host batch, {"image": uint8 (n, H, W, 3), label_key(config):
  int32 (n,) or multi-hot uint8 (n, num_classes)} with n = config.batch_size / shard count, and
  returns what the framework's step takes (it may start an asynchronous copy). Synthetic: one
  batch, put once before timing. Real data: the trainer's loader, put `config.prefetch_batches`
  batches ahead in a background thread (`dclf.prefetch.DeviceBatches`, the trainer's own).
  """
  if not real_data:
    return _Repeated(put(synthetic_batch(config, num_classes, shard)))
  loader = real_loader(config, shard)
  return DeviceBatches(loader, put, input_pipeline.DataState(), depth=config.prefetch_batches)


def describe(config, real_data: bool) -> str:
  """The record's `data`: `synthetic`, or the dataset, split, format, worker count and prefetch
  depth every framework's loader has (`device_batches`)."""
  if not real_data:
    return "synthetic"
  data = _train_data(config)
  workers = input_pipeline.resolve_workers(config.data_workers, data.splits[config.train_split])
  return (
    f"{config.dataset}:{config.train_split} ({data.data_format}, {workers} workers, prefetch {config.prefetch_batches})"
  )


def _cpu_s() -> tuple[float, float]:
  """CPU seconds of this process (all threads), and of its child processes (live or reaped)."""
  me = psutil.Process()
  times = me.cpu_times()
  children = times.children_user + times.children_system
  for child in me.children(recursive=True):
    try:
      children += sum(child.cpu_times()[:2])
    except psutil.NoSuchProcess:
      pass
  return times.user + times.system, children


@dataclasses.dataclass(frozen=True)
class LoaderCost:
  images: int
  wall_s: float
  main_cpu_s: float  # this process: reading (or waiting for workers), batching, `put`
  worker_cpu_s: float  # the loader's worker processes

  @property
  def images_per_sec_per_core(self) -> float:
    """Images per CPU second of every process of the pipeline: what one host core feeds."""
    return self.images / (self.main_cpu_s + self.worker_cpu_s)


def loader_cost(config, put=None, *, shard=WHOLE, batches: int = 40, warmup: int = 4) -> LoaderCost:
  """The training loader alone: `batches` batches read and made, and handed to `put` (e.g. put on
  the devices and waited for; by default nothing, the host's work alone, as the study's real-data
  rows report it for every framework), after `warmup` batches (worker start-up) that are not
  counted. CPU time does not depend on what else runs on the machine; wall time does."""
  loader = real_loader(config, shard)
  put = put or (lambda batch: batch)
  try:
    for _ in range(warmup):
      put(next(loader))
    start, (main, workers) = time.perf_counter(), _cpu_s()
    for _ in range(batches):
      put(next(loader))
    wall_s, (main_end, workers_end) = time.perf_counter() - start, _cpu_s()
  finally:
    loader.close()
  images = batches * _local_size(config, shard)
  return LoaderCost(images, wall_s, main_end - main, workers_end - workers)
