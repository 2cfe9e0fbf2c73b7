"""Resolves `config.dataset` to random-access sources and class names.

`synthetic`: deterministic generated images (no files; for smoke tests and the trainer's tests).
Any other name is a tfds dataset registered by `dclf.data` (e.g. `distortions/blur_noise_sample`,
`live_iqa/blur_noise`), read from `config.data_dir`: its PNG build with `tfds.data_source`, or its
raw copy (`config.data_format`: `raw`, or `auto` when the dataset has one; the same examples,
read without decoding); the embedded sample datasets are built on first use.
"""

import dataclasses

from dclf.errors import DataError, UsageError
from dclf.input_pipeline import SyntheticSource, reads_batches
from dclf.labels import BLUR_NOISE_CLASSES, MULTILABEL_AXES

SYNTHETIC_CLASSES = BLUR_NOISE_CLASSES
SYNTHETIC_SIZES = {"train": 1024, "validation": 256, "test": 256}


@dataclasses.dataclass
class Dataset:
  name: str
  class_names: tuple[str, ...]
  splits: dict = dataclasses.field(default_factory=dict)  # split name -> random-access source
  available_splits: tuple[str, ...] = ()  # every split the dataset has, loaded or not
  label_names: tuple[str, ...] = ()  # the axes of its multi-hot `labels`, if it has them
  data_format: str = "synthetic"  # what the splits read: `tfds` (the PNG build) or `raw` (its raw copy)
  clean_train: bool = False  # its train split holds clean photos, for config.distort_on_device


def _synthetic(config) -> Dataset:
  splits = {
    split: SyntheticSource(size, config.image_size, len(SYNTHETIC_CLASSES), seed=config.seed * 1000 + i)
    for i, (split, size) in enumerate(SYNTHETIC_SIZES.items())
  }
  return Dataset("synthetic", SYNTHETIC_CLASSES, splits, tuple(splits))


def _tfds(config, splits) -> Dataset:
  from dclf import data  # pylint: disable=g-import-not-at-top  (tfds import is slow; only when used)

  sources, info = {}, None
  try:
    for split in splits:
      sources[split], info = data.get_source(
        config.dataset,
        split,
        config.data_dir or None,
        build_if_missing=True,
        data_format=config.get("data_format", "auto"),
      )
  except DataError as e:
    raise UsageError(e.message) from None  # one line; the download instructions are in the docs
  label_names = MULTILABEL_AXES if "labels" in info.features else ()
  data_format = "raw" if all(reads_batches(s) for s in sources.values()) else "tfds"
  class_names = tuple(info.features["label"].names)
  clean_train = names(config.dataset).clean_train
  return Dataset(config.dataset, class_names, sources, tuple(info.splits), label_names, data_format, clean_train)


def convert_command(config) -> str | None:
  """The command that writes the raw copy of `config.dataset` (None for synthetic data)."""
  if config.dataset == "synthetic":
    return None
  data_dir = f" --data_dir {config.data_dir}" if config.data_dir else ""
  return f"python -m dclf.data convert-raw {config.dataset}{data_dir}"


def names(dataset: str) -> Dataset:
  """Dataset `dataset`'s class and label names and whether its train split is clean, without its
  splits (nothing is built or read)."""
  if dataset == "synthetic":
    return Dataset("synthetic", SYNTHETIC_CLASSES)
  from dclf.data import catalog  # pylint: disable=g-import-not-at-top  (tfds import is slow; only when used)

  _, builder_config = catalog.parse(dataset)
  return Dataset(
    dataset,
    tuple(catalog.class_names(dataset)),
    label_names=tuple(catalog.label_names(dataset)),
    clean_train=getattr(builder_config, "clean_train", False),
  )


def missing(config) -> str | None:
  """Why `config.dataset` cannot be read yet, with the command that builds it (None: it can)."""
  if config.dataset == "synthetic":
    return None
  from dclf.data import building  # pylint: disable=g-import-not-at-top  (tfds import is slow; only when used)

  command = building.build_command_if_missing(config.dataset, config.data_dir or None)
  return f"dataset {config.dataset} is not built ({command}; docs/data.md)" if command else None


def load(config, splits) -> Dataset:
  """The dataset `config.dataset` with the requested splits (tfds names, slices allowed)."""
  if config.dataset == "synthetic":
    dataset = _synthetic(config)
    unknown = set(splits) - set(dataset.splits)
    if unknown:
      raise UsageError(f"synthetic has no split {sorted(unknown)[0]!r}; splits: {', '.join(dataset.splits)}")
    return dataclasses.replace(dataset, splits={s: dataset.splits[s] for s in splits})
  return _tfds(config, splits)
