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
import math
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
  for meta in ("dataset_info.json", "features.json"):  # (tfds reads a build without features.json)
    digest.update((version_dir / meta).read_bytes() if (version_dir / meta).exists() else b"-")
  for shard in sorted(version_dir.glob("*.array_record-*")):
    digest.update(f"{shard.name}:{shard.stat().st_size}\n".encode())
  return digest.hexdigest()


KINDS = ("scalar", "tensor", "text")


def read_manifest(raw: Path) -> dict:
  """The manifest of the raw copy in `raw`, checked field by field; DataError saying what is wrong
  (naming the file without its folder)."""
  path = Path(raw) / "manifest.json"
  name = path.name
  try:
    manifest = json.loads(path.read_bytes())
  except FileNotFoundError:
    raise DataError(f"{name} is missing") from None
  except OSError as e:
    raise DataError(f"{name}: {e.strerror}") from None
  except ValueError as e:  # UnicodeDecodeError included
    raise DataError(f"{name} is not JSON ({e})") from None
  if not isinstance(manifest, dict):
    raise DataError(f"{name} holds a JSON {type(manifest).__name__}, not an object")
  if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
    raise DataError(
      f"{name}: format {manifest.get('format')!r} version {manifest.get('version')!r}, "
      f"not {FORMAT!r} version {FORMAT_VERSION} (made by another version of dclf?)"
    )
  for field, (valid, expected) in _MANIFEST_FIELDS.items():
    if field not in manifest or not valid(manifest[field], manifest):
      raise DataError(f"{name}: {field!r} is {'missing' if field not in manifest else 'not ' + expected}")
  return manifest


def _names(value) -> bool:
  return isinstance(value, list) and all(isinstance(name, str) for name in value)


def _split_entry(entry, manifest) -> bool:
  """{"num_examples": N, "images": {image feature: [N, H, W, C]}}."""
  if not isinstance(entry, dict) or type(entry.get("num_examples")) is not int or entry["num_examples"] < 0:
    return False
  images = entry.get("images")
  return (
    isinstance(images, dict)
    and _names(manifest.get("image_features"))
    and sorted(images) == sorted(manifest["image_features"])
    and all(
      isinstance(shape, list)
      and len(shape) == 4
      and all(type(n) is int and n >= 0 for n in shape)
      and shape[0] == entry["num_examples"]
      for shape in images.values()
    )
  )


# field: (check, what it must be)
_MANIFEST_FIELDS = {
  "dataset": (lambda v, m: isinstance(v, str), "a string"),
  "fingerprint": (lambda v, m: isinstance(v, str), "a string"),
  "image_features": (lambda v, m: _names(v) and len(v) > 0, "a non-empty list of feature names"),
  "features": (
    lambda v, m: isinstance(v, dict) and all(isinstance(f, dict) and f.get("kind") in KINDS for f in v.values()),
    f"an object of feature names to {{'kind': {' | '.join(KINDS)}}}",
  ),
  "splits": (
    lambda v, m: isinstance(v, dict) and all(_split_entry(e, m) for e in v.values()),
    "an object of split names to {'num_examples': N, 'images': {feature: [N, height, width, channels]}}",
  ),
}


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
  """(shape, dtype, data offset) of a C-order `.npy` file, read from its header (no mapping, which
  a truncated file would answer with a ValueError, or a SIGBUS later); DataError if it has none
  (naming the file without its folder)."""
  name = Path(path).name
  try:
    with open(path, "rb") as file:
      version = np.lib.format.read_magic(file)
      if version not in ((1, 0), (2, 0)):
        raise ValueError(f".npy format version {version}")
      read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
      shape, fortran_order, dtype = read(file)
      offset = file.tell()
  except FileNotFoundError:
    raise DataError(f"{name} is missing") from None
  except OSError as e:
    raise DataError(f"{name}: {e.strerror}") from None
  except ValueError as e:
    raise DataError(f"{name} is not a .npy file ({' '.join(str(e).split())})") from None
  if fortran_order:
    raise DataError(f"{name} holds a Fortran-order array")
  return shape, dtype, offset


def _check_file(path: Path, shape: tuple, dtype_ok, expected: str) -> None:
  """DataError unless the `.npy` at `path` holds `shape` of a dtype `dtype_ok` accepts, all of it."""
  found, dtype, offset = npy_header(path)
  if found != shape or not dtype_ok(dtype):
    raise DataError(f"{path.name} holds a {found} {dtype} array, not {shape} {expected}")
  size, expected_size = path.stat().st_size, offset + math.prod(shape) * dtype.itemsize
  if size != expected_size:
    raise DataError(
      f"{path.name} holds {size:,} bytes, not {expected_size:,} ({'truncated' if size < expected_size else 'too long'})"
    )


def check_files(raw: Path, manifest: dict) -> None:
  """Every file a (checked) manifest names is there, with the header and the size it says."""
  for split, entry in manifest["splits"].items():
    for key, shape in entry["images"].items():
      _check_file(Path(raw) / f"{split}.{key}.npy", tuple(shape), lambda d: d == np.uint8, "uint8")
    fields = sorted(manifest["features"])
    _check_file(
      Path(raw) / f"{split}.features.npy",
      (entry["num_examples"],),
      lambda d: sorted(d.names or ()) == fields and not d.hasobject,
      f"structured array of {', '.join(fields) or 'no fields'}",
    )


def has_copy(builder) -> bool:
  """Whether the build has a raw copy, whole or not (`copy_problem` says which)."""
  return (Path(builder.data_path) / RAW_DIR).exists()


def copy_problem(builder) -> str | None:
  """Why the raw copy of a built dataset cannot be read (None: it can): there is none, it was made
  from another build, or it is damaged (its manifest's fields and types, each file's header and size
  against it, its splits and features against the build's)."""
  version_dir = Path(builder.data_path)
  raw = version_dir / RAW_DIR
  if not has_copy(builder):
    return f"{dataset_name(builder)} has no raw copy in {version_dir}"
  try:
    manifest = read_manifest(raw)
    if manifest["fingerprint"] != fingerprint(version_dir):
      return f"the raw copy in {raw} was made from another build of {dataset_name(builder)}"
    check_files(raw, manifest)
    _check_against_build(manifest, builder)
  except DataError as e:
    return f"cannot read the raw copy in {raw}: {e.message}"
  return None


def _check_against_build(manifest: dict, builder) -> None:
  images, layout = feature_layout(builder.info.features)
  splits = {name: split.num_examples for name, split in builder.info.splits.items()}
  if {name: entry["num_examples"] for name, entry in manifest["splits"].items()} != splits:
    raise DataError(f"manifest.json: its splits are not the build's ({splits})")
  kinds = {key: feature["kind"] for key, feature in manifest["features"].items()}
  if manifest["image_features"] != images or kinds != {key: kind for key, (_, _, kind) in layout.items()}:
    raise DataError("manifest.json: its features are not the build's")


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
    try:
      manifest = read_manifest(self._raw)
    except DataError as e:
      raise DataError(f"cannot read the raw copy in {raw}: {e.message}") from None
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
          shape, _, offset = npy_header(path)
          images[key] = (os.open(path, os.O_RDONLY), offset, shape[1:])
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
  with the convert command when it has none, or one that cannot be read (`copy_problem`)."""
  problem = copy_problem(builder)
  if problem is not None:
    fix = "make it" if not has_copy(builder) else "replace it"
    raise DataError(f"{problem}; {fix} with: {convert_command(builder)}")
  try:
    instructions = tfds.core.ReadInstruction.from_spec(split).to_absolute(builder.info.splits)
  except (ValueError, KeyError, AssertionError) as e:
    raise DataError(f"bad split {split!r} of {dataset_name(builder)}: {e}") from None
  sizes = {k: v.num_examples for k, v in builder.info.splits.items()}
  segments = [(i.splitname, i.from_ or 0, sizes[i.splitname] if i.to is None else i.to) for i in instructions]
  return RawSource(Path(builder.data_path) / RAW_DIR, segments, split)
