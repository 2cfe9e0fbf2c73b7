"""Classifier heads composed on top of a feature extractor."""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

POOLS = {
    "flatten": lambda x: x.reshape((x.shape[0], -1)),
    "avg": lambda x: jnp.mean(x, axis=(1, 2)),
    # Mean and max over space: whether a feature (a sharp edge, a noise texture) appears anywhere,
    # not only how strong it is on average.
    "avg_max": lambda x: jnp.concatenate([jnp.mean(x, axis=(1, 2)), jnp.max(x, axis=(1, 2))], axis=-1),
}


class LinearHead(nn.Module):
  """Pool (flatten, global average, or global average and max) then one Dense layer to logits."""

  num_classes: int
  pool: str = "flatten"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train
    x = POOLS[self.pool](x)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="predictions")(x)
