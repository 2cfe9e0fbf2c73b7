"""Model registry: the poster's four classifiers and SGDNet's full quality model.

`create_model(name, num_classes=...)` returns a `Network`; names are the config's `model` field.
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dclf.models.network import LinearHead, Network
from dclf.models.resnet import ResNet50V1
from dclf.models.sgdnet import SGDNetQualityHead, SGDNetTrunk
from dclf.models.small_cnn import SmallCNN
from dclf.models.vgg import VGG16, VGGHead


def _softmax(num_classes, dtype, **_):
  return Network(features=None, head=LinearHead(num_classes, pool="flatten", dtype=dtype))


def _vgg16(freeze):
  def build(num_classes, dtype, frozen_bn_batch_stats=False, **_):
    return Network(
      features=VGG16(num_blocks=4, dtype=dtype),
      head=VGGHead(num_classes, dtype=dtype),
      freeze_features=freeze,
      frozen_bn_batch_stats=frozen_bn_batch_stats,
    )

  return build


def _sgdnet(num_classes, dtype, bn_epsilon=1e-3, bn_axis_name=None, frozen_bn_batch_stats=False, **_):
  return Network(
    features=SGDNetTrunk(bn_epsilon=bn_epsilon, bn_axis_name=bn_axis_name, dtype=dtype),
    head=LinearHead(num_classes, pool="avg", dtype=dtype),
    freeze_features=True,
    frozen_bn_batch_stats=frozen_bn_batch_stats,
  )


def _small_cnn(num_classes, dtype, bn_epsilon=1e-3, bn_axis_name=None, **_):
  return Network(
    features=SmallCNN(bn_epsilon=bn_epsilon, bn_axis_name=bn_axis_name, dtype=dtype),
    head=LinearHead(num_classes, pool="avg_max", dtype=dtype),
  )


def _sgdnet_quality(num_classes=1, dtype=jnp.float32, bn_epsilon=1e-3, bn_axis_name=None, **_):
  del num_classes  # one quality score
  return Network(
    features=SGDNetTrunk(bn_epsilon=bn_epsilon, bn_axis_name=bn_axis_name, dtype=dtype),
    head=SGDNetQualityHead(dtype=dtype),
  )


CLASSIFIERS: dict[str, Callable[..., Network]] = {
  "softmax": _softmax,
  "vgg16_scratch": _vgg16(freeze=False),
  "vgg16_transfer": _vgg16(freeze=True),
  "sgdnet": _sgdnet,
  "small_cnn": _small_cnn,  # not the poster's: a CPU-sized model for the quickstart and tests
}
MODELS: dict[str, Callable[..., Network]] = {**CLASSIFIERS, "sgdnet_quality": _sgdnet_quality}


def create_model(name: str, *, num_classes: int, dtype: Any = jnp.float32, **kwargs) -> Network:
  """Builds registered model `name`; unknown names raise ValueError listing the known ones."""
  if name not in MODELS:
    raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
  return MODELS[name](num_classes=num_classes, dtype=dtype, **kwargs)


def init_shapes(model: Network, image_size: int = 224):
  """Variables' shapes and dtypes, computed with `jax.eval_shape` (no FLOPs, no memory)."""
  x = jax.ShapeDtypeStruct((1, image_size, image_size, 3), jnp.float32)
  return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(x.shape, x.dtype), train=False))


def takes_any_size(model: Network, image_size: int, other_size: int) -> bool:
  """Whether variables made for `image_size` inputs also fit `other_size` ones (no flatten)."""
  shapes = lambda size: jax.tree.map(lambda x: x.shape, init_shapes(model, size))
  return shapes(image_size) == shapes(other_size)


def count_params(variables, trainable_keys) -> tuple[int, int]:
  """(total, trainable): total counts every variable, BatchNorm moving statistics included, as
  Keras' summary does; trainable counts the `params` under `trainable_keys`."""
  size = lambda tree: sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))
  total = size(variables)
  trainable = sum(size(variables["params"].get(k, {})) for k in trainable_keys)
  return total, trainable


__all__ = [
  "CLASSIFIERS",
  "MODELS",
  "Network",
  "ResNet50V1",
  "VGG16",
  "SGDNetTrunk",
  "SGDNetQualityHead",
  "LinearHead",
  "VGGHead",
  "SmallCNN",
  "create_model",
  "init_shapes",
  "takes_any_size",
  "count_params",
]
