"""Resolves `config.dataset` to random-access sources and class names.

`synthetic`: deterministic generated images (no files; for smoke tests and the trainer's tests).
Any other name is a tfds dataset registered by `dclf.data` (e.g. `distortions/blur_noise_sample`,
`live_iqa/blur_noise`), read from `config.data_dir` with `tfds.data_source`; the embedded sample
datasets are built on first use.
"""

import dataclasses

from dclf.errors import UsageError
from dclf.input_pipeline import SyntheticSource

SYNTHETIC_CLASSES = ("reference", "blur", "noise")
SYNTHETIC_SIZES = {"train": 1024, "validation": 256, "test": 256}


@dataclasses.dataclass
class Dataset:
  name: str
  class_names: tuple[str, ...]
  splits: dict  # split name -> random-access source


def _synthetic(config) -> Dataset:
  splits = {
      split: SyntheticSource(size, config.image_size, len(SYNTHETIC_CLASSES), seed=config.seed * 1000 + i)
      for i, (split, size) in enumerate(SYNTHETIC_SIZES.items())
  }
  return Dataset("synthetic", SYNTHETIC_CLASSES, splits)


def _tfds(config, splits) -> Dataset:
  from dclf import data  # pylint: disable=g-import-not-at-top  (tfds import is slow; only when used)
  sources, info = {}, None
  try:
    for split in splits:
      sources[split], info = data.get_source(config.dataset, split, config.data_dir or None, build_if_missing=True)
  except data.DataError as e:
    raise UsageError(str(e)) from None
  return Dataset(config.dataset, tuple(info.features["label"].names), sources)


def load(config, splits=("train", "validation")) -> Dataset:
  """The dataset `config.dataset` with the requested splits."""
  if config.dataset == "synthetic":
    dataset = _synthetic(config)
    unknown = set(splits) - set(dataset.splits)
    if unknown:
      raise UsageError(f"synthetic has no split {sorted(unknown)[0]!r}; splits: {', '.join(dataset.splits)}")
    return Dataset(dataset.name, dataset.class_names, {s: dataset.splits[s] for s in splits})
  return _tfds(config, splits)
