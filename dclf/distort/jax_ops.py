"""JAX versions of the Gaussian blur and the noise, for augmentation on device.

Both are jit- and vmap-able and take batches (..., H, W, 3) of uint8. Parameters may be
traced scalars or one value per image, so a batch can carry random severities (the
poster's blur_noise recipe: radius ~ U[1, 11), amount ~ U{1..26}, density ~ U[0.1, 1.1)).
They follow the NumPy port: the same kernel and per-pass rounding for the blur, the same
per-pixel rule (:func:`noise._apply_noise`) for the noise.
"""

import functools
import math

import jax
import jax.numpy as jnp

from dclf.distort.convolve import gaussian_taps
from dclf.distort.noise import _apply_noise


def _check_images(images):
  if images.dtype != jnp.uint8 or images.ndim < 3 or images.shape[-1] != 3:
    raise ValueError(f"images must be uint8 (..., H, W, 3), got {images.dtype} {images.shape}")


def _per_image(x):
  """A scalar or per-image parameter (shape images.shape[:-3]), broadcastable over H, W, C."""
  x = jnp.asarray(x, jnp.float32)
  return x.reshape(x.shape + (1, 1, 1))


def _kernels(radius, taps: int):
  """Normalised GaussianFilter kernels with 2 taps + 1 weights, one per radius (..., 2taps+1).

  Weights beyond floor(radius) are zero, exactly as in the jar's kernel, so any radius up to
  ``taps`` gets its own blur from one static kernel size. Radii below 1 give the identity
  (the centre tap alone, as in the NumPy port).
  """
  radius = jnp.asarray(radius, jnp.float32)[..., None]
  w = gaussian_taps(jnp, jnp.maximum(radius, 1), jnp.arange(-taps, taps + 1))
  identity = jnp.zeros(2 * taps + 1, jnp.float32).at[taps].set(1)
  return jnp.where(radius >= 1, w / jnp.sum(w, axis=-1, keepdims=True), identity)


def _blur_axis(x, kernels, axis: int):
  """One clamped-edge pass along ``axis`` (-2: rows, -3: columns), rounded like the jar."""
  taps = kernels.shape[-1] // 2
  pad = [(0, 0)] * x.ndim
  pad[axis] = (taps, taps)
  padded = jnp.pad(x, pad, mode="edge")
  n = x.shape[axis]
  acc = jnp.zeros(x.shape, jnp.float32)
  for j in range(2 * taps + 1):
    tap = jax.lax.slice_in_dim(padded, j, j + n, axis=axis)
    acc = acc + kernels[..., j][..., None, None, None] * tap
  return jnp.clip(jnp.floor(acc + 0.5), 0, 255)


@functools.partial(jax.jit, static_argnames=("max_radius",))
def gaussian_blur(images, radius, *, max_radius: float = 11.0):
  """GaussianFilter(radius) on uint8 (..., H, W, 3); radius a scalar or one per image.

  ``max_radius`` (static) sets the kernel size, 2 ceil(max_radius) + 1 taps; radii above it
  would be cut short, so keep radius <= max_radius (default 11 covers U[1, 11)).
  """
  _check_images(images)
  kernels = _kernels(radius, math.ceil(max_radius))
  rows = _blur_axis(images.astype(jnp.float32), kernels, axis=-2)
  return _blur_axis(rows, kernels, axis=-3).astype(jnp.uint8)


def _noise_draws(key, shape, monochrome: bool):
  """The uniform (one per pixel) and normal (per channel, or per pixel if mono) draws."""
  ku, kz = jax.random.split(key)
  u = jax.random.uniform(ku, shape[:-1])
  z = jax.random.normal(kz, shape[:-1] + (1 if monochrome else shape[-1],))
  return u, z


@functools.partial(jax.jit, static_argnames=("monochrome",))
def noise(images, key, amount, density, monochrome: bool = False):
  """NoiseFilter (gaussian) on uint8 (..., H, W, 3): trunc(amount z) added, clamped to 0..255.

  A pixel is noised with probability ``density`` (>= 1: all). amount and density are
  scalars or one per image; ``monochrome`` (static) adds the same value to R, G and B.
  """
  _check_images(images)
  u, z = _noise_draws(key, images.shape, monochrome)
  return _apply_noise(images, u, z, _per_image(amount), _per_image(density))
