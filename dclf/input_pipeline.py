"""Input pipelines over random-access sources with grain.

Training draws one global order (shuffled per epoch from the config seed) and cuts it into global
batches; every process reads only its slice of each global batch (`jax.process_index()` of
`jax.process_count()`) and decodes it in worker processes. So a global batch holds the same
examples, in the same device order, on one host with N devices or on N hosts. The training iterator's position is saved in checkpoints, so a resumed run sees the
exact batches an uninterrupted one would. Evaluation visits every example exactly once: the last
batch is padded and the padding masked, and every process runs the same number of batches.
"""

import collections
import gc
import logging
import math
import sys
from collections.abc import Callable, Iterator
from typing import Any

import grain
import jax
import numpy as np
from absl import flags

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


class SelectKeys(grain.transforms.Map):
  """Keeps the features a step consumes (text features cannot be batched into arrays)."""

  def __init__(self, keys):
    self._keys = tuple(keys)

  def map(self, element):
    return {k: element[k] for k in self._keys}


class RandomCrop(grain.transforms.RandomMap):
  """A random `size` x `size` window of the image (training only; fully convolutional models).

  The window comes from the record's own generator, so it is the same in every run, process
  layout and resume.
  """

  def __init__(self, size: int):
    self._size = size

  def random_map(self, element, rng: np.random.Generator):
    image = element["image"]
    top = rng.integers(image.shape[0] - self._size + 1)
    left = rng.integers(image.shape[1] - self._size + 1)
    return {**element, "image": image[top : top + self._size, left : left + self._size]}


def _loader(source, sampler, ops, workers: int, shard_options=None) -> grain.DataLoader:
  if workers and not flags.FLAGS.is_parsed():
    # grain's worker processes read absl flags; outside an absl program nobody parsed them.
    flags.FLAGS.mark_as_parsed()
  return grain.DataLoader(
    data_source=source, sampler=sampler, operations=ops, worker_count=workers, shard_options=shard_options
  )


def _process_shard(drop_remainder: bool):
  return grain.sharding.ShardOptions(jax.process_index(), jax.process_count(), drop_remainder=drop_remainder)


class GlobalBatchSampler:
  """This process's slice of every global batch of an endless, per-epoch shuffled order."""

  def __init__(self, num_records: int, global_batch_size: int, seed: int):
    self._order = grain.samplers.IndexSampler(num_records, shuffle=True, num_epochs=None, seed=seed)
    self._global = global_batch_size
    self._local = global_batch_size // jax.process_count()
    self._offset = jax.process_index() * self._local
    self._repr = (
      f"GlobalBatchSampler({num_records}, global_batch_size={global_batch_size}, seed={seed}, "
      f"process={jax.process_index()}/{jax.process_count()})"
    )

  def __len__(self):
    return sys.maxsize

  def __getitem__(self, index: int) -> grain.RecordMetadata:
    batch, position = divmod(index, self._local)
    record = self._order[batch * self._global + self._offset + position]
    return grain.RecordMetadata(index=index, record_key=record.record_key, rng=record.rng)

  def __repr__(self):  # grain checks it when restoring a data position
    return self._repr


def train_loader(
  source, *, global_batch_size: int, seed: int, workers: int, crop_size: int = 0, keys=MODEL_KEYS
) -> grain.DataLoader:
  """Endless batches of this process's share of each global batch (random crops if `crop_size`)."""
  sampler = GlobalBatchSampler(len(source), global_batch_size, seed)
  ops = [SelectKeys(keys)] + ([RandomCrop(crop_size)] if crop_size else [])
  ops.append(grain.transforms.Batch(global_batch_size // jax.process_count(), drop_remainder=True))
  return _loader(source, sampler, ops, workers, shard_options=grain.sharding.NoSharding())


def num_eval_batches(num_examples: int, batch_size: int) -> int:
  """Batches each process runs: enough for the largest process shard."""
  return math.ceil(math.ceil(num_examples / jax.process_count()) / batch_size)


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


def eval_batches(source, *, batch_size: int, workers: int, keys=MODEL_KEYS) -> Iterator[dict]:
  """Every example of this process's shard once, in order, as masked batches of `batch_size`."""
  sampler = grain.samplers.IndexSampler(
    len(source), shard_options=_process_shard(drop_remainder=False), shuffle=False, num_epochs=1
  )
  ops = [SelectKeys(keys), grain.transforms.Batch(batch_size, drop_remainder=False)]
  loader = _loader(source, sampler, ops, workers)
  template = None
  emitted = 0
  for batch in loader:
    template = template or batch
    emitted += 1
    yield pad_batch(batch, batch_size, template)
  if template is None:
    template = {k: v[None] for k, v in SelectKeys(keys).map(source[0]).items()}
  for _ in range(num_eval_batches(len(source), batch_size) - emitted):
    yield pad_batch(None, batch_size, template)


def split_for_devices(batch: dict, num_devices: int) -> dict:
  """(per_process, ...) -> (local_devices, per_device, ...)."""
  return jax.tree.map(lambda x: x.reshape((num_devices, -1) + x.shape[1:]), batch)


class DataState:
  """Duck-types a grain iterator for grain's orbax handler: holds the serialized position after
  the last batch the *trainer* consumed (the loader itself runs ahead when prefetching)."""

  def __init__(self, state: bytes | None = None):
    self.state = state

  def get_state(self) -> bytes:
    return self.state

  def set_state(self, state: bytes):
    self.state = state

  def start_prefetch(self):
    """Part of the interface grain's handler calls after restoring; nothing to start here."""


class TrainBatches:
  """Device-ready training batches, `prefetch` steps ahead, with their data positions recorded."""

  def __init__(
    self,
    loader: grain.DataLoader,
    put: Callable[[dict], Any],
    num_devices: int,
    data_state: DataState,
    prefetch: int = 2,
  ):
    self._iterator = iter(loader)
    if data_state.state is not None:
      self._iterator.set_state(data_state.state)
    self._put, self._num_devices, self._data_state = put, num_devices, data_state
    self._queue = collections.deque()
    self._prefetch = prefetch

  def _enqueue(self):
    batch = next(self._iterator)
    self._queue.append((self._put(split_for_devices(batch, self._num_devices)), self._iterator.get_state()))

  def __iter__(self):
    return self

  def close(self):
    """Stops the loader's worker processes and frees the batches they had prepared."""
    self._queue.clear()
    self._iterator = None
    gc.collect()

  def __next__(self):
    while len(self._queue) < self._prefetch:
      self._enqueue()
    batch, state = self._queue.popleft()
    self._data_state.set_state(state)
    return batch
