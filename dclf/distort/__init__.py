"""Image distortions of the poster's data generator: a NumPy port of the JH Labs filters.

All filters take a uint8 HxWx3 image and return uint8; same (image, params, seed) gives
the same output. ``jax_ops`` holds on-device JAX versions of the blur and the noise.
"""

from dclf.distort.convolve import gaussian_blur, motion_blur
from dclf.distort.noise import color_noise, mono_noise
from dclf.distort.registry import FILTERS, apply, defaults
from dclf.distort.warp import marble, ripple, twirl

__all__ = [
  "FILTERS",
  "apply",
  "color_noise",
  "defaults",
  "gaussian_blur",
  "marble",
  "mono_noise",
  "motion_blur",
  "ripple",
  "twirl",
]
