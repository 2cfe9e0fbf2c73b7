"""Probabilities from a model held on the devices, data-parallel through `dclf.parallel`: for a
batch of images (`dclf.predict`) or for every example of a source once (`dclf.evaluation`)."""

import collections
import functools

import numpy as np
from jax.experimental import multihost_utils

from dclf import input_pipeline, steps, tasks


class BatchPredictor:
  """`steps.predict_step` compiled for `par`, bound to a (replicated) state on its devices."""

  def __init__(self, par, device_state, config):
    from dclf import train  # pylint: disable=g-import-not-at-top  (train imports this module)
    self._par, self._state = par, device_state
    step = functools.partial(steps.predict_step, preprocess_mode=config.preprocess, dtype=train.compute_dtype(config),
                             multilabel=tasks.is_multilabel(config))
    self._fn = par.compile(step, sharded_output=True)

  @property
  def num_devices(self) -> int:
    """A batch's size must be a multiple of it."""
    return len(self._par.devices)

  def __call__(self, images: np.ndarray) -> np.ndarray:
    """uint8 (n, H, W, 3), n a multiple of num_devices -> float32 (n, outputs)."""
    batch = self._par.put_batch(input_pipeline.split_for_devices({"image": images}, self.num_devices))
    return self._par.get_sharded(self._fn(self._state, batch))


def predict_source(predict: BatchPredictor, source, *, batch_size: int, workers: int, keys=()) -> dict:
  """`probabilities` and the features `keys` of every example of `source` exactly once.

  Each process predicts its shard of the examples (`input_pipeline.eval_batches`); the shards are
  gathered, so every process returns all of them.
  """
  chunks = collections.defaultdict(list)
  for batch in input_pipeline.eval_batches(source, batch_size=batch_size, workers=workers, keys=("image", *keys)):
    chunks["probabilities"].append(predict(batch.pop("image")))
    for key, values in batch.items():
      chunks[key].append(values)
  arrays = multihost_utils.process_allgather({key: np.concatenate(parts) for key, parts in chunks.items()}, tiled=True)
  keep = arrays.pop("mask").astype(bool)
  return {key: values[keep] for key, values in arrays.items()}
