"""The raw copy of a built dataset: its pixels as stored uint8 arrays, read without decoding.

Decoding a 224x224 PNG costs ~1.7 ms of CPU, so a host core feeds ~300-450 images/s from the
PNG build; reading the same pixels from a raw copy costs ~0.05 ms. The copy lives inside the tfds
build it was made from (`<data_dir>/<dataset>/<config>/<version>/raw/`), so it goes with it:

  manifest.json              format, version, the build's fingerprint, splits, feature kinds
  <split>.<image>.npy        (N, H, W, 3) uint8, C order: one fixed-size record per example
  <split>.features.npy       (N,) structured array of every other feature, in tfds' dtypes
                             (ClassLabel int64, Scalar/Tensor as declared, Text as fixed-width bytes)

`python -m dclf.data convert-raw NAME` writes it (`dclf.data.raw_writer`); `RawSource` reads it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from dclf.errors import DataError

FORMAT = "dclf-raw"
FORMAT_VERSION = 1
RAW_DIR = "raw"
ALIGNMENT = 4096  # jax.device_put on the CPU backend aliases (does not copy) buffers aligned like this


def dataset_name(builder) -> str:
  """'dataset/config', as the commands take it."""
  return f"{builder.name}/{builder.builder_config.name}"


def convert_command(builder) -> str:
  return f"python -m dclf.data convert-raw {dataset_name(builder)} --data_dir {builder.data_dir_root}"


def feature_layout(features) -> tuple[list[str], dict[str, tuple[str, tuple[int, ...], str]]]:
  """(image feature names, {other feature: (numpy dtype str, shape, kind)}) of a tfds FeaturesDict;
  kind is `scalar` (tfds decodes it to a Python number), `tensor` (an array) or `text` (bytes)."""
  images, others = [], {}
  for name, feature in features.items():
    if isinstance(feature, tfds.features.Image):
      if None in feature.shape or feature.np_dtype != np.uint8:
        raise DataError(f"image feature {name!r} ({feature.shape}, {feature.np_dtype}) has no raw form")
      images.append(name)
    elif isinstance(feature, tfds.features.Text):
      others[name] = ("S", (), "text")  # the width comes from the data
    elif isinstance(feature, tfds.features.ClassLabel):
      others[name] = (np.dtype(feature.np_dtype).str, (), "scalar")
    elif type(feature) in (tfds.features.Scalar, tfds.features.Tensor) and None not in feature.shape:
      shape = tuple(feature.shape)
      others[name] = (np.dtype(feature.np_dtype).str, shape, "tensor" if shape else "scalar")
    else:
      raise DataError(f"feature {name!r} ({type(feature).__name__} {feature.shape}) has no raw form")
  if not images:
    raise DataError("the dataset has no image feature")
  return images, others


def fingerprint(version_dir: Path) -> str:
  """Identifies a build: its metadata files and its shards' names and sizes."""
  digest = hashlib.sha256()
  for meta in ("dataset_info.json", "features.json"):
    digest.update((version_dir / meta).read_bytes())
  for shard in sorted(version_dir.glob("*.array_record-*")):
    digest.update(f"{shard.name}:{shard.stat().st_size}\n".encode())
  return digest.hexdigest()


def read_manifest(raw: Path) -> dict:
  try:
    manifest = json.loads((Path(raw) / "manifest.json").read_text())
  except (OSError, ValueError) as e:
    raise DataError(f"{raw} is not a raw dataset copy: {e}") from None
  if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
    raise DataError(f"{raw}: unknown format {manifest.get('format')!r} version {manifest.get('version')!r}")
  return manifest


def has_copy(builder) -> bool:
  return (Path(builder.data_path) / RAW_DIR / "manifest.json").exists()


def aligned_empty(shape, dtype=np.uint8) -> np.ndarray:
  """An uninitialised array whose data starts on an ALIGNMENT boundary (numpy's own large
  allocations start 16 bytes past a page, and device_put then copies them)."""
  nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
  buffer = np.empty(nbytes + ALIGNMENT, np.uint8)
  offset = (-buffer.ctypes.data) % ALIGNMENT
  return buffer[offset : offset + nbytes].view(dtype).reshape(shape)


def _batched_dtype(field: np.dtype, kind: str) -> np.dtype:
  """The dtype np.stack gives tfds' decoded values: Python ints -> int64, floats -> float64."""
  if kind == "scalar" and field.kind in "iub":
    return np.dtype(np.bool_ if field.kind == "b" else np.int64)
  if kind == "scalar" and field.kind == "f":
    return np.dtype(np.float64)
  return field


class RawSource:
  """Random access to a raw copy, as `tfds.data_source` gives the PNG build: len, and [i] -> the
  same feature dict (same types); `gather(indices, keys)` -> the batch np.stack of those would be,
  read straight into one aligned buffer per image feature.

  Images are read with os.preadv (no mapping: no page-table warm-up per process and epoch, no
  SIGBUS if the file changes, the GIL released during the copy). Pickles as its paths (each
  worker process opens the files itself).
  """

  def __init__(self, raw: str | os.PathLike, segments: list[tuple[str, int, int]], spec: str):
    self._raw, self._segments, self._spec = Path(raw), list(segments), spec
    manifest = read_manifest(self._raw)
    self._image_keys = tuple(manifest["image_features"])
    self._kinds = {k: v["kind"] for k, v in manifest["features"].items()}
    for split, start, stop in self._segments:
      if split not in manifest["splits"] or not 0 <= start <= stop <= manifest["splits"][split]["num_examples"]:
        raise DataError(f"{raw}: no records {start}..{stop} in split {split!r}")
    self._bounds = np.cumsum([0] + [stop - start for _, start, stop in self._segments])
    self._files = None

  def _open(self) -> dict:
    """Per split: ({image feature: (file descriptor, data offset, record shape)}, features table)."""
    if self._files is None:
      files = {}
      for split in dict.fromkeys(s for s, _, _ in self._segments):
        images = {}
        for key in self._image_keys:
          path = self._raw / f"{split}.{key}.npy"
          header = np.load(path, mmap_mode="r")  # parses the .npy header
          images[key] = (os.open(path, os.O_RDONLY), header.offset, header.shape[1:])
          del header
        files[split] = (images, np.load(self._raw / f"{split}.features.npy"))
      self._files = files
    return self._files

  def close(self, _close=os.close) -> None:  # (os.close bound early: __del__ may run at interpreter exit)
    if self._files is not None:
      for images, _ in self._files.values():
        for fd, _, _ in images.values():
          _close(fd)
      self._files = None

  def __del__(self):
    self.close()

  def __getstate__(self):
    return {**self.__dict__, "_files": None}

  def __len__(self) -> int:
    return int(self._bounds[-1])

  def __repr__(self) -> str:
    return f"RawSource({self._raw}, split={self._spec!r})"

  @property
  def image_shape(self) -> tuple[int, ...]:
    return tuple(self._open()[self._segments[0][0]][0][self._image_keys[0]][2])

  def _read(self, split: str, key: str, rows, out: np.ndarray) -> None:
    """Copies the image records `rows` of `split` into `out`, one per row."""
    fd, offset, shape = self._open()[split][0][key]
    size = int(np.prod(shape))
    for row, buffer in zip(rows, out):
      if os.preadv(fd, [buffer], offset + int(row) * size) != size:
        raise DataError(f"{self._raw}/{split}.{key}.npy: short read at record {row} (the file changed?)")

  def _rows(self, indices: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(split, positions in `indices`, rows in that split) for each segment `indices` touch."""
    if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
      raise IndexError(f"record indices out of range 0..{len(self) - 1}")
    segment = np.searchsorted(self._bounds, indices, side="right") - 1
    parts = []
    for s, (split, start, _) in enumerate(self._segments):
      members = np.nonzero(segment == s)[0]
      if members.size:
        parts.append((split, members, indices[members] - self._bounds[s] + start))
    return parts

  def __getitem__(self, index) -> dict:
    batch = self.gather([int(index)], self._image_keys + tuple(self._kinds))
    example = {key: batch[key][0].copy() for key in self._image_keys}
    for key, kind in self._kinds.items():
      example[key] = batch[key][0].copy() if kind == "tensor" else batch[key][0].item()
    return example

  def gather(self, indices, keys, crops=None, crop_size: int = 0) -> dict:
    """The batch of records `indices` (in that order) for features `keys`; with `crops` (top, left
    per record) the `crop_size` window of each image."""
    indices = np.asarray(indices, np.int64).reshape(-1)
    parts = self._rows(indices)
    tables = {split: table for split, (_, table) in self._open().items()}
    batch = {}
    for key in keys:
      if key in self._image_keys:
        out = aligned_empty((len(indices), *self._open()[self._segments[0][0]][0][key][2]))
        for split, members, rows in parts:
          if members.size == len(indices):
            self._read(split, key, rows, out)
          else:
            part = np.empty((members.size, *out.shape[1:]), np.uint8)
            self._read(split, key, rows, part)
            out[members] = part
        if crops is not None:
          cropped = aligned_empty((len(indices), crop_size, crop_size, *out.shape[3:]))
          for image, full, (top, left) in zip(cropped, out, crops):
            image[...] = full[top : top + crop_size, left : left + crop_size]
          out = cropped
      else:
        field = next(iter(tables.values())).dtype[key]
        base, shape = field.subdtype or (field, ())
        out = np.empty((len(indices), *shape), _batched_dtype(base, self._kinds[key]))
        for split, members, rows in parts:
          out[members] = tables[split][key][rows]
        if self._kinds[key] == "text":  # as wide as the batch's longest, as np.stack makes it
          out = out.astype(f"S{max([len(v) for v in out.tolist()] + [1])}")
      batch[key] = out
    return batch


def open_source(builder, split: str) -> RawSource:
  """The raw copy of `split` (tfds slicing allowed, e.g. 'train[:10%]') of a built dataset; DataError
  with the convert command when it has none, or one made from another build."""
  version_dir = Path(builder.data_path)
  raw = version_dir / RAW_DIR
  name = dataset_name(builder)
  if not has_copy(builder):
    raise DataError(f"{name} has no raw copy in {version_dir}; make it with: {convert_command(builder)}")
  if read_manifest(raw)["fingerprint"] != fingerprint(version_dir):
    raise DataError(f"the raw copy in {raw} was made from another build of {name}; redo it: {convert_command(builder)}")
  try:
    instructions = tfds.core.ReadInstruction.from_spec(split).to_absolute(builder.info.splits)
  except (ValueError, KeyError, AssertionError) as e:
    raise DataError(f"bad split {split!r} of {name}: {e}") from None
  sizes = {k: v.num_examples for k, v in builder.info.splits.items()}
  segments = [(i.splitname, i.from_ or 0, sizes[i.splitname] if i.to is None else i.to) for i in instructions]
  return RawSource(raw, segments, split)
