"""tfds builder `distortions`: the poster's distorted ImageNet datasets and offline samples."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds

from dclf.data import sample_photos, sources, splits
from dclf.data.builder_base import ArrayRecordBuilder, OrderedPool, manual_dir
from dclf.data.distortions import beam_pipeline, configs
from dclf.data.distortions.examples import Job, make_examples
from dclf.data.imaging import CROP_SIZE
from dclf.errors import DataError

MANUAL_INSTRUCTIONS = """\
Put the source photos in manual_dir (default <data_dir>/downloads/manual/), either:
  * ImageNet's ILSVRC2012_img_train.tar (the 138 GB tar of per-class tars, as downloaded from
    https://image-net.org/download-images after accepting the terms; do not extract it), or
  * any folder of JPEG/PNG/BMP photos (searched recursively).
Then: python -m dclf.data build distortions/<config> --data_dir D --manual_dir M
"""


class Builder(ArrayRecordBuilder):
  """Distorted 224x224 crops: one example per class for every source photo.

  Builder kwargs: num_sources (overrides the config's), workers (processes; default all cores).
  """

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = list(configs.CONFIGS)
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_INSTRUCTIONS

  def __init__(self, *, num_sources: int | None = None, **kwargs):
    super().__init__(**kwargs)
    if num_sources is not None and num_sources < 1:
      raise DataError(f"num_sources must be >= 1, got {num_sources}")
    self.num_sources = num_sources or self.builder_config.num_sources
    self._use_beam = False
    self.report = sources.SourceReport()

  def _info(self) -> tfds.core.DatasetInfo:
    config = self.builder_config
    features = {
      "image": tfds.features.Image(shape=(CROP_SIZE, CROP_SIZE, 3), encoding_format="png"),
      "label": tfds.features.ClassLabel(names=config.class_names),
      "distortion": tfds.features.Text(),
      "radius": tfds.features.Scalar(np.float32, doc="Gaussian blur radius (0 if none)"),
      "amount": tfds.features.Scalar(np.float32, doc="noise amount, 0..255 (0 if none)"),
      "density": tfds.features.Scalar(np.float32, doc="share of pixels noised (0 if none)"),
      "source_id": tfds.features.Text(doc="the source photo the example was cut from"),
    }
    if config.label_names:
      features["labels"] = tfds.features.Tensor(
        shape=(len(config.label_names),),
        dtype=np.uint8,
        doc="multi-hot (blur, noise)",
      )
      features["order"] = tfds.features.Text(doc="application order, e.g. 'noise,blur'")
    return self.dataset_info_from_configs(
      features=tfds.features.FeaturesDict(features),
      supervised_keys=("image", "label"),
      homepage="https://github.com/d-roland/distortionClassfication",
      metadata=tfds.core.MetadataDict(),
    )

  def _download_and_prepare(self, dl_manager, download_config):
    self._use_beam = bool(download_config.beam_runner or download_config.beam_options)
    with OrderedPool(self.workers) as self._pool:  # one pool for all splits
      split_infos = super()._download_and_prepare(dl_manager, download_config)
    self.info.metadata.update(num_sources=self.num_sources, **self.report.as_metadata())
    self.report.log(self.info.full_name)
    return split_infos

  def _split_generators(self, dl_manager):
    refs_by_split = self._source_splits(dl_manager)
    return {split: self._generate_examples(refs, split) for split, refs in refs_by_split.items()}

  def _source_splits(self, dl_manager) -> dict[str, list]:
    config = self.builder_config
    if config.photos in sample_photos.PHOTO_SETS:
      return sample_photos.windows_by_split(self.num_sources, config.seed, config.photos, config.native_share)
    root = manual_dir(dl_manager, self.name, MANUAL_INSTRUCTIONS)
    refs = sources.find_sources(root)
    if min(len(refs), self.num_sources) < len(splits.SPLIT_NAMES):
      raise DataError(f"{self.name}: need at least 3 source photos, found {len(refs)} in {root}")
    by_split = splits.split_sources(refs, config.split_fractions, limit=self.num_sources)
    # Read each split in file order: sequential I/O through the ImageNet tar.
    return {name: sorted(refs, key=lambda ref: (ref.path, ref.offset)) for name, refs in by_split.items()}

  def _generate_examples(self, refs: Sequence, split: str):
    config = self.builder_config
    job = Job(
      config.recipe,
      config.seed,
      config.jpeg_quality,
      jpeg_first=config.clean_train,
      reference_only=config.clean_train and split == "train",
    )
    if self._use_beam:
      return beam_pipeline.examples_transform(refs, job, split)
    return self._generate_locally(refs, job, split)

  def _generate_locally(self, refs: Sequence, job: Job, split: str) -> Iterator[tuple[str, dict]]:
    outcomes = self._pool.map(functools.partial(make_examples, job), refs, desc=f"{self.builder_config.name} {split}")
    for outcome in outcomes:
      self.report.add(split, outcome.skipped, outcome.conversions)
      yield from outcome.examples
    if not self.report.used[split]:
      raise DataError(
        f"{self.name}: no readable source photo in the {split} split ({len(refs)} tried; {self.report.summary()})"
      )

  def _process_pipeline_result(self, pipeline_result):
    for kind, key, count in beam_pipeline.counters(pipeline_result):
      self.report.add_count(kind, key, count)
    return super()._process_pipeline_result(pipeline_result)
