"""Batches for training and evaluation over random-access sources: what each batch holds, and the
loader that reads them in order.

A batch is the unit everywhere: training reads record b of `TrainBatches` (this process's slice of
global batch b) and evaluation record b of `EvalBatches`, in this process or in grain worker
processes that each read whole batches, in order. So a global batch holds the same examples, in
the same order and with the same crop windows, whatever the number of devices, processes or
workers, and for every format of the data (the raw copy reads a batch in one call, the PNG build
example by example). The training order is the one grain's `IndexSampler(shuffle=True, seed)`
draws (per-epoch `index_shuffle`, computed by `dclf.index_shuffle`; crop windows from
`Philox(seed + position)`), which dclf used before batches became the unit. A loader's position
(the next batch) is saved in checkpoints, so a resumed run sees the exact batches an
uninterrupted one would. Evaluation visits every example exactly once: the last batch is padded
and the padding masked, and every process runs the same number of batches.
"""

import json
import logging
import math
import os
import re
import sys
from collections.abc import Iterator

import grain
import jax
import numpy as np
from absl import flags

from dclf.errors import UsageError
from dclf.index_shuffle import epoch_permutation

MAX_AUTO_WORKERS = 16

# tfds decodes a dataset's PNGs with PIL when OpenCV is not installed, and says so at WARNING once
# in every process that decodes: each grain worker of each pass, 19 lines in one quickstart. PIL is
# dclf's choice (OpenCV decoded the sample dataset's 224x224 PNGs only slightly faster on a CPU:
# not worth a native dependency of tens of MB), so the notice stays out of the console.
# Installed here, where every worker process imports the pipeline's transforms.
logging.getLogger("absl").addFilter(lambda record: not str(record.msg).startswith("OpenCV is not installed"))


def model_keys(label_key: str = "label") -> tuple[str, ...]:
  """The features a train or eval step consumes: the image and its targets (`label`, or the
  multi-hot `labels` of a multi-label run)."""
  return ("image", label_key)


MODEL_KEYS = model_keys()


class SyntheticSource:
  """Deterministic random images whose brightness band depends on the label (so it is learnable).

  Example i depends only on (seed, i): the same data in every process, worker and run.
  """

  def __init__(self, size: int, image_size: int, num_classes: int, seed: int):
    self._size, self._image_size, self._num_classes, self._seed = size, image_size, num_classes, seed

  def __len__(self):
    return self._size

  def __getitem__(self, index):
    rng = np.random.default_rng([self._seed, int(index)])
    label = int(rng.integers(self._num_classes))
    band = 256 // self._num_classes
    image = rng.integers(0, band, (self._image_size, self._image_size, 3)) + band * label
    return {"image": image.astype(np.uint8), "label": np.int32(label)}

  def __repr__(self):
    return f"SyntheticSource(size={self._size}, image_size={self._image_size}, seed={self._seed})"


def reads_batches(source) -> bool:
  """Whether `source` reads a whole batch in one call (a raw copy, `dclf.data.raw.RawSource`)."""
  return hasattr(source, "gather")


def host_cores() -> int:
  """The cores this process may run on."""
  return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_workers(source) -> int:
  """Worker processes that fit this host for `source`: none for a source that reads batches
  (a raw copy: the trainer's prefetch thread keeps up, and workers would add the cost of handing
  batches over through shared memory), else every core but two (the step loop and the prefetch
  thread), at most MAX_AUTO_WORKERS (past that the main process, receiving every batch, limits
  more than decoding does; docs/data.md)."""
  if reads_batches(source):
    return 0
  return max(0, min(host_cores() - 2, MAX_AUTO_WORKERS))


def resolve_workers(workers: int, source) -> int:
  """`config.data_workers`: -1 is `default_workers(source)`, other values are taken as they are."""
  if workers < -1:
    raise UsageError(f"data_workers must be -1 (auto) or >= 0, got {workers}")
  return default_workers(source) if workers == -1 else workers


def input_bound_remedies(source, workers: int, convert_command: str | None) -> str:
  """What to do about a run that waits for its input, for the warning it logs; `convert_command`
  writes the dataset's raw copy (None: it has none, e.g. synthetic data)."""
  more_workers = f"more data workers (--config.data_workers, {workers} now; this host has {host_cores()} cores)"
  if reads_batches(source):
    return f"{more_workers}, a deeper --config.prefetch_batches, or a faster disk / more page cache"
  if convert_command is None:
    return more_workers
  return f"the raw format ({convert_command}, then --config.data_format=raw) or {more_workers}"


def gather(source, indices, keys, crops=None, crop_size: int = 0) -> dict:
  """The batch of examples `indices` for features `keys` (np.stack of the examples' values); with
  `crops` ((top, left) per example), the `crop_size` window of each image."""
  if reads_batches(source):
    return source.gather(indices, keys, crops=crops, crop_size=crop_size)
  examples = [source[int(i)] for i in indices]
  batch = {key: np.stack([example[key] for example in examples]) for key in keys if key != "image"}
  images = [example["image"] for example in examples]
  if crops is not None:
    images = [image[top : top + crop_size, left : left + crop_size] for image, (top, left) in zip(images, crops)]
  return {"image": np.stack(images), **batch} if "image" in keys else batch


class TrainBatches:
  """Record b: this process's slice of global batch b of an endless, per-epoch shuffled order of
  `source`'s examples (random `crop_size` windows of the images if crop_size > 0). The slice is
  `shard` = (index, count) of the batch: JAX's process index and count unless given (the
  benchmark's PyTorch processes have their own)."""

  def __init__(self, source, global_batch_size: int, seed: int, crop_size: int = 0, keys=MODEL_KEYS, shard=None):
    self.source, self._keys, self._crop = source, tuple(keys), crop_size
    self.num_records, self.global_batch_size, self.seed = len(source), global_batch_size, seed
    index, count = shard or (jax.process_index(), jax.process_count())
    self._local = global_batch_size // count
    self._offset = index * self._local
    self._epochs = {}
    if crop_size:
      height, width = (getattr(source, "image_shape", None) or source[0]["image"].shape)[:2]
      self._windows = (height - crop_size + 1, width - crop_size + 1)

  def __len__(self) -> int:
    return sys.maxsize

  def positions(self, batch: int) -> np.ndarray:
    """The places in the endless order of this process's examples of global batch `batch`."""
    return batch * self.global_batch_size + self._offset + np.arange(self._local)

  def _epoch(self, epoch: int) -> np.ndarray:
    """Epoch `epoch`'s order: grain's `index_shuffle` with seed `seed + epoch` (a batch spans at most
    a few epochs, so the last two are kept)."""
    if epoch not in self._epochs:
      self._epochs = {e: o for e, o in self._epochs.items() if e == epoch - 1}
      self._epochs[epoch] = epoch_permutation(self.num_records, (self.seed + epoch) % 2**32)
    return self._epochs[epoch]

  def records(self, positions: np.ndarray) -> np.ndarray:
    """The examples at `positions` of the endless order."""
    epochs, within = np.divmod(positions, self.num_records)
    out = np.empty(len(positions), np.int64)
    for epoch in np.unique(epochs).tolist():
      out[epochs == epoch] = self._epoch(epoch)[within[epochs == epoch]]
    return out

  def crops(self, positions) -> list[tuple[int, int]]:
    """(top, left) of the crop window of each position, from the generator grain gives it."""
    windows = []
    for position in positions.tolist():
      rng = np.random.Generator(np.random.Philox(key=self.seed + position))
      windows.append((int(rng.integers(self._windows[0])), int(rng.integers(self._windows[1]))))
    return windows

  def state(self, next_batch: int) -> bytes:
    """A position as checkpoints store it: the next batch, and the order it is a place in."""
    order = {"num_records": self.num_records, "global_batch_size": self.global_batch_size, "seed": self.seed}
    return json.dumps({"next_batch": next_batch, **order}).encode()

  def __getitem__(self, batch: int) -> dict:
    positions = self.positions(int(batch))
    crops = self.crops(positions) if self._crop else None
    return gather(self.source, self.records(positions), self._keys, crops=crops, crop_size=self._crop)


def num_eval_batches(num_examples: int, batch_size: int) -> int:
  """Batches each process runs: enough for the largest process shard."""
  return math.ceil(math.ceil(num_examples / jax.process_count()) / batch_size)


def process_shard(num_examples: int) -> tuple[int, int]:
  """[start, stop) of this process's contiguous share of `num_examples` (the first ones get one more)."""
  per, extra = divmod(num_examples, jax.process_count())
  index = jax.process_index()
  start = per * index + min(index, extra)
  return start, start + per + (index < extra)


def pad_batch(batch: dict | None, batch_size: int, template: dict) -> dict:
  """Pads `batch` (or builds an all-padding batch) to `batch_size` and adds a 0/1 `mask`."""
  n = 0 if batch is None else len(batch["image"])
  padded = {}
  for key, like in template.items():
    out = np.zeros((batch_size,) + like.shape[1:], like.dtype)
    if n:
      out[:n] = batch[key]
    padded[key] = out
  padded["mask"] = (np.arange(batch_size) < n).astype(np.int32)
  return padded


class EvalBatches:
  """Record b: batch b of this process's shard of `source`, in order, padded to `batch_size` with a
  0/1 `mask`; every process has the same number of records."""

  def __init__(self, source, batch_size: int, keys=MODEL_KEYS):
    self._source, self._batch_size, self._keys = source, batch_size, tuple(keys)
    self._start, self._stop = process_shard(len(source))
    self._length = num_eval_batches(len(source), batch_size)

  def __len__(self) -> int:
    return self._length

  def __getitem__(self, batch: int) -> dict:
    first = self._start + int(batch) * self._batch_size
    indices = np.arange(first, min(first + self._batch_size, self._stop))
    if not indices.size:  # past this process's shard: all padding, shaped like example 0
      return pad_batch(None, self._batch_size, gather(self._source, [0], self._keys))
    batch = gather(self._source, indices, self._keys)
    return pad_batch(batch, self._batch_size, batch)


class Loader:
  """Records `start`, `start + 1`, ... of a batch source (`TrainBatches`, `EvalBatches`), read in
  this process or, with `workers`, in grain worker processes that each read whole records and
  hand them back in order. `position` is the index of the next record it yields."""

  def __init__(self, batches, workers: int, start: int = 0):
    self.batches, self.workers, self.position = batches, workers, start
    if not workers:
      self._iterator = map(batches.__getitem__, range(start, len(batches)))
      return
    if not flags.FLAGS.is_parsed():
      flags.FLAGS.mark_as_parsed()  # grain's workers read absl flags; outside an absl program nobody parsed them
    dataset = grain.MapDataset.source(batches)[start:]
    # One read thread, nothing buffered ahead in it: grain's defaults (16 threads, 500 records
    # ahead) cost more CPU per record than a cheap record does, and a record here is a batch.
    dataset = dataset.to_iter_dataset(grain.ReadOptions(num_threads=0, prefetch_buffer_size=0))
    self._iterator = iter(
      dataset.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers, per_worker_buffer_size=2))
    )

  def __iter__(self):
    return self

  def __next__(self) -> dict:
    batch = next(self._iterator)
    self.position += 1
    return batch

  def state(self) -> bytes:
    """The position after the last record yielded, as `TrainBatches.state` writes it."""
    return self.batches.state(self.position)

  def close(self) -> None:
    """Stops the worker processes (grain unlinks their shared memory)."""
    if hasattr(self._iterator, "close"):
      self._iterator.close()


def train_loader(
  source,
  *,
  global_batch_size: int,
  seed: int,
  workers: int,
  crop_size: int = 0,
  keys=MODEL_KEYS,
  state=None,
  shard=None,
) -> Loader:
  """Endless batches of this process's share of each global batch (random crops if `crop_size`),
  from the start or from a saved `state` (`Loader.state()`); `shard`: see `TrainBatches`."""
  batches = TrainBatches(source, global_batch_size, seed, crop_size, keys, shard)
  start = 0 if state is None else start_batch(state, batches)
  return Loader(batches, resolve_workers(workers, source), start)


def eval_batches(source, *, batch_size: int, workers: int, keys=MODEL_KEYS) -> Iterator[dict]:
  """Every example of this process's shard once, in order, as masked batches of `batch_size`."""
  loader = Loader(EvalBatches(source, batch_size, keys), resolve_workers(workers, source))
  try:
    yield from loader
  finally:
    loader.close()


def _grain_loader_batches(saved: dict, local_batch_size: int) -> int:
  """Batches a grain DataLoader over single examples (dclf's loader before batches were records)
  had yielded: with W >= 2 workers, worker j read the examples j, j + W, ... of the order."""
  workers = max(saved["worker_count"], 1)
  seen = [saved["last_seen_indices"][str(j)] for j in range(workers)]
  return sum(max(0, (last - j) // workers + 1) for j, last in enumerate(seen)) // local_batch_size


def start_batch(state: bytes, batches: TrainBatches) -> int:
  """The batch a saved data position resumes at; one error line if it belongs to another order."""
  saved = json.loads(state)
  if "last_seen_indices" in saved:  # a checkpoint of the grain DataLoader over single examples
    match = re.match(r"GlobalBatchSampler\((\d+), global_batch_size=(\d+), seed=(\d+)", saved.get("sampler", ""))
    order = dict(zip(("num_records", "global_batch_size", "seed"), map(int, match.groups()))) if match else {}
    next_batch = _grain_loader_batches(saved, batches.global_batch_size // jax.process_count())
  else:
    order, next_batch = saved, saved["next_batch"]
  for field in ("num_records", "global_batch_size", "seed"):
    if order.get(field) != getattr(batches, field):
      raise UsageError(
        f"the checkpoint's data position is for {field}={order.get(field)}, this run has {getattr(batches, field)}: "
        "resume with the run's dataset, split, batch_size and seed (or start a new workdir)"
      )
  return next_batch


class DataState:
  """Duck-types a grain iterator for grain's orbax handler: holds the serialized position after
  the last batch the *trainer* consumed (the loader itself runs ahead when prefetching)."""

  def __init__(self, state: bytes | None = None):
    self.state = state

  def get_state(self) -> bytes:
    return self.state

  def set_state(self, state: bytes):
    if state is not None:
      json.loads(state)  # a damaged position fails its checkpoint's restore, not the run after it
    self.state = state

  def start_prefetch(self):
    """Part of the interface grain's handler calls after restoring; nothing to start here."""
