"""Builds a dataset end to end (inputs checked first, one build at a time, no stale leftovers) and
reads a built split as a random-access source: what trainers and evaluators call."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import tensorflow_datasets as tfds
from absl import logging

from dclf.data import catalog, png_build, raw, raw_writer, tfds_compat
from dclf.data.builder_base import exclusive, require_manual_dir
from dclf.errors import DataError

tfds_compat.install()  # before any build: tfds' shuffler spills to disk through TensorFlow otherwise


def build(
  name: str,
  *,
  data_dir: str | None = None,
  manual_dir: str | None = None,
  num_sources: int | None = None,
  workers: int | None = None,
  beam_pipeline_options: str | None = None,
) -> tfds.core.DatasetInfo:
  """Builds `name` ('dataset/config') into data_dir unless it is already there.

  A finished build is an atomic rename of tfds' temporary folder, so a killed build leaves
  only an `incomplete.*` folder; the next build of the same config removes it and starts over.
  """
  builder_cls, config = catalog.parse(name)
  kwargs = {"workers": workers}
  if num_sources is not None:
    if builder_cls is not catalog.BUILDERS["distortions"]:
      raise DataError(f"{name} has a fixed size: --num_sources does not apply")
    kwargs["num_sources"] = num_sources
  builder = builder_cls(config=config.name, data_dir=data_dir, **kwargs)
  beam_options = _beam_options(beam_pipeline_options)
  if is_built(builder):
    return _reuse(builder, num_sources)
  resolved_manual_dir = _manual_dir(builder, config, manual_dir)  # before writing anything
  config_dir = Path(builder.data_path).parent
  with exclusive(config_dir, f"another process is building or converting {builder.info.full_name} in {config_dir}"):
    _remove_incomplete_builds(builder)
    builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=resolved_manual_dir, beam_options=beam_options)
    )
  return builder.info


DATA_FORMATS = ("auto", "tfds", "raw")


def get_source(
  name: str,
  split: str,
  data_dir: str | None = None,
  build_if_missing: bool = False,
  data_format: str = "tfds",
) -> tuple[png_build.PngSource | raw.RawSource, tfds.core.DatasetInfo]:
  """A random-access source (len, [i], decoded numpy features) of one split, and the info.

  `split` may carry tfds slicing ("train[:10%]"). `build_if_missing` builds the offline
  `*_sample` configs (and their raw copy when `data_format` is raw and they have no readable one);
  the others need a manual download and raise DataError saying how. data_dir None means tfds'
  default ($TFDS_DATA_DIR or ~/tensorflow_datasets). `data_format`: `tfds` reads the PNG build, `raw` its raw copy
  (`dclf.data.raw`: the same examples, no decoding), `auto` the raw copy when there is one.
  """
  if data_format not in DATA_FORMATS:
    raise DataError(f"unknown data format {data_format!r}; known: {', '.join(DATA_FORMATS)}")
  builder_cls, config = catalog.parse(name)
  full_name = f"{builder_cls.name}/{config.name}"
  builder = builder_cls(config=config.name, data_dir=data_dir)
  if not is_built(builder):
    if not build_if_missing or config.needs_manual_dir:
      raise _not_built(full_name, builder, config)
    build(full_name, data_dir=data_dir)
    builder = builder_cls(config=config.name, data_dir=data_dir)
  split_name = re.match(r"[\w-]*", split).group(0)
  if split_name not in builder.info.splits:
    raise DataError(f"unknown split {split!r} of {full_name}; valid: {', '.join(builder.info.splits)}")
  if data_format == "raw" and build_if_missing and not config.needs_manual_dir and raw.copy_problem(builder):
    raw_writer.convert(builder, log=logging.info)  # also replaces a damaged copy or one of another build
  if data_format == "raw" or (data_format == "auto" and raw.has_copy(builder)):
    return raw.open_source(builder, split), builder.info
  png_build.check_shards(builder, split)
  return png_build.PngSource(builder, split), builder.info


def build_command_if_missing(name: str, data_dir: str | None = None) -> str | None:
  """The command that builds `name` if it is not built in data_dir and needs a manual download;
  None if it is built or builds on first use (the `*_sample` configs). Nothing is built."""
  builder_cls, config = catalog.parse(name)
  builder = builder_cls(config=config.name, data_dir=data_dir)
  if not config.needs_manual_dir or is_built(builder):
    return None
  return png_build.build_command(builder)


def require_built(name: str, data_dir: str | None = None):
  """The tfds builder of `name` in data_dir; DataError with the build command if it is not built."""
  builder_cls, config = catalog.parse(name)
  builder = builder_cls(config=config.name, data_dir=data_dir)
  if not is_built(builder):
    raise _not_built(f"{builder_cls.name}/{config.name}", builder, config)
  return builder


def is_built(builder) -> bool:
  """Whether a finished build is on disk (tfds logs a warning when asked about no folder); a build
  folder without tfds' dataset_info.json, which tfds neither reads nor builds again, is `damaged`."""
  if not builder.data_path.exists():
    return False
  if not builder.is_prepared():
    raise png_build.damaged(builder, "it has no dataset_info.json")
  return True


def _manual_dir(builder, config, given: str | None) -> str | None:
  """Checks the manual_dir (given, or tfds' <data_dir>/downloads/manual) before any work."""
  if not config.needs_manual_dir:
    return given
  path = given or Path(builder.data_dir_root) / "downloads" / "manual"
  return str(require_manual_dir(path, builder.name, builder.MANUAL_DOWNLOAD_INSTRUCTIONS))


def _reuse(builder, num_sources: int | None) -> tfds.core.DatasetInfo:
  """The finished build's info, unless it was built with another num_sources or is damaged."""
  try:
    built = (builder.info.metadata or {}).get("num_sources")
  except ValueError as e:  # tfds reads metadata.json here
    raise png_build.damaged(builder, f"its metadata.json cannot be read ({png_build.describe(e)})") from None
  if num_sources is not None and built is not None and built != num_sources:
    raise DataError(
      f"{builder.info.full_name} is already built in {builder.data_dir} with "
      f"num_sources={built}; delete it or use another --data_dir for {num_sources}"
    )
  for split in builder.info.splits:
    png_build.check_shards(builder, split)  # a damaged build is not reused silently
  logging.info("%s is already built in %s", builder.info.full_name, builder.data_dir)
  return builder.info


def _beam_options(flags: str | None):
  if not flags:
    return None
  try:
    from apache_beam.options.pipeline_options import PipelineOptions
  except ImportError:
    raise DataError("--beam_pipeline_options needs apache-beam: pip install 'dclf[beam]'") from None
  return PipelineOptions(flags=[f"--{flag}" for flag in flags.split(",") if flag])


def _remove_incomplete_builds(builder) -> None:
  """Deletes temporary folders of killed builds (safe: we hold the config's lock)."""
  version_dir = Path(builder.data_path)
  for leftover in version_dir.parent.glob(f"incomplete.*_{version_dir.name}"):
    logging.info("removing the leftover of an interrupted build: %s", leftover)
    shutil.rmtree(leftover, ignore_errors=True)


def _not_built(full_name: str, builder, config) -> DataError:
  command = png_build.build_command(builder)
  if config.needs_manual_dir:
    return DataError(
      f"{full_name} is not built in {builder.data_dir_root}; build it with: {command}",
      instructions=builder.MANUAL_DOWNLOAD_INSTRUCTIONS,
    )
  return DataError(
    f"{full_name} is not built in {builder.data_dir_root}; build it with: {command} (or pass build_if_missing=True)"
  )
