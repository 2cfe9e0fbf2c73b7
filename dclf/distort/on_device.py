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
from dclf.distort.severities import BLUR_RADIUS, IMPULSE_SHARE, NOISE_AMOUNT, NOISE_DENSITY
from dclf.labels import BLUR_NOISE_CLASSES


class Severities(NamedTuple):
  """One value per image: blur radius, noise amount (a whole number, as float32) and density, the
  key of its noise, and for recipes that mix kinds of noise, which kind (`noise_kind` modulo their
  number) and the share of pixels an impulse noise hits. A NamedTuple: a pytree that vmap returns."""

  radius: jax.Array
  amount: jax.Array
  density: jax.Array
  noise_key: jax.Array
  noise_kind: jax.Array
  impulse_share: jax.Array


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
    # streams of their own, so the poster's draws above stay what they are
    noise_kind=jax.random.randint(jax.random.fold_in(key, 1), (), 0, NOISE_KINDS_LCM),
    impulse_share=jax.random.uniform(jax.random.fold_in(key, 2), (), minval=IMPULSE_SHARE[0], maxval=IMPULSE_SHARE[1]),
  )


def draw_severities(key, index) -> Severities:
  """The severities of the images at places `index` (each from `key` folded with its place)."""
  keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, index)
  return jax.vmap(_draw_one)(keys)


def _colour_noise(images, s: Severities):
  return jax.vmap(jax_ops.noise)(images, s.noise_key, s.amount, s.density)


def _mono_noise(images, s: Severities):
  return jax.vmap(functools.partial(jax_ops.noise, monochrome=True))(images, s.noise_key, s.amount, s.density)


def _impulse_noise(images, s: Severities):
  """Salt-and-pepper: each pixel is set to black or white (1/2 each) with probability impulse_share."""

  def one(image, key, share):
    hit_key, white_key = jax.random.split(key)
    hit = jax.random.uniform(hit_key, image.shape[:-1]) < share
    value = jnp.where(jax.random.bernoulli(white_key, 0.5, image.shape[:-1]), 255, 0).astype(image.dtype)
    return jnp.where(hit[..., None], value[..., None], image)

  return jax.vmap(one)(images, s.noise_key, s.impulse_share)


NOISES = {"colour": _colour_noise, "mono": _mono_noise, "impulse": _impulse_noise}
NOISE_KINDS_LCM = 6  # noise_kind is drawn in [0, 6): modulo 1, 2 or 3 kinds, each is equally likely


def _blur_noise(images, classes, severities: Severities, noises=("colour",)):
  """Reference images unchanged, blur images blurred, noise images noised with one of `noises`
  (NOISES; each equally likely)."""
  blur, noise = BLUR_NOISE_CLASSES.index("blur"), BLUR_NOISE_CLASSES.index("noise")
  blurred = jax_ops.gaussian_blur(images, jnp.where(classes == blur, severities.radius, 0.0))  # radius 0: unchanged
  kind = severities.noise_kind % len(noises)
  noised = NOISES[noises[0]](images, severities)
  for k, name in enumerate(noises[1:], start=1):
    noised = jnp.where((kind == k)[:, None, None, None], NOISES[name](images, severities), noised)
  return jnp.where((classes == noise)[:, None, None, None], noised, blurred)


@dataclasses.dataclass(frozen=True)
class DeviceRecipe:
  """classes: the labels it draws, in label order; apply(images, classes, severities) -> images."""

  classes: tuple[str, ...]
  apply: Callable


# blur_noise: the poster's recipe (dclf.data.distortions; six_distortions' motion blur and warps
# have no JAX version). blur_noise_wild: the same classes and severities, but a noise image gets one
# of three noises, each with probability 1/3: the jar's colour noise, its monochrome noise (one value
# added to R, G and B), or salt-and-pepper on a share of its pixels ~ U[0.002, 0.2): photos from the
# wild carry luminance and impulse noise too (configs/quickstart.py, docs/evaluation.md).
DEVICE_RECIPES = {
  "blur_noise": DeviceRecipe(BLUR_NOISE_CLASSES, _blur_noise),
  "blur_noise_wild": DeviceRecipe(
    BLUR_NOISE_CLASSES, functools.partial(_blur_noise, noises=("colour", "mono", "impulse"))
  ),
}


def distort(recipe: str, images, key, index, batch_size: int):
  """(distorted images, int32 classes, the Severities drawn) for uint8 images (n, H, W, 3) at
  places `index` (n,) of a global batch of `batch_size`, from the step's `key`."""
  spec = DEVICE_RECIPES[recipe]
  class_key, severity_key = jax.random.split(key)
  classes = draw_classes(class_key, index, batch_size, len(spec.classes))
  severities = draw_severities(severity_key, index)
  return spec.apply(images, classes, severities), classes, severities
