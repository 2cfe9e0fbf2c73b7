"""Classifier heads composed on top of a feature extractor."""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

POOLS = {
    "flatten": lambda x: x.reshape((x.shape[0], -1)),
    "avg": lambda x: jnp.mean(x, axis=(1, 2)),
}


class LinearHead(nn.Module):
  """Pool (flatten or global average) then one Dense layer to logits."""

  num_classes: int
  pool: str = "flatten"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train
    x = POOLS[self.pool](x)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="predictions")(x)
