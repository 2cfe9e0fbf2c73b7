"""dclf.models.pooling.max_pool: outputs and gradients equal to flax.linen.max_pool's, ties included."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dclf.models.pooling import max_pool


@pytest.mark.parametrize(
  "shape, window, dtype",
  [
    ((2, 8, 8, 3), (2, 2), jnp.float32),  # VGG16 / small_cnn pools
    ((2, 9, 7, 4), (2, 2), jnp.float32),  # odd sizes: the last row / column is dropped
    ((3, 6, 6, 5), (2, 2), jnp.bfloat16),
    ((1, 9, 6, 2), (3, 2), jnp.float32),
  ],
)
def test_equals_flax_max_pool_with_ties(shape, window, dtype):
  """Small integers make ties in most windows: the gradient goes to each window's first maximum,
  as XLA's select-and-scatter sends it."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.integers(-2, 3, size=shape), dtype)
  out = (shape[0], shape[1] // window[0], shape[2] // window[1], shape[3])
  dy = jnp.asarray(rng.normal(size=out), dtype)

  def vjp(pool):
    y, pullback = jax.vjp(lambda x: pool(x, window, strides=window), x)
    return y, pullback(dy)[0]

  got, want = jax.jit(lambda: (vjp(max_pool), vjp(nn.max_pool)))()
  for g, w in zip(got, want):
    assert g.dtype == w.dtype and g.shape == w.shape
    np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize(
  "window, strides, padding", [((3, 3), (2, 2), ((1, 1), (1, 1))), ((2, 2), (2, 2), "SAME"), ((2, 2), (1, 1), "VALID")]
)
def test_overlapping_or_padded_pools_are_flax_max_pool(window, strides, padding):
  x = jax.random.normal(jax.random.key(0), (2, 9, 9, 3))
  got = jax.grad(lambda x: jnp.sum(max_pool(x, window, strides, padding) ** 2))(x)
  want = jax.grad(lambda x: jnp.sum(nn.max_pool(x, window, strides, padding) ** 2))(x)
  np.testing.assert_array_equal(got, want)
