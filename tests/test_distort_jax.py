"""dclf.distort.jax_ops against the NumPy port: same blur, same noise rule and statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dclf import distort
from dclf.distort import jax_ops
from dclf.distort.noise import _apply_noise

from _distort_helpers import load, random_image, residual_stats


def _assert_close_blur(out, expected):
  """Within one grey level on >= 99.99 % of values (float32 sums in another order)."""
  diff = np.abs(np.asarray(out).astype(int) - expected.astype(int))
  assert diff.max() <= 1
  assert (diff != 0).mean() <= 1e-4


@pytest.mark.parametrize("radius", [0.0, 1e-30, 0.5, 1.0, 2.5, 5.5, 7.3, 10.0, 10.99])
def test_gaussian_matches_numpy(radius):
  img = load("in")
  _assert_close_blur(jax_ops.gaussian_blur(jnp.asarray(img), radius), distort.gaussian_blur(img, radius=radius))


def test_gaussian_non_square_and_jar_output():
  img = random_image(45, 70)
  _assert_close_blur(jax_ops.gaussian_blur(jnp.asarray(img), 3.3), distort.gaussian_blur(img, radius=3.3))
  _assert_close_blur(jax_ops.gaussian_blur(jnp.asarray(load("in")), 10.0), load("g10"))


def test_gaussian_jit_vmap_per_image_radii():
  img = load("in")[:96, :128]
  radii = np.array([1.0, 2.7, 6.2, 10.9], np.float32)
  batch = jnp.asarray(np.stack([img] * len(radii)))
  mapped = jax.jit(jax.vmap(jax_ops.gaussian_blur))(batch, jnp.asarray(radii))
  batched = jax_ops.gaussian_blur(batch, radii)  # one radius per image, no vmap
  np.testing.assert_array_equal(np.asarray(mapped), np.asarray(batched))
  for out, r in zip(np.asarray(batched), radii):
    _assert_close_blur(out, distort.gaussian_blur(img, radius=float(r)))


def test_gaussian_rejects_non_uint8():
  with pytest.raises(ValueError, match="uint8"):
    jax_ops.gaussian_blur(jnp.zeros((8, 8, 3)), 2.0)


# the noise tests share one batch shape and per-image parameters, so jit compiles once per mode
SHAPE = (2, 96, 96, 3)


def _noise(images, key, amount, density, monochrome=False):
  per_image = lambda x: jnp.broadcast_to(jnp.asarray(x, jnp.float32), SHAPE[:1])
  return np.asarray(jax_ops.noise(jnp.asarray(images), key, per_image(amount), per_image(density), monochrome))


@pytest.mark.parametrize("monochrome", [False, True])
def test_noise_identical_to_numpy_rule_on_same_draws(monochrome):
  images = np.stack([load(0)[:96, :96], random_image(96, 96)])
  key = jax.random.key(7)
  amount, density = np.array([25.0, 9.0], np.float32), np.array([1.0, 0.5], np.float32)
  out = _noise(images, key, amount, density, monochrome)
  u, z = jax_ops._noise_draws(key, images.shape, monochrome)
  per_image = (slice(None), None, None, None)
  expected = _apply_noise(images, np.asarray(u), np.asarray(z), amount[per_image], density[per_image])
  np.testing.assert_array_equal(out, expected)


def test_noise_statistics_match_numpy():
  clean = np.stack([load(0)[:96, :96], load(0)[-96:, -96:]])
  key = jax.random.key(0)
  std, corr = residual_stats(_noise(clean, key, 25, 1.0), clean)
  ref_std, _ = residual_stats(np.stack([distort.color_noise(im) for im in clean]), clean)
  assert abs(std - ref_std) < 0.5 and abs(corr) < 0.03
  _, corr = residual_stats(_noise(clean, key, 25, 1.0, monochrome=True), clean)
  assert corr > 0.99


def test_noise_density_and_keys():
  grey = np.full(SHAPE, 128, np.uint8)
  key = jax.random.key(1)
  changed = lambda out: np.any(out != 128, axis=-1).mean(axis=(1, 2))
  frac = changed(_noise(grey, key, 25, [0.5, 1.0]))
  assert 0.46 < frac[0] < 0.54 and frac[1] > 0.96
  np.testing.assert_array_equal(_noise(grey, key, 25, 0.0), grey)
  same = _noise(grey, key, 25, 1.0)
  np.testing.assert_array_equal(same, _noise(grey, key, 25, 1.0))
  assert not np.array_equal(same, _noise(grey, jax.random.key(2), 25, 1.0))


def test_noise_vmap_over_keys_and_amounts():
  grey = jnp.full((3, 32, 32, 3), 128, jnp.uint8)
  keys = jax.random.split(jax.random.key(3), 3)
  amounts = jnp.array([1.0, 10.0, 26.0])
  out = jax.vmap(lambda im, k, a: jax_ops.noise(im, k, a, 1.0))(grey, keys, amounts)
  stds = np.asarray(out).astype(float).std(axis=(1, 2, 3))
  assert stds[0] < stds[1] < stds[2]
