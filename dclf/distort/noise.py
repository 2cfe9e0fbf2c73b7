"""NoiseFilter: additive Gaussian or uniform noise on a random fraction of the pixels.

The per-pixel rule lives in :func:`_apply_noise`, shared with the JAX version
(``jax_ops.noise``), so both give identical output from the same random draws.
"""

import numpy as np

from dclf.distort import _validate as v
from dclf.distort._java import F32

DISTRIBUTIONS = ("gaussian", "uniform")
MAX_AMOUNT = 255  # a noise std beyond the pixel range saturates every noised pixel


def _apply_noise(image, u, z, amount, density):
  """The jar's NoiseFilter.filterRGB on whole arrays (NumPy or JAX).

  A pixel is noised iff its uniform draw ``u`` <= density; then each channel gets
  trunc(amount * z) (toward zero) and is clamped to 0..255. ``z`` has one value per channel
  (colour) or one per pixel broadcast over the channels (monochrome).
  """
  xp = image.__array_namespace__()
  n = xp.trunc(amount * z)
  noised = xp.clip(image.astype(n.dtype) + n, 0, 255)
  return xp.where(u[..., None] <= density, noised, image).astype(xp.uint8)


def _noise(image, amount, density, distribution, seed, channels):
  img = v.check_image(image)
  amount = v.integer("amount", amount, minimum=0, maximum=MAX_AMOUNT)
  density = F32(v.number("density", density, minimum=0))
  distribution = v.choice("distribution", distribution, DISTRIBUTIONS)
  rng = np.random.default_rng(seed)
  shape = img.shape[:2]
  u = rng.random(shape, dtype=F32)  # nextFloat(), drawn for every pixel
  if distribution == "gaussian":
    z = rng.standard_normal(shape + (channels,))  # nextGaussian() is a double
  else:
    z = F32(2) * rng.random(shape + (channels,), dtype=F32) - F32(1)  # 2 nextFloat() - 1
  return _apply_noise(img, u, z, amount, density)


def color_noise(image, *, amount=25, density=1.0, distribution="gaussian", seed=0) -> np.ndarray:
  """NoiseFilter, monochrome false: independent noise of std ``amount`` on R, G and B.

  ``density`` is the fraction of pixels noised (>= 0; >= 1: all, as the poster's recipe draws up
  to 1.1). amount is an int in 0..MAX_AMOUNT, as the jar's setter takes an int.
  """
  return _noise(image, amount, density, distribution, seed, channels=3)


def mono_noise(image, *, amount=25, density=1.0, distribution="gaussian", seed=0) -> np.ndarray:
  """NoiseFilter, monochrome true: one noise value per pixel added to R, G and B alike."""
  return _noise(image, amount, density, distribution, seed, channels=1)
