"""ResNet50 v1 as the old `keras_applications` built it (the backbone SGDNet and its weights use).

Differences from torchvision's v1.5, all required to load the Keras weights: every conv has a
bias, a downsampling block strides on its first 1x1 conv (and the 1x1 shortcut), BatchNorm
epsilon is 1e-3 by default, and conv1 / pool1 use explicit zero padding (3 and 1). Parameter
names are the Keras layer names (`conv1`, `bn_conv1`, `res2a_branch2a`, `bn2a_branch2a` ...).
"""

import string
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from dclf.models.conv import Conv
from dclf.models.layers import keras_batch_norm

# (blocks, (filters1, filters2, filters3)) per stage 2..5.
RESNET50_STAGES = ((3, (64, 64, 256)), (4, (128, 128, 512)), (6, (256, 256, 1024)), (3, (512, 512, 2048)))


class ResNet50V1(nn.Module):
  """ResNet50 v1 without top: (N, H, W, 3) -> (N, H/32, W/32, 2048).

  `train=False` selects BatchNorm inference mode; `bn_axis_name` synchronises batch
  statistics across devices when training under pmap or shard_map.
  """

  bn_epsilon: float = 1e-3
  bn_momentum: float = 0.99
  bn_axis_name: str | None = None
  dtype: Any = jnp.float32

  def _bn(self, x, name, train):
    return keras_batch_norm(
      x,
      name=name,
      train=train,
      epsilon=self.bn_epsilon,
      momentum=self.bn_momentum,
      axis_name=self.bn_axis_name,
      dtype=self.dtype,
    )

  def _conv(self, x, filters, kernel, name, strides=1, padding="SAME"):
    return Conv(filters, kernel, strides=strides, padding=padding, dtype=self.dtype, name=name)(x)

  def _block(self, x, filters, stage, block, strides, train):
    """Keras' conv_block (projection shortcut) when `block == 'a'`, else identity_block."""
    conv_name, bn_name = f"res{stage}{block}_branch", f"bn{stage}{block}_branch"
    f1, f2, f3 = filters
    y = self._conv(x, f1, (1, 1), conv_name + "2a", strides=strides)
    y = nn.relu(self._bn(y, bn_name + "2a", train))
    y = self._conv(y, f2, (3, 3), conv_name + "2b")
    y = nn.relu(self._bn(y, bn_name + "2b", train))
    y = self._conv(y, f3, (1, 1), conv_name + "2c")
    y = self._bn(y, bn_name + "2c", train)
    if block == "a":
      x = self._conv(x, f3, (1, 1), conv_name + "1", strides=strides)
      x = self._bn(x, bn_name + "1", train)
    return nn.relu(y + x)

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = self._conv(x, 64, (7, 7), "conv1", strides=2, padding=((3, 3), (3, 3)))
    x = nn.relu(self._bn(x, "bn_conv1", train))
    x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    for stage, (blocks, filters) in enumerate(RESNET50_STAGES, start=2):
      for i in range(blocks):
        strides = 2 if (i == 0 and stage > 2) else 1
        x = self._block(x, filters, stage, string.ascii_lowercase[i], strides, train)
    return x
