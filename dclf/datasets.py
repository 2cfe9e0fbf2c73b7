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
  available_splits: tuple[str, ...] = ()  # every split the dataset has, loaded or not
  label_names: tuple[str, ...] = ()  # the axes of its multi-hot `labels`, if it has them

  def output_names(self, multilabel: bool) -> tuple[str, ...]:
    """What a model trained on it predicts: its classes, or (multi-label) its labels."""
    if not multilabel:
      return self.class_names
    if not self.label_names:
      raise UsageError(f"{self.name} has no multi-hot `labels` for a multilabel model; "
                       "use e.g. distortions/blur_noise_multilabel_sample")
    return self.label_names


def _synthetic(config) -> Dataset:
  splits = {
      split: SyntheticSource(size, config.image_size, len(SYNTHETIC_CLASSES), seed=config.seed * 1000 + i)
      for i, (split, size) in enumerate(SYNTHETIC_SIZES.items())
  }
  return Dataset("synthetic", SYNTHETIC_CLASSES, splits, tuple(splits))


def _tfds(config, splits) -> Dataset:
  from dclf import data  # pylint: disable=g-import-not-at-top  (tfds import is slow; only when used)
  from dclf.data.distortions.recipes import MULTILABEL_AXES  # pylint: disable=g-import-not-at-top
  sources, info = {}, None
  try:
    for split in splits:
      sources[split], info = data.get_source(config.dataset, split, config.data_dir or None, build_if_missing=True)
  except data.DataError as e:
    raise UsageError(e.message) from None  # one line; the download instructions are in the docs
  label_names = MULTILABEL_AXES if "labels" in info.features else ()
  return Dataset(config.dataset, tuple(info.features["label"].names), sources, tuple(info.splits), label_names)


def load(config, splits) -> Dataset:
  """The dataset `config.dataset` with the requested splits (tfds names, slices allowed)."""
  if config.dataset == "synthetic":
    dataset = _synthetic(config)
    unknown = set(splits) - set(dataset.splits)
    if unknown:
      raise UsageError(f"synthetic has no split {sorted(unknown)[0]!r}; splits: {', '.join(dataset.splits)}")
    return dataclasses.replace(dataset, splits={s: dataset.splits[s] for s in splits})
  return _tfds(config, splits)
