"""SGDNet (Yang et al., ACM MM 2019): ResNet50 v1 + `fraw` + attention/saliency quality head.

The poster's classifier uses only the trunk (backbone + `fraw`) and the global average pool of
`fraw` (Keras' `global_average_pooling2d_1`); the full quality model is here so SGDNet's released
KonIQ-10k weights load into one module and can be checked against Keras.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from dclf.models.conv import Conv
from dclf.models.resnet import ResNet50V1


class SGDNetTrunk(nn.Module):
  """ResNet50 v1 backbone then `fraw` = ReLU(Conv 1x1, 2048 -> 512, no bias)."""

  fraw_width: int = 512
  bn_epsilon: float = 1e-3
  bn_axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = ResNet50V1(bn_epsilon=self.bn_epsilon, bn_axis_name=self.bn_axis_name, dtype=self.dtype, name="backbone")(
      x, train=train
    )
    return nn.relu(Conv(self.fraw_width, (1, 1), use_bias=False, dtype=self.dtype, name="fraw")(x))


class SGDNetQualityHead(nn.Module):
  """Channel attention and saliency on `fraw`, then fc1 -> dropout -> fc2 -> quality score.

  Returns `(quality (N, 1), saliency map (N, h, w, 1))`, SGDNet's two outputs.
  """

  fc_width: int = 1024
  reduction: int = 4
  dropout_rate: float = 0.5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, fraw, train: bool = False):
    channels = fraw.shape[-1]
    squeeze = jnp.mean(fraw, axis=(1, 2))
    attention = nn.relu(nn.Dense(channels // self.reduction, dtype=self.dtype, name="attention_squeeze")(squeeze))
    attention = nn.sigmoid(nn.Dense(channels, dtype=self.dtype, name="attention_excite")(attention))
    fca = fraw * attention[:, None, None, :]
    saliency = nn.relu(Conv(1, (1, 1), use_bias=False, dtype=self.dtype, name="saliency")(fraw))
    fv = jnp.mean(fca * saliency, axis=(1, 2))
    x = nn.relu(nn.Dense(self.fc_width, dtype=self.dtype, name="fc1")(fv))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = nn.relu(nn.Dense(self.fc_width, dtype=self.dtype, name="fc2")(x))
    quality = nn.Dense(1, dtype=self.dtype, name="predictions")(x)
    return quality, saliency
