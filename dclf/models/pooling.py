"""`max_pool`: `flax.linen.max_pool` whose gradient is elementwise work for non-overlapping windows.

`jax.grad` of a max pool (`lax.reduce_window`) is a select-and-scatter, which XLA:CPU expands
into iotas, window reductions and a scatter that run on one core: in small_cnn's CPU training
step they took more time than the convolutions. When the windows do not overlap (strides equal
to the window, no padding: the 2x2/2 pools of VGG16 and small_cnn), `max_pool` takes the
elementwise maximum of the windows' strided slices (x[:, i::kh, j::kw] for each window offset)
instead, and sends the gradient, in every window, to its first maximum in row-major order,
exactly as XLA's select-and-scatter with `>=` routes it (ties included). Both are elementwise
operations that XLA fuses and runs on every core. This holds on every backend (unlike
`dclf.models.conv`'s CPU-only kernel gradient); other pools (ResNet50's overlapping 3x3/2) are
`flax.linen.max_pool`.
"""

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def max_pool(x, window_shape: Sequence[int], strides: Sequence[int] | None = None, padding="VALID"):
  """`flax.linen.max_pool(x, window_shape, strides, padding)` for NHWC `x`."""
  window, strides = tuple(window_shape), tuple(strides or (1,) * len(window_shape))
  if x.ndim != 4 or len(window) != 2 or strides != window or padding != "VALID":
    return nn.max_pool(x, window, strides=strides, padding=padding)
  return _window_max(x, window)


def _window(x, window, i, j):
  """Element (i, j) of every window: (N, H // kh, W // kw, C)."""
  (kh, kw), (h, w) = window, x.shape[1:3]
  return x[:, i : h // kh * kh : kh, j : w // kw * kw : kw]


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _window_max(x, window):
  kh, kw = window
  return functools.reduce(jnp.maximum, (_window(x, window, i, j) for i in range(kh) for j in range(kw)))


def _window_max_fwd(x, window):
  y = _window_max(x, window)
  return y, (x, y)


def _window_max_bwd(window, residuals, dy):
  x, y = residuals
  kh, kw = window
  taken = jnp.zeros(y.shape, bool)
  rows = []
  for i in range(kh):
    row = []
    for j in range(kw):
      first = (_window(x, window, i, j) == y) & ~taken
      taken = taken | first
      row.append(jnp.where(first, dy, jnp.zeros((), dy.dtype)))
    rows.append(jnp.stack(row, axis=3))  # (N, H // kh, W // kw, kw, C)
  n, ho, wo, c = dy.shape
  dx = jnp.stack(rows, axis=2).reshape(n, ho * kh, wo * kw, c)  # windows back in place
  return (jnp.pad(dx, ((0, 0), (0, x.shape[1] - ho * kh), (0, x.shape[2] - wo * kw), (0, 0))),)


_window_max.defvjp(_window_max_fwd, _window_max_bwd)
