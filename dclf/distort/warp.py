"""RippleFilter, TwirlFilter and MarbleFilter: the jar's inverse maps, in float32.

Each builds the source point of every output pixel and hands it to
:func:`transform.resample` (bilinear, edge action, white canvas).
"""

import math

import numpy as np

from dclf.distort import _validate as v
from dclf.distort import perlin
from dclf.distort._java import F32, f32_trig, java_int
from dclf.distort.transform import CLAMP, ZERO, resample

WAVE_TYPES = ("sine", "sawtooth", "triangle", "noise")
MAX_AMPLITUDE = 100.0  # the image grows by 2 int(amplitude) per axis; the poster's amplitudes are 10


def _grid(h: int, w: int, x0: int = 0, y0: int = 0):
  """Float32 coordinates (x, y) of an h x w output whose top-left pixel is (x0, y0)."""
  ys, xs = np.mgrid[y0 : y0 + h, x0 : x0 + w]
  return xs.astype(F32), ys.astype(F32)


def _mod1(x):
  """ImageMath.mod(x, 1) on floats: x - (int)x, wrapped into [0, 1)."""
  r = x - java_int(x).astype(F32)
  return np.where(r < 0, r + F32(1), r)


def _triangle(x):
  """ImageMath.triangle: 0 -> 1 -> 0 over each unit of x."""
  r = _mod1(x)
  return F32(2) * np.where(r < 0.5, r, F32(1) - r)


def _wave(kind: str, seed: int):
  """RippleFilter's wave shape, a function of float32 phase."""
  if kind == "sine":
    return lambda x: f32_trig(np.sin, x)
  if kind == "sawtooth":
    return _mod1
  if kind == "triangle":
    return _triangle
  tables = perlin.tables(seed)
  return lambda x: perlin.noise1(x, tables)


def ripple(
  image,
  *,
  x_amplitude=10.0,
  y_amplitude=10.0,
  x_wavelength=10.0,
  y_wavelength=10.0,
  wave_type="sine",
  seed=0,
) -> np.ndarray:
  """RippleFilter: source = (x + Ax wave(y / Lx), y + Ay wave(x / Ly)) (note the cross-over).

  The jar keeps the default ZERO edge action, which grows the output by 2 int(amplitude)
  per axis (244x244 for a 224 input and amplitude 10) with white wavy borders after the
  white-canvas compositing; amplitudes are in 0..MAX_AMPLITUDE. ``seed`` picks the Perlin table of
  wave_type "noise".
  """
  img = v.check_image(image)
  ax = F32(v.number("x_amplitude", x_amplitude, minimum=0, maximum=MAX_AMPLITUDE))
  ay = F32(v.number("y_amplitude", y_amplitude, minimum=0, maximum=MAX_AMPLITUDE))
  lx = F32(v.number("x_wavelength", x_wavelength, above=0))
  ly = F32(v.number("y_wavelength", y_wavelength, above=0))
  wave_type = v.choice("wave_type", wave_type, WAVE_TYPES)
  px, py = int(ax), int(ay)
  h, w = img.shape[:2]
  x, y = _grid(h + 2 * py, w + 2 * px, -px, -py)
  wave = _wave(wave_type, seed)
  sx = x + ax * wave(y / lx)
  sy = y + ay * wave(x / ly)
  return resample(img, sx, sy, ZERO)


def twirl(image, *, angle=3.0, centre_x=0.5, centre_y=0.5, radius=250.0, seed=0) -> np.ndarray:
  """TwirlFilter: inside ``radius`` of the centre, rotate by angle (radius - d) / radius radians.

  Radius 0 means min(centre x, centre y) in pixels, as in the jar. CLAMP edges.
  ``seed`` is accepted for a uniform filter API; the twirl is deterministic.
  """
  img = v.check_image(image)
  angle = F32(v.number("angle", angle))
  h, w = img.shape[:2]
  icx = F32(w) * F32(v.number("centre_x", centre_x))
  icy = F32(h) * F32(v.number("centre_y", centre_y))
  radius = F32(v.number("radius", radius, minimum=0))
  if radius == 0:  # the jar's convention
    radius = min(icx, icy)
  x, y = _grid(h, w)
  dx, dy = x - icx, y - icy
  d2 = dx * dx + dy * dy
  d = np.sqrt(d2)
  a = np.arctan2(dy.astype(np.float64), dx.astype(np.float64)).astype(F32)
  a = a + angle * (radius - d) / radius
  inside = d2 <= radius * radius
  sx = np.where(inside, icx + d * f32_trig(np.cos, a), x)
  sy = np.where(inside, icy + d * f32_trig(np.sin, a), y)
  return resample(img, sx, sy, CLAMP)


def marble(image, *, x_scale=20.0, y_scale=20.0, amount=100.0, turbulence=5.0, seed=0) -> np.ndarray:
  """MarbleFilter: every pixel moves exactly ``y_scale`` px in a Perlin-chosen direction.

  k = clamp(int(127 (1 + noise2(x / x_scale, y / x_scale)))) picks the angle
  2 pi k / 256 * turbulence; the source is (x - y_scale sin, y + y_scale cos). As in the
  jar, x_scale scales both noise axes and ``amount`` has no effect. The Perlin table is
  drawn from ``seed`` (the jar's is random per JVM run). CLAMP edges.
  """
  img = v.check_image(image)
  x_scale = F32(v.number("x_scale", x_scale, above=0))
  y_scale = F32(v.number("y_scale", y_scale))
  v.number("amount", amount)
  turbulence = F32(v.number("turbulence", turbulence))
  theta = F32(2) * F32(math.pi) * np.arange(256, dtype=F32) / F32(256) * turbulence
  sin_table = (-np.float64(y_scale) * np.sin(theta.astype(np.float64))).astype(F32)
  cos_table = (np.float64(y_scale) * np.cos(theta.astype(np.float64))).astype(F32)
  x, y = _grid(*img.shape[:2])
  n = perlin.noise2(x / x_scale, y / x_scale, perlin.tables(seed))
  k = np.clip(java_int(F32(127) * (F32(1) + n)), 0, 255)
  return resample(img, x + sin_table[k], y + cos_table[k], CLAMP)
