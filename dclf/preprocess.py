"""Pixel preprocessing applied on device to uint8 RGB batches.

`raw`: the 0..255 RGB values as floats, what the poster's code fed every model ("we did not
normalize the pixel values"). `caffe`: what Keras' ImageNet VGG16/ResNet50 and SGDNet expect
(`preprocess_input` mode 'caffe'): RGB -> BGR, minus the ImageNet channel means, no scaling.
"""

from collections.abc import Callable

import jax.numpy as jnp

CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


def _raw(x):
  return x


def _caffe(x):
  return x[..., ::-1] - jnp.asarray(CAFFE_BGR_MEAN, x.dtype)


PREPROCESSORS: dict[str, Callable] = {"raw": _raw, "caffe": _caffe}


def preprocess(images, mode: str, dtype=jnp.float32):
  """uint8 (..., H, W, 3) RGB -> float (..., H, W, 3) in `dtype`, as `mode` says."""
  if mode not in PREPROCESSORS:
    raise ValueError(f"unknown preprocess {mode!r}; known: {', '.join(PREPROCESSORS)}")
  return PREPROCESSORS[mode](images.astype(jnp.float32)).astype(dtype)
