"""Finds the source photos in a manual_dir (the ImageNet train tar or a folder of photos), and
counts what happened to them in a build.

A source is addressed by a `SourceRef` that a worker process can read on its own (a file, or
a byte range inside the tar), so the main process never ships image bytes to workers.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import tarfile
from pathlib import Path

from absl import logging

from dclf.errors import DataError

IMAGENET_TRAIN_TAR = "ILSVRC2012_img_train.tar"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclasses.dataclass(frozen=True)
class SourceRef:
  """Where one source photo lives.

  `source_id` is stable across machines (a relative path or `synset/member`): it seeds the
  severities and names the examples. `size` -1 means "the whole file".
  """

  source_id: str
  path: str
  offset: int = 0
  size: int = -1


def find_sources(manual_dir: str | os.PathLike) -> list[SourceRef]:
  """All photos under manual_dir, sorted by source_id: the ImageNet tar if present, else files."""
  root = Path(manual_dir)
  tar_path = root / IMAGENET_TRAIN_TAR
  refs = list_imagenet_tar(tar_path) if tar_path.is_file() else list_folder(root)
  if not refs:
    raise DataError(
      f"no photos in {root}: expected {IMAGENET_TRAIN_TAR} or files ending in "
      f"{', '.join(PHOTO_SUFFIXES)} (searched recursively)"
    )
  return refs


def list_folder(root: Path) -> list[SourceRef]:
  """Every file with a photo suffix below root (recursively), whatever its content."""
  refs = []
  for directory, _, names in os.walk(root, followlinks=True):
    for name in names:
      if name.lower().endswith(PHOTO_SUFFIXES):
        path = Path(directory) / name
        refs.append(SourceRef(path.relative_to(root).as_posix(), str(path)))
  return sorted(refs, key=lambda ref: ref.source_id)


def list_imagenet_tar(tar_path: Path) -> list[SourceRef]:
  """Members of ILSVRC2012_img_train.tar: a tar of per-synset tars of JPEGs.

  Only tar headers are read (the outer file is seekable), so listing 1.28M images costs
  seconds to minutes, not a pass over 138 GB; workers later read each JPEG's byte range.
  """
  refs = []
  with open(tar_path, "rb") as raw, tarfile.open(fileobj=raw, mode="r:") as outer:
    for synset_member in outer:
      if not (synset_member.isfile() and synset_member.name.endswith(".tar")):
        continue
      synset = Path(synset_member.name).stem
      refs.extend(_list_synset_tar(raw, tar_path, synset, synset_member))
  return sorted(refs, key=lambda ref: ref.source_id)


def _list_synset_tar(raw, tar_path: Path, synset: str, member: tarfile.TarInfo) -> list[SourceRef]:
  """JPEG members of one inner tar, with offsets absolute in the outer file."""
  start, end = member.offset_data, member.offset_data + member.size
  raw.seek(start)
  refs = []
  try:
    with tarfile.open(fileobj=raw, mode="r:") as inner:
      for image in inner:
        inside = image.isfile() and image.offset_data + image.size <= end
        if inside and image.name.lower().endswith(PHOTO_SUFFIXES):
          source_id = f"{synset}/{Path(image.name).name}"
          refs.append(SourceRef(source_id, str(tar_path), image.offset_data, image.size))
  except tarfile.TarError:
    pass  # a damaged synset tar contributes the members read before the damage
  return refs


def read_bytes(ref: SourceRef) -> bytes:
  """The encoded bytes of one source (a whole file, or its slice of the tar)."""
  with open(ref.path, "rb") as file:
    if ref.size < 0:
      return file.read()
    file.seek(ref.offset)
    return file.read(ref.size)


@dataclasses.dataclass
class SourceReport:
  """Sources used per split, skipped per reason, converted per kind (cmyk, alpha, ...)."""

  used: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  converted: collections.Counter = dataclasses.field(default_factory=collections.Counter)

  def add(self, split: str, skipped: str | None, conversions: tuple[str, ...]) -> None:
    if skipped:
      self.skipped[skipped] += 1
      return
    self.used[split] += 1
    self.converted.update(conversions)

  def add_count(self, kind: str, key: str, count: int) -> None:
    """Adds a count by its flat name, e.g. ("skipped", "truncated", 3) from Beam counters."""
    getattr(self, kind)[key] += count

  def as_metadata(self) -> dict[str, dict[str, int]]:
    return {
      "sources_used": dict(sorted(self.used.items())),
      "sources_skipped": dict(sorted(self.skipped.items())),
      "sources_converted": dict(sorted(self.converted.items())),
    }

  def summary(self) -> str:
    def fmt(counter):
      return ", ".join(f"{key} {count}" for key, count in sorted(counter.items())) or "none"

    return f"sources used: {fmt(self.used)}; skipped: {fmt(self.skipped)}; converted: {fmt(self.converted)}"

  def log(self, dataset: str) -> None:
    logging.info("%s: %s", dataset, self.summary())
