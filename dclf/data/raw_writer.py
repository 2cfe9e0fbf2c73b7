"""Writes and checks the raw copy of a built dataset (`dclf.data.raw`): `python -m dclf.data
convert-raw NAME` and `verify-raw NAME`.

Conversion writes `raw.incomplete-<random>/` beside the build and renames it to `raw/` only when
every split is written, flushed and checked, so a killed conversion never reads as complete; the
next one removes the leftover. The check is bit for bit against the PNG build: worker processes
decode the PNGs with tfds' own decoder, write the pixels and hash what they decoded; the written
files are then read back and hashed again (and `verify-raw` decodes everything a second time).

A conversion that cannot finish leaves nothing behind and ends with one line: the disk's room is
checked first, the image files are allocated whole before any pixel is decoded (posix_fallocate,
so the disk filling later cannot fail their writes), pixels are written with pwrite (a full disk
is an OSError naming the file, where a write into a memory map is a SIGBUS that kills the
process), a dead worker process fails the pool (`OrderedPool`), and SIGINT / SIGTERM stop it
after the chunk under way.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import shutil
import signal
import threading
import uuid
from pathlib import Path

import numpy as np

from dclf.data import catalog, png_build, raw
from dclf.data.builder_base import OrderedPool, exclusive
from dclf.errors import DataError, Interrupted, RunError

_CHUNK = 256  # examples per conversion task, at most
_TASKS_PER_WORKER = 4  # a split is cut into at least this many tasks per worker, so that every worker has work
_TEXT_BYTES = 64  # the room counted for each text feature of an example (its width is known only once decoded)
_HEADERS_BYTES = 1 << 20  # the room counted for the .npy headers and the manifest
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _png_source(name: str, data_dir: str | None, split: str):
  builder_cls, config = catalog.parse(name)
  return png_build.PngSource(builder_cls(config=config.name, data_dir=data_dir), split)


@contextlib.contextmanager
def _naming(path):
  """An OSError inside names `path` (os.pwrite, posix_fallocate and buffered writes name no file)."""
  try:
    yield
  except OSError as e:
    if e.filename is not None:
      raise
    raise OSError(e.errno, e.strerror, str(path)) from None


def _write_at(path: str, data: np.ndarray, position: int) -> None:
  """Writes `data` (C-contiguous) at byte `position` of the file at `path`."""
  with _naming(path):
    fd = os.open(path, os.O_WRONLY)
    try:
      view = memoryview(data).cast("B")
      while view:
        written = os.pwrite(fd, view, position)
        view, position = view[written:], position + written
    finally:
      os.close(fd)


def _read_at(path: str, shape: tuple, position: int) -> np.ndarray:
  out = np.empty(shape, np.uint8)
  fd = os.open(path, os.O_RDONLY)
  try:
    if os.preadv(fd, [out], position) != out.nbytes:
      raise DataError(f"{path}: short read at byte {position} (the file changed?)")
  finally:
    os.close(fd)
  return out


def _allocate(path: Path, shape: tuple) -> int:
  """Creates the `.npy` file of a uint8 array of `shape` with its whole size allocated on disk
  (not a sparse file, whose writes can fail later); returns the data's offset. Where the
  filesystem cannot allocate ahead, the file is sparse: its writes still fail with an OSError."""
  with _naming(path), open(path, "wb") as file:
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(file, header)
    offset = file.tell()
    file.flush()
    try:
      os.posix_fallocate(file.fileno(), 0, offset + math.prod(shape))
    except OSError as e:
      if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
        raise
      file.truncate(offset + math.prod(shape))
  return offset


def _decode_chunk(task: tuple) -> tuple[list[dict], str]:
  """Worker: decodes examples [start, stop) of a split from the PNG build, writes their images into
  the split's image files and returns their other features and the hash of the decoded pixels."""
  name, data_dir, split, start, stop, images, other_keys = task
  source = _png_source(name, data_dir, split)
  pixels = {key: np.empty((stop - start, size), np.uint8) for key, (_, _, size) in images.items()}
  rows, digest = [], hashlib.sha256()
  for row, index in enumerate(range(start, stop)):
    example = source[index]
    for key, block in pixels.items():
      decoded = np.ascontiguousarray(example[key])
      block[row] = decoded.reshape(-1)
      digest.update(decoded.tobytes())
    rows.append({key: example[key] for key in other_keys})
  for key, (path, offset, size) in images.items():
    _write_at(path, pixels[key], offset + start * size)
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
  """The hash of records [start, stop) as written: {key: (path, offset, record bytes)}."""
  blocks = {
    key: _read_at(path, (stop - start, size), offset + start * size) for key, (path, offset, size) in images.items()
  }
  digest = hashlib.sha256()
  for row in range(stop - start):
    for block in blocks.values():
      digest.update(block[row].tobytes())
  return digest.hexdigest()


def _chunk_size(count: int, workers: int) -> int:
  return max(1, min(_CHUNK, -(-count // (max(workers, 1) * _TASKS_PER_WORKER))))


def _convert_split(builder, split: str, out: Path, pool: OrderedPool, stop: _Signals) -> dict:
  features = builder.info.features
  image_keys, layout = raw.feature_layout(features)
  count = builder.info.splits[split].num_examples
  images = {}
  for key in image_keys:
    path = out / f"{split}.{key}.npy"
    shape = (count, *features[key].shape)
    images[key] = (str(path), _allocate(path, shape), math.prod(shape[1:]))
  data_dir = str(builder.data_dir_root)
  chunk = _chunk_size(count, pool.workers)
  bounds = [(s, min(s + chunk, count)) for s in range(0, count, chunk)]
  tasks = [(raw.dataset_name(builder), data_dir, split, a, b, images, list(layout)) for a, b in bounds]
  rows, digests = [], []
  for chunk_rows, digest in pool.map(_decode_chunk, tasks, desc=f"{split}, {chunk} examples per chunk", unit=" chunks"):
    stop.check()
    rows += chunk_rows
    digests.append(digest)
  table = _features_table(rows, layout)
  features_path = out / f"{split}.features.npy"
  with _naming(features_path):
    np.save(features_path, table)
  for path in [*(path for path, _, _ in images.values()), features_path]:
    _fsync(Path(path))
  for (start, end), digest in zip(bounds, digests):
    stop.check()
    if _image_hash(images, start, end) != digest:
      raise DataError(f"{split}: examples {start}..{end - 1} read back differ from the PNG decode")
  if np.load(features_path).tobytes() != table.tobytes():
    raise DataError(f"{split}: the features read back differ from what was written")
  return {"num_examples": count, "images": {key: [count, *features[key].shape] for key in image_keys}}


class _Signals:
  """SIGINT and SIGTERM while a conversion runs (in the main thread): the first stops it at the next
  `check` (after each chunk), a second at once; either way as `Interrupted`, so that the partial
  copy is removed and the command ends with one line. Later signals are ignored while it cleans up;
  one that came when no check was left is delivered again, to the handler before, on the way out."""

  def __init__(self):
    self.received = None  # the first signal's name
    self._signum = None
    self._raised = False
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    if self.received is None:
      self.received, self._signum = signal.Signals(signum).name, signum
    elif not self._raised:
      self.check()

  def check(self) -> None:
    if self.received is not None and not self._raised:
      self._raised = True
      raise Interrupted(self.received)

  def report(self, what: str) -> Interrupted | None:
    """The Interrupted a stopped conversion ends with (None if no signal came): `what` was done."""
    if self.received is None:
      return None
    self._raised = True
    return Interrupted(f"interrupted ({self.received}): {what}")

  def __enter__(self) -> _Signals:
    if threading.current_thread() is threading.main_thread():
      for signum in (signal.SIGINT, signal.SIGTERM):
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    if self._signum is not None and not self._raised:
      signal.raise_signal(self._signum)


def _discard(folder: Path) -> None:
  """Removes `folder`, first renamed to a `raw.incomplete-*` name (unless it has one) so that a
  removal cut short never leaves a copy that looks whole: the next conversion removes the rest."""
  if not folder.name.startswith(f"{raw.RAW_DIR}.incomplete-"):
    aside = folder.with_name(f"{raw.RAW_DIR}.incomplete-{uuid.uuid4().hex[:8]}")
    os.rename(folder, aside)
    folder = aside
  shutil.rmtree(folder, ignore_errors=True)


def needed_bytes(builder) -> int:
  """The disk space the raw copy of `builder` takes (text features counted at `_TEXT_BYTES`)."""
  features = builder.info.features
  image_keys, layout = raw.feature_layout(features)
  per_example = sum(math.prod(features[key].shape) for key in image_keys)
  for dtype, shape, kind in layout.values():
    per_example += _TEXT_BYTES if kind == "text" else np.dtype(dtype).itemsize * math.prod(shape)
  return per_example * sum(split.num_examples for split in builder.info.splits.values()) + _HEADERS_BYTES


def _size(nbytes: int) -> str:
  return f"{nbytes / 1e9:.2f} GB ({nbytes:,} bytes)" if nbytes >= 1e9 else f"{nbytes / 1e6:.1f} MB ({nbytes:,} bytes)"


def _room(folder: Path) -> str:
  """The free space of the disk of `folder`, as the error messages say it."""
  stats = os.statvfs(folder)
  free = f"the disk has {_size(stats.f_bavail * stats.f_frsize)} free"
  return free + (" and no free inodes" if stats.f_files and not stats.f_favail else "")


def _reported(e: BaseException, stop: _Signals, name: str, version_dir: Path, needed: int) -> BaseException:
  """What a conversion that failed with `e`, its partial copy removed, reports: a signal it received
  (also when it ended a worker before the worker ignored it), a disk without room, or `e` itself."""
  interrupted = stop.report(f"the partial raw copy of {name} was removed; rerun the command to convert it")
  if interrupted is not None:
    return interrupted
  if isinstance(e, OSError) and e.errno in _NO_ROOM:
    where = f" ({e.filename})" if e.filename else ""
    return RunError(
      f"cannot write the raw copy of {name} in {version_dir}: {e.strerror}{where}; it needs {_size(needed)}, "
      f"{_room(version_dir)} now; the partial copy was removed"
    )
  return e


def convert(builder, workers: int | None = None, log=print) -> Path:
  """Writes the raw copy of every split of the built dataset `builder`; returns its folder.

  A readable copy of the same build is kept; a copy of another build, or a damaged one, is removed
  first (it cannot be read; its room is needed) and written again. RunError, with nothing left
  behind, when the disk has no room for the copy; Interrupted on SIGINT / SIGTERM."""
  version_dir = Path(builder.data_path)
  name = raw.dataset_name(builder)
  raw.feature_layout(builder.info.features)  # fails before any work
  target = version_dir / raw.RAW_DIR
  busy = f"another process is building or converting {name} in {version_dir.parent}"
  with exclusive(version_dir.parent, busy), _Signals() as stop:
    for leftover in version_dir.glob(f"{raw.RAW_DIR}.incomplete-*"):
      shutil.rmtree(leftover, ignore_errors=True)
    problem = raw.copy_problem(builder)
    if problem is None:
      log(f"{name}: the raw copy in {target} is up to date")
      return target
    if raw.has_copy(builder):
      log(f"{name}: {problem}; replacing it")
      _discard(target)
    for split in builder.info.splits:
      png_build.check_shards(builder, split)  # a damaged build fails before any work
    needed = needed_bytes(builder)
    stats = os.statvfs(version_dir)
    if stats.f_bavail * stats.f_frsize < needed:
      raise RunError(
        f"no room for the raw copy of {name} in {version_dir}: it needs {_size(needed)}, {_room(version_dir)}; "
        "free some, or convert a build on a disk with room (--data_dir)"
      )
    tmp = version_dir / f"{raw.RAW_DIR}.incomplete-{uuid.uuid4().hex[:8]}"
    try:
      tmp.mkdir()
      with OrderedPool(workers, chunksize=1) as pool:
        splits = {split: _convert_split(builder, split, tmp, pool, stop) for split in builder.info.splits}
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
      with _naming(tmp / "manifest.json"):
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
      _fsync(tmp / "manifest.json")
      _fsync(tmp)
      stop.check()
      os.rename(tmp, target)
      _fsync(version_dir)
    except BaseException as e:
      _discard(tmp)
      raise _reported(e, stop, name, version_dir, needed) from None
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
    png = png_build.PngSource(builder, split)
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
