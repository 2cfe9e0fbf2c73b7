"""VGG16 (Keras layout) and the poster's VGG16 classifier head.

Layer names are the Keras ones (`block1_conv1` ... `block5_conv3`) so converters map by name.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from dclf.models.conv import Conv
from dclf.models.pooling import max_pool

# (convs, width) of Keras VGG16's five blocks.
VGG16_BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


class VGG16(nn.Module):
  """The convolutional blocks of Keras VGG16, each ending in `block{b}_pool`.

  `num_blocks=4` stops after `block4_pool`, where the poster cut the network.
  """

  num_blocks: int = 5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train  # no train-time behaviour; kept for a uniform features interface
    for b, (convs, width) in enumerate(VGG16_BLOCKS[: self.num_blocks], start=1):
      for i in range(1, convs + 1):
        x = Conv(width, (3, 3), padding="SAME", dtype=self.dtype, name=f"block{b}_conv{i}")(x)
        x = nn.relu(x)
      x = max_pool(x, (2, 2), strides=(2, 2))
    return x


class VGGHead(nn.Module):
  """The poster's head on `block4_pool`: Conv 512 3x3 -> MaxPool -> Flatten -> Dense 4096 -> logits.

  Flatten is height-width-channel order, as Keras' Flatten and a NHWC reshape agree.
  """

  num_classes: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train
    x = nn.relu(Conv(512, (3, 3), padding="SAME", dtype=self.dtype, name="conv")(x))
    x = max_pool(x, (2, 2), strides=(2, 2))
    x = x.reshape((x.shape[0], -1))
    x = nn.relu(nn.Dense(4096, dtype=self.dtype, name="fc")(x))
    return nn.Dense(self.num_classes, dtype=self.dtype, name="predictions")(x)
