"""What trainers and evaluators call: random-access sources and label names."""

from __future__ import annotations

import re

import tensorflow_datasets as tfds

from dclf.data import building, catalog
from dclf.data.errors import DataError


def get_source(
  name: str,
  split: str,
  data_dir: str | None = None,
  build_if_missing: bool = False,
) -> tuple[tfds.data_sources.ArrayRecordDataSource, tfds.core.DatasetInfo]:
  """A random-access source (len, [i], decoded numpy features) of one split, and the info.

  `split` may carry tfds slicing ("train[:10%]"). `build_if_missing` builds the offline
  `*_sample` configs; the others need a manual download and raise DataError saying how.
  data_dir None means tfds' default ($TFDS_DATA_DIR or ~/tensorflow_datasets).
  """
  builder_cls, config = catalog.parse(name)
  full_name = f"{builder_cls.name}/{config.name}"
  builder = builder_cls(config=config.name, data_dir=data_dir)
  if not building.is_built(builder):
    if not build_if_missing or config.needs_manual_dir:
      raise _not_built(full_name, builder, config)
    building.build(full_name, data_dir=data_dir)
    builder = builder_cls(config=config.name, data_dir=data_dir)
  split_name = re.match(r"[\w-]*", split).group(0)
  if split_name not in builder.info.splits:
    raise DataError(f"unknown split {split!r} of {full_name}; valid: {', '.join(builder.info.splits)}")
  return builder.as_data_source(split=split), builder.info


def class_names(name: str) -> list[str]:
  """Label names in label order, e.g. ['reference', 'blur', 'noise']; builds nothing."""
  return catalog.class_names(name)


def _not_built(full_name: str, builder, config) -> DataError:
  command = f"python -m dclf.data build {full_name} --data_dir {builder.data_dir_root}"
  if config.needs_manual_dir:
    return DataError(
      f"{full_name} is not built in {builder.data_dir_root}; build it with: {command} --manual_dir M",
      instructions=builder.MANUAL_DOWNLOAD_INSTRUCTIONS,
    )
  return DataError(
    f"{full_name} is not built in {builder.data_dir_root}; build it with: {command} (or pass build_if_missing=True)"
  )
