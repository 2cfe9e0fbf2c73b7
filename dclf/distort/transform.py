"""The jar's TransformFilter: inverse-mapped bilinear resampling, edge actions, white canvas.

Ripple, twirl and marble only differ in their inverse map; they all resample through
:func:`resample`, which reproduces TransformFilter.filter + ImageMath.bilinearInterpolate
(float32 weights, truncation) on ARGB pixels, then the caller's drawing of the ARGB result
onto a white RGB canvas.
"""

import numpy as np

from dclf.distort._java import F32, java_int

ZERO = "zero"  # off-image corners are transparent black (the jar's default edge action)
CLAMP = "clamp"  # off-image corners repeat the nearest edge pixel (marble, twirl)

_CORNERS = ((0, 0), (1, 0), (0, 1), (1, 1))  # nw, ne, sw, se


def _corner(planes: np.ndarray, shape, x: np.ndarray, y: np.ndarray, edge: str) -> np.ndarray:
  """Float32 RGBA at integer (x, y) from (4, H*W) channel planes; off-image as ``edge`` says."""
  h, w = shape
  px = planes.take(np.clip(y, 0, h - 1) * w + np.clip(x, 0, w - 1), axis=1)
  if edge == ZERO:
    px *= (x >= 0) & (x < w) & (y >= 0) & (y < h)
  return px


def on_white(rgba: np.ndarray) -> np.ndarray:
  """Draw non-premultiplied (4, ...) RGBA onto white: round(c a/255 + 255 (1 - a/255)), exactly."""
  c, a = rgba[:3].astype(np.int64), rgba[3].astype(np.int64)
  return ((c * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)  # no ties: k/255 != n + 1/2


def resample(image: np.ndarray, sx: np.ndarray, sy: np.ndarray, edge: str) -> np.ndarray:
  """Sample uint8 RGB ``image`` at float32 source points (sx, sy); shape of sx is the output's."""
  h, w = image.shape[:2]
  planes = np.empty((4, h * w), F32)  # the jar's TYPE_INT_ARGB input, opaque, channel-first
  planes[:3] = image.reshape(h * w, 3).T
  planes[3] = 255
  x0, y0 = java_int(np.floor(sx)), java_int(np.floor(sy))
  fx, fy = sx - x0.astype(F32), sy - y0.astype(F32)
  nw, ne, sw, se = (_corner(planes, (h, w), x0 + dx, y0 + dy, edge) for dx, dy in _CORNERS)
  cx, cy = F32(1) - fx, F32(1) - fy
  m0 = cx * nw + fx * ne
  m1 = cx * sw + fx * se
  argb = java_int(cy * m0 + fy * m1)  # truncation, not rounding
  return np.moveaxis(on_white(argb), 0, -1).copy()
