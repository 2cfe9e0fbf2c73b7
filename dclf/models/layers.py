"""Layers shared by the models."""

from typing import Any

import flax.linen as nn


def keras_batch_norm(
  x, *, name: str, train: bool, epsilon: float, momentum: float = 0.99, axis_name: str | None = None, dtype: Any = None
):
  """BatchNorm with Keras' conventions (momentum 0.99 on the moving statistics).

  Training normalises with batch statistics, synchronised over `axis_name` (the data-parallel
  device axis); otherwise the moving statistics are used and left unchanged.
  """
  return nn.BatchNorm(
    use_running_average=not train,
    momentum=momentum,
    epsilon=epsilon,
    axis_name=axis_name if train else None,
    dtype=dtype,
    name=name,
  )(x)
