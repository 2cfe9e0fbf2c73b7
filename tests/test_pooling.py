"""dclf.models.pooling.max_pool: outputs and gradients equal to a NumPy loop over the windows (each
window's maximum; the gradient to its first maximum in row-major order, summed where windows
overlap: what XLA's select-and-scatter computes), ties and padding included."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from dclf.models.pooling import max_pool


def reference_max_pool(x, window, strides, padding, dy):
  """(output, input gradient) of a max pool of NHWC `x` under output gradient `dy`, by loops."""
  x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
  (kh, kw), (sh, sw) = window, strides
  pads = lax.padtype_to_pads(x.shape[1:3], window, strides, padding) if isinstance(padding, str) else padding
  padded = np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=-np.inf)
  n, h, w, c = padded.shape
  out_h, out_w = (h - kh) // sh + 1, (w - kw) // sw + 1
  y, dx = np.empty((n, out_h, out_w, c)), np.zeros_like(padded)
  batch, channel = np.arange(n)[:, None], np.arange(c)[None, :]
  for i in range(out_h):
    for j in range(out_w):
      windows = padded[:, i * sh : i * sh + kh, j * sw : j * sw + kw].reshape(n, kh * kw, c)
      first = windows.argmax(axis=1)  # the first maximum in row-major order
      y[:, i, j] = windows.max(axis=1)
      np.add.at(dx, (batch, i * sh + first // kw, j * sw + first % kw, channel), dy[:, i, j])
  return y, dx[:, pads[0][0] : pads[0][0] + x.shape[1], pads[1][0] : pads[1][0] + x.shape[2]]


def _ours_and_reference(x, window, strides, padding):
  out_shape = jax.eval_shape(lambda x: max_pool(x, window, strides, padding), x).shape
  dy = jnp.asarray(np.random.default_rng(1).normal(size=out_shape), x.dtype)
  y, pullback = jax.vjp(lambda x: max_pool(x, window, strides, padding), x)
  return (y, pullback(dy)[0]), reference_max_pool(x, window, strides, padding, dy)


def _gradient_program(x, window, strides, padding) -> str:
  """The StableHLO of the pool's gradient."""
  return jax.jit(jax.grad(lambda x: jnp.sum(max_pool(x, window, strides, padding)))).lower(x).as_text()


@pytest.mark.parametrize(
  "shape, window, dtype",
  [
    ((2, 8, 8, 3), (2, 2), jnp.float32),  # VGG16 / small_cnn pools
    ((2, 9, 7, 4), (2, 2), jnp.float32),  # odd sizes: the last row / column is dropped
    ((3, 6, 6, 5), (2, 2), jnp.bfloat16),
    ((1, 9, 6, 2), (3, 2), jnp.float32),
  ],
)
def test_non_overlapping_pools_equal_the_reference_with_ties(shape, window, dtype):
  """The elementwise form (strides = window, no padding): small integers make ties in most windows."""
  x = jnp.asarray(np.random.default_rng(0).integers(-2, 3, size=shape), dtype)
  program = _gradient_program(x, window, window, "VALID")
  assert "reduce_window" not in program and "select_and_scatter" not in program
  (y, dx), (want_y, want_dx) = _ours_and_reference(x, window, window, "VALID")
  assert y.dtype == dx.dtype == dtype and y.shape == want_y.shape and dx.shape == x.shape
  np.testing.assert_array_equal(np.asarray(y, np.float64), want_y)
  np.testing.assert_array_equal(np.asarray(dx, np.float64), want_dx)  # one dy per element: exact


@pytest.mark.parametrize(
  "window, strides, padding", [((3, 3), (2, 2), ((1, 1), (1, 1))), ((2, 2), (2, 2), "SAME"), ((2, 2), (1, 1), "VALID")]
)
def test_overlapping_or_padded_pools_equal_the_reference(window, strides, padding):
  """Other pools (ResNet50's 3x3/2 with padding) are XLA's reduce-window: the same answers."""
  x = jnp.asarray(np.random.default_rng(0).integers(-2, 3, size=(2, 9, 9, 3)), jnp.float32)
  assert "select_and_scatter" in _gradient_program(x, window, strides, padding)
  (y, dx), (want_y, want_dx) = _ours_and_reference(x, window, strides, padding)
  np.testing.assert_array_equal(np.asarray(y, np.float64), want_y)
  np.testing.assert_allclose(np.asarray(dx, np.float64), want_dx, rtol=1e-6, atol=1e-6)
