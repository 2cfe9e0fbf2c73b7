"""A recipe's distortions drawn and applied on the device, inside the compiled train step
(`config.distort_on_device`): the training images arrive clean and leave with a class and a
severity drawn afresh for every image of every step.

Everything comes from one key per step and each image's place in the global batch, so a batch's
distortions do not depend on how it is spread over devices or processes, and a resumed run
redraws exactly what an uninterrupted one drew:

- class: a uniform random permutation of the global batch's places, taken modulo the number of
  classes, so each image is equally likely to get any class and a global batch whose size divides
  by the number of classes holds exactly as many images of each;
- severities and noise: from the image's own key (the step key folded with its place), drawn
  independently of every other image, from the recipe's distribution (`dclf.distort.severities`).
"""

import dataclasses
import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from dclf.distort import jax_ops
from dclf.distort.severities import BLUR_RADIUS, NOISE_AMOUNT, NOISE_DENSITY
from dclf.labels import BLUR_NOISE_CLASSES


class Severities(NamedTuple):
  """One value per image: blur radius, noise amount (a whole number, as float32) and density, the
  key of its noise, and whether that noise is monochrome (for recipes that mix both kinds). A
  NamedTuple: a pytree that vmap returns."""

  radius: jax.Array
  amount: jax.Array
  density: jax.Array
  noise_key: jax.Array
  monochrome: jax.Array


def draw_classes(key, index, batch_size: int, num_classes: int):
  """int32 class of the images at places `index` of a global batch of `batch_size`."""
  return (jax.random.permutation(key, batch_size)[index] % num_classes).astype(jnp.int32)


def _draw_one(key) -> Severities:
  radius_key, amount_key, density_key, noise_key = jax.random.split(key, 4)
  return Severities(
    radius=jax.random.uniform(radius_key, (), minval=BLUR_RADIUS[0], maxval=BLUR_RADIUS[1]),
    amount=jax.random.randint(amount_key, (), NOISE_AMOUNT[0], NOISE_AMOUNT[1] + 1).astype(jnp.float32),
    density=jax.random.uniform(density_key, (), minval=NOISE_DENSITY[0], maxval=NOISE_DENSITY[1]),
    noise_key=noise_key,
    monochrome=jax.random.bernoulli(jax.random.fold_in(key, 1)),  # a stream of its own: the others stay as they were
  )


def draw_severities(key, index) -> Severities:
  """The severities of the images at places `index` (each from `key` folded with its place)."""
  keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, index)
  return jax.vmap(_draw_one)(keys)


def _blur_noise(images, classes, severities: Severities, mix_monochrome: bool = False):
  """Reference images unchanged, blur images blurred, noise images noised: the jar's colour
  gaussian noise, or with `mix_monochrome` its monochrome noise for the images that drew it."""
  blur, noise = BLUR_NOISE_CLASSES.index("blur"), BLUR_NOISE_CLASSES.index("noise")
  blurred = jax_ops.gaussian_blur(images, jnp.where(classes == blur, severities.radius, 0.0))  # radius 0: unchanged
  draws = (images, severities.noise_key, severities.amount, severities.density)
  noised = jax.vmap(jax_ops.noise)(*draws)
  if mix_monochrome:
    mono = jax.vmap(functools.partial(jax_ops.noise, monochrome=True))(*draws)
    noised = jnp.where(severities.monochrome[:, None, None, None], mono, noised)
  return jnp.where((classes == noise)[:, None, None, None], noised, blurred)


@dataclasses.dataclass(frozen=True)
class DeviceRecipe:
  """classes: the labels it draws, in label order; apply(images, classes, severities) -> images."""

  classes: tuple[str, ...]
  apply: Callable


# blur_noise: the poster's recipe (dclf.data.distortions; six_distortions' motion blur and warps
# have no JAX version). blur_noise_mono_colour: the same, except that a noise image gets the jar's
# monochrome noise (one value added to R, G and B) instead of its colour noise with probability 1/2:
# photos from the wild carry luminance noise too (configs/quickstart.py, docs/evaluation.md).
DEVICE_RECIPES = {
  "blur_noise": DeviceRecipe(BLUR_NOISE_CLASSES, _blur_noise),
  "blur_noise_mono_colour": DeviceRecipe(BLUR_NOISE_CLASSES, functools.partial(_blur_noise, mix_monochrome=True)),
}


def distort(recipe: str, images, key, index, batch_size: int):
  """(distorted images, int32 classes, the Severities drawn) for uint8 images (n, H, W, 3) at
  places `index` (n,) of a global batch of `batch_size`, from the step's `key`."""
  spec = DEVICE_RECIPES[recipe]
  class_key, severity_key = jax.random.split(key)
  classes = draw_classes(class_key, index, batch_size, len(spec.classes))
  severities = draw_severities(severity_key, index)
  return spec.apply(images, classes, severities), classes, severities
