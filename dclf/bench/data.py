"""What the benchmarked steps eat: one synthetic batch placed on the device once (the input
pipeline out of the measurement), or, with --real-data, the trainer's loader every step (reading,
decoding and the host-to-device copy in the measurement); and what that loader costs the host."""

import dataclasses
import time

import jax
import numpy as np
import psutil

from dclf import datasets, input_pipeline, objectives


def synthetic_batch(config, num_classes: int, label_key: str = "label") -> dict:
  """This process's share of the global batch: uint8 images and their targets, like a loader's
  (int32 classes under `label`, or a multi-hot uint8 vector under `labels`)."""
  rng = np.random.default_rng(config.seed)
  size = config.batch_size // jax.process_count()
  targets = (
    rng.integers(0, num_classes, (size,), dtype=np.int32)
    if label_key == "label"
    else rng.integers(0, 2, (size, num_classes), dtype=np.uint8)
  )
  return {
    "image": rng.integers(0, 256, (size, config.image_size, config.image_size, 3), dtype=np.uint8),
    label_key: targets,
  }


def _train_data(config) -> datasets.Dataset:
  return datasets.load(config, splits=(config.train_split,))


def real_loader(config) -> input_pipeline.Loader:
  """The training loader of `config.dataset` and `config.train_split`, as `dclf.train` builds it
  (its data format and worker count, random crops when the config trains on crops, the objective's
  targets)."""
  return input_pipeline.train_loader(
    _train_data(config).splits[config.train_split],
    global_batch_size=config.batch_size,
    seed=config.seed,
    workers=config.data_workers,
    crop_size=config.train_crop_size,
    keys=input_pipeline.model_keys(objectives.of_config(config).label_key),
  )


def describe(config, real_data: bool) -> str:
  """The record's `data`: `synthetic`, or the dataset, split, format and worker count the loader uses."""
  if not real_data:
    return "synthetic"
  data = _train_data(config)
  workers = input_pipeline.resolve_workers(config.data_workers, data.splits[config.train_split])
  return f"{config.dataset}:{config.train_split} ({data.data_format}, {workers} workers)"


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
  main_cpu_s: float  # this process: reading (or waiting for workers), batching, the device copy
  worker_cpu_s: float  # the loader's worker processes

  @property
  def images_per_sec_per_core(self) -> float:
    """Images per CPU second of every process of the pipeline: what one host core feeds."""
    return self.images / (self.main_cpu_s + self.worker_cpu_s)


def loader_cost(config, put, batches: int = 40, warmup: int = 4) -> LoaderCost:
  """The training loader alone: `batches` batches read, made and `put` on the devices (waited
  for), after `warmup` batches (worker start-up) that are not counted. CPU time does not depend
  on what else runs on the machine; wall time does."""
  loader = real_loader(config)
  try:
    for _ in range(warmup):
      jax.block_until_ready(put(next(loader)))
    start, (main, workers) = time.perf_counter(), _cpu_s()
    for _ in range(batches):
      jax.block_until_ready(put(next(loader)))
    wall_s, (main_end, workers_end) = time.perf_counter() - start, _cpu_s()
  finally:
    loader.close()
  images = batches * (config.batch_size // jax.process_count())
  return LoaderCost(images, wall_s, main_end - main, workers_end - workers)
