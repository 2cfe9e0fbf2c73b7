"""Names the datasets of dclf.data and their configs, without building or reading anything."""

from __future__ import annotations

import tensorflow_datasets as tfds

from dclf.data.distortions.distortions_dataset_builder import Builder as DistortionsBuilder
from dclf.data.live_iqa.live_iqa_dataset_builder import Builder as LiveIqaBuilder
from dclf.errors import DataError

BUILDERS: dict[str, type[tfds.core.GeneratorBasedBuilder]] = {
  "distortions": DistortionsBuilder,
  "live_iqa": LiveIqaBuilder,
}


def all_names() -> list[str]:
  """Every 'dataset/config' this package can build."""
  return [f"{dataset}/{config.name}" for dataset, builder in BUILDERS.items() for config in builder.BUILDER_CONFIGS]


def parse(name: str) -> tuple[type[tfds.core.GeneratorBasedBuilder], tfds.core.BuilderConfig]:
  """'dataset/config' (or 'dataset' for its default config) -> (builder class, config)."""
  dataset, _, config_name = name.partition("/")
  builder = BUILDERS.get(dataset)
  configs = {config.name: config for config in builder.BUILDER_CONFIGS} if builder else {}
  config = configs.get(config_name or (builder.BUILDER_CONFIGS[0].name if builder else ""))
  if config is None:
    raise DataError(f"unknown dataset {name!r}; known: {', '.join(all_names())}")
  return builder, config


def full_name(name: str) -> str:
  builder, config = parse(name)
  return f"{builder.name}/{config.name}"


def class_names(name: str) -> list[str]:
  """The class names, in label order, of a dataset (nothing is built or read)."""
  return list(parse(name)[1].class_names)


def label_names(name: str) -> list[str]:
  """The axes of a dataset's multi-hot `labels` (empty for single-label datasets)."""
  return list(parse(name)[1].label_names)
