"""config.distort_on_device's draws (dclf.distort.on_device): per image and step, in the recipe's
ranges, independent from image to image, balanced classes, the NumPy port's output for the drawn
parameters, and the same distortions however the batch is spread over devices."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_distort_jax import _assert_close_blur

from dclf import distort, parallel, steps
from dclf.distort import jax_ops, on_device
from dclf.distort.noise import _apply_noise
from dclf.distort.severities import BLUR_RADIUS, IMPULSE_SHARE, NOISE_AMOUNT, NOISE_DENSITY

from _distort_helpers import load

KEY = steps.distortion_key(0, 0)  # step 0's key of a run with seed 0
REFERENCE, BLUR, NOISE = range(3)


def _crops(count: int, size: int = 48) -> np.ndarray:
  """`count` different size x size crops of the JH Labs test photo."""
  photo = load("in")
  return np.stack([photo[7 * i : 7 * i + size, 5 * i : 5 * i + size] for i in range(count)])


def _assert_noise(recipe: str, image, out, drawn) -> None:
  """The recipe's noise of the kind the image drew: the NumPy port's NoiseFilter rule on its own
  draws (colour, or one value per pixel for monochrome), or salt-and-pepper on its share of pixels."""
  kind = ("colour", "mono", "impulse")[int(drawn.noise_kind) % 3] if recipe == "blur_noise_wild" else "colour"
  if kind == "impulse":
    hit = np.any(out != image, axis=-1)
    assert set(np.unique(out[hit])) <= {0, 255} and np.all(out[hit].min(-1) == out[hit].max(-1))
    assert abs(hit.mean() - float(drawn.impulse_share)) < 0.04
  else:
    u, z = jax_ops._noise_draws(drawn.noise_key, image.shape, kind == "mono")
    expected = _apply_noise(image, np.asarray(u), np.asarray(z), float(drawn.amount), float(drawn.density))
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("recipe", sorted(on_device.DEVICE_RECIPES))
def test_each_class_gets_the_numpy_ports_output_for_its_drawn_parameters(recipe):
  images = _crops(12)
  out, classes, severities = jax.jit(on_device.distort, static_argnums=(0, 4))(
    recipe, jnp.asarray(images), KEY, jnp.arange(12), 12
  )
  out, classes = np.asarray(out), np.asarray(classes)
  assert sorted(classes.tolist()) == [REFERENCE] * 4 + [BLUR] * 4 + [NOISE] * 4
  if recipe == "blur_noise_wild":  # this key gives its noise images all three noises
    assert set(np.asarray(severities.noise_kind)[classes == NOISE] % 3) == {0, 1, 2}
  for i, (image, label) in enumerate(zip(images, classes)):
    if label == REFERENCE:
      np.testing.assert_array_equal(out[i], image)
    elif label == BLUR:
      _assert_close_blur(out[i], distort.gaussian_blur(image, radius=float(severities.radius[i])))
    else:
      _assert_noise(recipe, image, out[i], jax.tree.map(lambda x: x[i], severities))
      assert not np.array_equal(out[i], image)


def test_severities_cover_the_recipes_ranges():
  drawn = on_device.draw_severities(KEY, jnp.arange(3000))
  radius, amount, density = (np.asarray(x, np.float64) for x in drawn[:3])
  assert BLUR_RADIUS[0] <= radius.min() and radius.max() < BLUR_RADIUS[1] and abs(radius.mean() - 6) < 0.25
  assert NOISE_DENSITY[0] <= density.min() and density.max() < NOISE_DENSITY[1] and abs(density.mean() - 0.6) < 0.025
  kinds = np.bincount(np.asarray(drawn.noise_kind) % 3, minlength=3)
  assert kinds.min() > 900 and kinds.max() < 1100  # blur_noise_wild's three noises, a third each
  share = np.asarray(drawn.impulse_share, np.float64)
  assert IMPULSE_SHARE[0] <= share.min() and share.max() < IMPULSE_SHARE[1]
  values, counts = np.unique(amount, return_counts=True)
  assert values.tolist() == list(range(NOISE_AMOUNT[0], NOISE_AMOUNT[1] + 1))  # whole numbers, both ends
  assert counts.min() > 3000 / 26 - 50 and counts.max() < 3000 / 26 + 50


def test_each_images_draws_are_its_own():
  """An image's severities depend on its place only (not on the batch around it), and are
  uncorrelated with its neighbours' and with each other."""
  many = on_device.draw_severities(KEY, jnp.arange(3000))
  alone = on_device.draw_severities(KEY, jnp.array([17]))
  for field in ("radius", "amount", "density"):
    assert float(getattr(alone, field)[0]) == float(getattr(many, field)[17])
  radius, amount, density = (np.asarray(x, np.float64) for x in many[:3])
  kind = np.asarray(many.noise_kind, np.float64)
  for a, b in ((radius[:-1], radius[1:]), (radius, amount), (radius, density), (amount, density), (kind, amount)):
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.1
  grey = jnp.full((2, 16, 16, 3), 128, jnp.uint8)
  noised = jax.vmap(jax_ops.noise)(grey, many.noise_key[:2], jnp.full(2, 20.0), jnp.ones(2))
  assert not np.array_equal(np.asarray(noised[0]), np.asarray(noised[1]))


def test_classes_are_balanced_in_a_batch_and_uniform_for_each_image():
  keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(KEY, jnp.arange(300))
  drawn = np.asarray(jax.vmap(lambda key: on_device.draw_classes(key, jnp.arange(12), 12, 3))(keys))
  for row in drawn:
    assert np.bincount(row, minlength=3).tolist() == [4, 4, 4]
  per_place = np.stack([(drawn == c).mean(axis=0) for c in range(3)])
  assert np.all(np.abs(per_place - 1 / 3) < 0.1)  # every place gets every class about 100 times in 300
  assert len({tuple(row) for row in drawn}) > 250  # a new assignment almost every step
  odd = np.asarray(on_device.draw_classes(KEY, jnp.arange(10), 10, 3))
  assert np.bincount(odd, minlength=3).tolist() == [4, 3, 3]


def test_steps_draw_anew_and_a_step_always_draws_the_same():
  index = jnp.arange(12)
  first, again = (on_device.draw_severities(steps.distortion_key(0, 5), index) for _ in range(2))
  later = on_device.draw_severities(steps.distortion_key(0, 6), index)
  np.testing.assert_array_equal(np.asarray(first.radius), np.asarray(again.radius))
  assert not np.any(np.asarray(first.radius) == np.asarray(later.radius))


@pytest.mark.parametrize("parallelism", ["pmap", "jit"])
def test_a_batch_spread_over_devices_gets_the_distortions_of_the_whole_batch(parallelism):
  """The train step's `distort_shard` on 2 devices (4 images each) equals `distort` of the global
  batch of 8 in one piece: distortions do not depend on the device count."""
  par = parallel.create(parallelism)
  assert len(par.devices) == 2
  images = _crops(8, size=32)
  shard_fn = par.compile(
    lambda _, batch, key: steps.distort_shard("blur_noise", batch, key),
    num_sharded=1,
    num_broadcast=1,
    sharded_output=True,
  )
  batch = {"image": images, "label": np.zeros(8, np.int32)}
  spread = par.get_sharded(shard_fn(par.put_state({"unused": np.zeros(())}), par.put_batch(batch), KEY))
  whole, classes, _ = on_device.distort("blur_noise", jnp.asarray(images), KEY, jnp.arange(8), 8)
  np.testing.assert_array_equal(spread["image"], np.asarray(whole))
  np.testing.assert_array_equal(spread["label"], np.asarray(classes))
