"""A small CNN for CPU runs: the quickstart and fast tests of the training machinery.

Not from the poster. Blur and noise live in the highest frequencies, so it keeps full resolution
in its first layer and halves it after every block: conv 3x3 -> BatchNorm -> ReLU -> max pool.
"""

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from dclf.models.conv import Conv
from dclf.models.layers import keras_batch_norm
from dclf.models.pooling import max_pool


class SmallCNN(nn.Module):
  widths: Sequence[int] = (8, 16, 32, 64, 128)
  bn_epsilon: float = 1e-3
  bn_momentum: float = 0.9  # short CPU runs: moving statistics must settle within ~100 steps
  bn_axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x / 255.0  # inputs are 0..255 pixels (or caffe-centred ones): keep activations O(1)
    for i, width in enumerate(self.widths, start=1):
      x = Conv(width, (3, 3), padding="SAME", use_bias=False, dtype=self.dtype, name=f"conv{i}")(x)
      x = keras_batch_norm(
        x,
        name=f"bn{i}",
        train=train,
        epsilon=self.bn_epsilon,
        momentum=self.bn_momentum,
        axis_name=self.bn_axis_name,
        dtype=self.dtype,
      )
      x = max_pool(nn.relu(x), (2, 2), strides=(2, 2))
    return x
