"""GaussianFilter and MotionBlurFilter of the JH Labs jar (Filters.jar v2.0.235).

Both are ports of the jar's integer-in, integer-out loops: float32 sums in the jar's order,
Java's rounding and truncation, so the output matches the jar bit for bit on real images.
"""

import math

import numpy as np

from dclf.distort import _validate as v
from dclf.distort._java import F32, java_int

MAX_RADIUS = 1000.0  # gaussian_blur: the poster's radii are 1..11
MAX_MOTION_SAMPLES = 2000  # motion_blur: the poster's distance 50 takes 50


def gaussian_taps(xp, radius, k):
  """Unnormalised GaussianFilter.makeKernel weights at integer offsets ``k`` (float32).

  sigma = radius / 3; weights beyond ``radius`` are exactly zero, so a kernel with more
  taps than ceil(radius) gives the same blur (the JAX version relies on that). ``xp`` is
  numpy or jax.numpy; radius must be >= 1 (below, the kernel is the centre tap).
  """
  radius = xp.asarray(radius, dtype=xp.float32)
  sigma = radius / 3
  sigma22 = 2 * sigma * sigma
  sqrt_sigma_pi2 = xp.sqrt(F32(2 * F32(math.pi)) * sigma)
  dist = (k * k).astype(xp.float32)
  # (float)Math.exp(float): NumPy evaluates it in double like Java; JAX (no x64) in float32
  wide = np.float64 if xp is np else xp.float32
  w = xp.exp((-dist / sigma22).astype(wide)).astype(xp.float32) / sqrt_sigma_pi2
  return xp.where(dist > radius * radius, F32(0), w)


def gaussian_kernel(radius: float) -> np.ndarray:
  """The jar's normalised 1-D kernel: 2*ceil(radius)+1 float32 taps, float32 running total."""
  r = math.ceil(F32(radius))
  taps = gaussian_taps(np, radius, np.arange(-r, r + 1))
  total = F32(0)
  for w in taps:  # Java sums the taps in order, in float
    total = F32(total + w)
  return (taps / total).astype(F32)


def _blur_rows(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
  """One convolveAndTranspose pass along axis 1: CLAMP edges, float32 sum, (int)(v + 0.5)."""
  r = len(kernel) // 2
  width = img.shape[1]
  padded = np.pad(img, ((0, 0), (r, r), (0, 0)), mode="edge").astype(F32)
  acc = np.zeros(img.shape, F32)
  for j, w in enumerate(kernel):
    if w != 0:  # the jar skips zero taps
      acc += w * padded[:, j : j + width]
  # (int)(r + 0.5): the 0.5 is a double literal, so the add happens in float64
  return np.clip(np.floor(acc.astype(np.float64) + 0.5), 0, 255).astype(np.uint8)


def gaussian_blur(image, *, radius=10.0, seed=0) -> np.ndarray:
  """GaussianFilter(radius): separable blur, rows then columns, rounded to integers after each pass.

  radius is in 0..MAX_RADIUS (the kernel has 2 ceil(radius) + 1 taps, the image is padded by
  ceil(radius) on each side). Radii below 1 return the image unchanged: the jar's kernel is then the centre tap alone
  (and 0/0 at radius 0, which the generator never used).
  ``seed`` is accepted for a uniform filter API; the blur is deterministic.
  """
  img = v.check_image(image)
  radius = v.number("radius", radius, minimum=0, maximum=MAX_RADIUS)
  if F32(radius) < 1:
    return img.copy()
  kernel = gaussian_kernel(radius)
  rows = _blur_rows(img, kernel)
  return _blur_rows(rows.transpose(1, 0, 2), kernel).transpose(1, 0, 2).copy()


def _motion_matrix(f, cx, cy, tx, ty, zoom, rotation):
  """The jar's per-sample AffineTransform, as double-precision (m00, m01, m02, m10, m11, m12).

  translate(c + f t) . scale(s) . rotate(-rotation f) . translate(-c), with the float32
  arguments the jar hands to java.awt.geom.AffineTransform (which works in double).
  """
  s = float(F32(1) - zoom * f)
  if rotation != 0:
    theta = float(-rotation * f)
    cos, sin = math.cos(theta), math.sin(theta)
  else:  # the jar skips rotate() when rotation == 0
    cos, sin = 1.0, 0.0
  m00, m01, m10, m11 = cos * s, -sin * s, sin * s, cos * s
  m02 = -cx * m00 + -cy * m01 + float(F32(cx) + f * tx)
  m12 = -cx * m10 + -cy * m11 + float(F32(cy) + f * ty)
  return m00, m01, m02, m10, m11, m12


def _sample_index(xs, ys, a, b, c):
  """(int)(float)(x a + y b + c): Point2D.Float keeps the double result as float, then (int).

  xs is a row and ys a column of coordinates; a zero coefficient adds exactly 0 in Java's
  sum, so its term is skipped and the result stays a row or a column (cheap to compute).
  """
  if b == 0:
    v = xs * a + c
  elif a == 0:
    v = ys * b + c
  else:
    v = xs * a + ys * b + c
  return java_int(v.astype(F32))


def motion_blur(image, *, distance=50.0, angle=90.0, rotation=0.0, zoom=0.0, wrap_edges=False, seed=0) -> np.ndarray:
  """MotionBlurFilter: each pixel averages n = int(distance + |rotation| R + zoom R) samples.

  n must be in 0..MAX_MOTION_SAMPLES (each sample is one pass over the image).
  Sample i reads pixel trunc(M_i p) where M_i moves by i/n of the blur vector
  (distance cos(angle), -distance sin(angle)); **angle and rotation are radians** (the jar's
  AffineTransform), so the poster's angle 90 is 90 rad. Off-image samples end the run
  (later ones are dropped too) unless ``wrap_edges``. Output = floor(sum / count).
  ``seed`` is accepted for a uniform filter API; the blur is deterministic.
  """
  img = v.check_image(image)
  distance = F32(v.number("distance", distance, minimum=0))
  angle = F32(v.number("angle", angle))
  rotation = F32(v.number("rotation", rotation))
  zoom = F32(v.number("zoom", zoom))
  wrap_edges = v.boolean("wrap_edges", wrap_edges)

  h, w = img.shape[:2]
  cx, cy = w // 2, h // 2
  radius = F32(math.sqrt(cx * cx + cy * cy))
  tx = F32(float(distance) * math.cos(float(angle)))
  ty = F32(float(distance) * -math.sin(float(angle)))
  n = int(java_int(distance + abs(rotation * radius) + zoom * radius))
  if not 0 <= n <= MAX_MOTION_SAMPLES:
    raise ValueError(
      f"motion_blur takes int(distance + |rotation| R + zoom R) = {n} samples per pixel here (R = {float(radius):g}, "
      f"half the image's diagonal); it must be in 0..{MAX_MOTION_SAMPLES}"
    )
  if n == 0:
    return img.copy()

  planes = img.transpose(2, 0, 1).reshape(3, h * w)  # channel planes: one gather per sample
  xs, ys = np.arange(w, dtype=np.float64)[None, :], np.arange(h, dtype=np.float64)[:, None]
  total = np.zeros((3, h, w), np.int64)
  count = np.zeros((h, w), np.int64)
  alive = np.ones((h, w), bool)
  for i in range(n):  # one vectorised step per sample along the blur path
    m00, m01, m02, m10, m11, m12 = _motion_matrix(F32(F32(i) / F32(n)), cx, cy, tx, ty, zoom, rotation)
    sx, sy = _sample_index(xs, ys, m00, m01, m02), _sample_index(xs, ys, m10, m11, m12)
    if wrap_edges:
      sx, sy = np.mod(sx, w), np.mod(sy, h)
    else:
      alive &= (sx >= 0) & (sx < w) & (sy >= 0) & (sy < h)
      sx, sy = np.clip(sx, 0, w - 1), np.clip(sy, 0, h - 1)
    np.add(total, planes.take(sy * w + sx, axis=1), out=total, where=alive)
    count += alive
  return (total // count).transpose(1, 2, 0).astype(np.uint8)
