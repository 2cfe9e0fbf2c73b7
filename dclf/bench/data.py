"""What the benchmarked steps eat: one synthetic batch placed on the device once (the input
pipeline out of the measurement), or, with --real-data, the trainer's grain loader every step
(reading, decoding and the host-to-device copy in the measurement)."""

import jax
import numpy as np

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


def real_loader(config):
  """The training loader of `config.dataset` and `config.train_split`, as `dclf.train` builds it
  (random crops when the config trains on crops; the objective's targets)."""
  source = datasets.load(config, splits=(config.train_split,)).splits[config.train_split]
  return input_pipeline.train_loader(
    source,
    global_batch_size=config.batch_size,
    seed=config.seed,
    workers=config.data_workers,
    crop_size=config.train_crop_size,
    keys=input_pipeline.model_keys(objectives.of_config(config).label_key),
  )


def describe(config, real_data: bool) -> str:
  return f"{config.dataset}:{config.train_split} (grain, {config.data_workers} workers)" if real_data else "synthetic"
