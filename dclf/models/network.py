"""A feature extractor with a head on top, the features optionally frozen; and the linear heads.

Frozen features (the transfer models) get no gradient (`stop_gradient` at the boundary, so no
backward pass runs through them), no optimizer state and no update; their BatchNorm layers run in
inference mode unless `frozen_bn_batch_stats` reproduces the Keras 2.3 quirk of normalising with
batch statistics while training (the moving statistics are never updated either way).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class Network(nn.Module):
  """`head(features(x))`; parameters live under the top-level keys `features` and `head`."""

  features: nn.Module | None
  head: nn.Module
  freeze_features: bool = False
  frozen_bn_batch_stats: bool = False

  @property
  def trainable_keys(self) -> tuple[str, ...]:
    """Top-level parameter collections the optimizer updates."""
    if self.features is None or self.freeze_features:
      return ("head",)
    return ("features", "head")

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.features is not None:
      features_train = train and (not self.freeze_features or self.frozen_bn_batch_stats)
      x = self.features(x, train=features_train)
      if self.freeze_features:
        x = jax.lax.stop_gradient(x)
    return self.head(x, train=train)


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
