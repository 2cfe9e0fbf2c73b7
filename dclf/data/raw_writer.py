"""Writes and checks the raw copy of a built dataset (`dclf.data.raw`): `python -m dclf.data
convert-raw NAME` and `verify-raw NAME`.

Conversion writes `raw.incomplete-<random>/` beside the build and renames it to `raw/` only when
every split is written, flushed and checked, so a killed conversion never reads as complete; the
next one removes the leftover. The check is bit for bit against the PNG build: worker processes
decode the PNGs with tfds' own decoder, write the pixels and hash what they decoded; the written
files are then read back and hashed again (and `verify-raw` decodes everything a second time).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from dclf.data import catalog, raw
from dclf.data.builder_base import OrderedPool, exclusive
from dclf.errors import DataError

_CHUNK = 256  # examples per conversion task


def _png_source(name: str, data_dir: str | None, split: str):
  builder_cls, config = catalog.parse(name)
  return builder_cls(config=config.name, data_dir=data_dir).as_data_source(split=split)


def _decode_chunk(task: tuple) -> tuple[list[dict], str]:
  """Worker: decodes examples [start, stop) of a split from the PNG build, writes their images into
  the split's image files and returns their other features and the hash of the decoded pixels."""
  name, data_dir, split, start, stop, image_paths, other_keys = task
  source = _png_source(name, data_dir, split)
  files = {key: np.load(path, mmap_mode="r+") for key, path in image_paths.items()}
  rows, digest = [], hashlib.sha256()
  for index in range(start, stop):
    example = source[index]
    for key, file in files.items():
      pixels = np.ascontiguousarray(example[key])
      file[index] = pixels
      digest.update(pixels.tobytes())
    rows.append({key: example[key] for key in other_keys})
  for file in files.values():
    file.flush()
  return rows, digest.hexdigest()


def _features_table(rows: list[dict], layout: dict) -> np.ndarray:
  fields = []
  for key, (dtype, shape, kind) in layout.items():
    if kind == "text":
      values = [row[key] for row in rows]
      if any(not isinstance(v, bytes) or v.endswith(b"\0") for v in values):
        raise DataError(f"text feature {key!r} holds a value numpy cannot store losslessly (a trailing NUL)")
      dtype = f"S{max([len(v) for v in values] + [1])}"
    fields.append((key, dtype, shape))
  table = np.zeros(len(rows), np.dtype(fields))
  for key in layout:
    table[key] = [row[key] for row in rows]
  return table


def _fsync(path: Path) -> None:
  fd = os.open(path, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def _image_hash(images: dict, start: int, stop: int) -> str:
  digest = hashlib.sha256()
  for index in range(start, stop):
    for file in images.values():
      digest.update(np.ascontiguousarray(file[index]).tobytes())
  return digest.hexdigest()


def _convert_split(builder, split: str, out: Path, pool: OrderedPool) -> dict:
  features = builder.info.features
  image_keys, layout = raw.feature_layout(features)
  count = builder.info.splits[split].num_examples
  image_paths = {}
  for key in image_keys:
    path = out / f"{split}.{key}.npy"
    np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(count, *features[key].shape)).flush()
    image_paths[key] = str(path)
  data_dir = str(builder.data_dir_root)
  starts = range(0, count, _CHUNK)
  tasks = [
    (raw.dataset_name(builder), data_dir, split, s, min(s + _CHUNK, count), image_paths, list(layout)) for s in starts
  ]
  rows, digests = [], []
  for chunk_rows, digest in pool.map(
    _decode_chunk, tasks, desc=f"{split}, {_CHUNK} examples per chunk", unit=" chunks"
  ):
    rows += chunk_rows
    digests.append(digest)
  table = _features_table(rows, layout)
  np.save(out / f"{split}.features.npy", table)
  for path in [*image_paths.values(), out / f"{split}.features.npy"]:
    _fsync(Path(path))
  written = {key: np.load(path, mmap_mode="r") for key, path in image_paths.items()}
  for start, digest in zip(starts, digests):
    stop = min(start + _CHUNK, count)
    if _image_hash(written, start, stop) != digest:
      raise DataError(f"{split}: examples {start}..{stop - 1} read back differ from the PNG decode")
  if np.load(out / f"{split}.features.npy").tobytes() != table.tobytes():
    raise DataError(f"{split}: the features read back differ from what was written")
  return {"num_examples": count, "images": {key: list(written[key].shape) for key in image_keys}}


def _replace(old: Path, new: Path) -> None:
  """Renames `new` to `old`, moving an existing `old` aside first (so `old` is always whole)."""
  if old.exists():
    stale = old.with_name(f"{raw.RAW_DIR}.incomplete-stale-{uuid.uuid4().hex[:8]}")
    os.rename(old, stale)
    shutil.rmtree(stale, ignore_errors=True)
  os.rename(new, old)


def convert(builder, workers: int | None = None, log=print) -> Path:
  """Writes the raw copy of every split of the built dataset `builder`; returns its folder.

  A complete copy of the same build is kept; a copy of another build is replaced."""
  version_dir = Path(builder.data_path)
  name = raw.dataset_name(builder)
  raw.feature_layout(builder.info.features)  # fails before any work
  target = version_dir / raw.RAW_DIR
  with exclusive(version_dir.parent, f"another process is building or converting {name} in {version_dir.parent}"):
    for leftover in version_dir.glob(f"{raw.RAW_DIR}.incomplete-*"):
      shutil.rmtree(leftover, ignore_errors=True)
    if raw.has_copy(builder):
      try:
        if raw.read_manifest(target)["fingerprint"] == raw.fingerprint(version_dir):
          log(f"{name}: the raw copy in {target} is up to date")
          return target
      except DataError:
        pass
      log(f"{name}: {target} was made from another build or is damaged; replacing it")
    tmp = version_dir / f"{raw.RAW_DIR}.incomplete-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
      with OrderedPool(workers, chunksize=1) as pool:
        splits = {split: _convert_split(builder, split, tmp, pool) for split in builder.info.splits}
      image_keys, layout = raw.feature_layout(builder.info.features)
      manifest = {
        "format": raw.FORMAT,
        "version": raw.FORMAT_VERSION,
        "dataset": name,
        "fingerprint": raw.fingerprint(version_dir),
        "image_features": image_keys,
        "features": {key: {"kind": kind} for key, (_, _, kind) in layout.items()},
        "splits": splits,
      }
      (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
      _fsync(tmp / "manifest.json")
      _fsync(tmp)
      _replace(target, tmp)
      _fsync(version_dir)
    except BaseException:
      shutil.rmtree(tmp, ignore_errors=True)
      raise
  return target


def _same(a, b) -> bool:
  if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
    return type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
  return type(a) is type(b) and a == b


def verify(builder, splits=None, every: int = 1, log=print) -> int:
  """Decodes the PNG build again and compares every `every`-th example of `splits` (default: all)
  with the raw copy, every feature, type and bits. Returns how many were compared; DataError at
  the first difference."""
  compared = 0
  for split in splits or list(builder.info.splits):
    copy = raw.open_source(builder, split)
    png = builder.as_data_source(split=split)
    if len(png) != len(copy):
      raise DataError(f"{split}: {len(copy)} examples in the raw copy, {len(png)} in the PNG build")
    indices = range(0, len(png), every)
    for index in indices:
      a, b = png[index], copy[index]
      different = sorted(
        key for key in a.keys() | b.keys() if key not in a or key not in b or not _same(a[key], b[key])
      )
      if different:
        raise DataError(f"{split}[{index}]: {', '.join(different)} differ from the PNG build")
    compared += len(indices)
    log(f"{split}: {len(indices)} of {len(png)} examples identical to the PNG build")
  return compared


def disk_bytes(folder: Path) -> int:
  return sum(p.stat().st_size for p in Path(folder).iterdir())
