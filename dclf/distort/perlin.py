"""JH Labs Noise (Perlin's reference gradient noise), vectorised, with per-seed tables.

The jar fills its tables once per JVM from an unseeded java.util.Random, so no port can
reproduce its marble field pixel for pixel; here the tables are drawn from
``np.random.default_rng(seed)`` with exactly the jar's recipe (Noise.init), so each seed
gives a table with the jar's distribution.
"""

from typing import NamedTuple

import numpy as np

from dclf.distort._java import F32, java_int

B = 256
N = F32(4096)


class Tables(NamedTuple):
  p: np.ndarray  # (2B+2,) permutation, repeated
  g1: np.ndarray  # (2B+2,) 1-D gradients
  g2: np.ndarray  # (2B+2, 2) unit 2-D gradients


def tables(seed: int) -> Tables:
  """Noise.init with ``rand`` = 31-bit draws of ``default_rng(seed)``, consumed in the jar's order.

  Per i: g1 (1 draw), g2 (2), g3 (3; unused by noise1/noise2 but drawn, so the stream lines
  up with the jar's); then p[i] <-> p[rand % 256] for i = 255..0. Gradients are
  (rand % 512 - 256) / 256, g2 normalised without rejection (as the jar does).
  """
  rand = np.random.default_rng(seed).integers(0, 2**31, size=7 * B)
  grads = (((rand[: 6 * B] % (2 * B)) - B).astype(F32) / F32(B)).reshape(B, 6)
  g1, g2 = grads[:, 0], grads[:, 1:3]
  with np.errstate(invalid="ignore", divide="ignore"):  # (0, 0) gives NaN, like the jar
    g2 = g2 / np.sqrt(g2[:, 0] * g2[:, 0] + g2[:, 1] * g2[:, 1])[:, None]
  p = np.arange(B)
  for i, r in zip(range(B - 1, -1, -1), rand[6 * B :]):
    j = r % B
    p[i], p[j] = p[j], p[i]
  # entries 0..B+1 copied to B..2B+1, as the jar does (the copy of p[B], p[B+1] is p[0], p[1])
  return Tables(*(np.concatenate([a, a, a[:2]]) for a in (p, g1, g2)))


def _setup(x: np.ndarray):
  """Lattice cell b0, b1 and offsets r0, r1 of float32 coordinates (Perlin's setup macro)."""
  t = x + N
  it = java_int(t)
  b0 = it & (B - 1)
  r0 = t - it.astype(F32)
  return b0, (b0 + 1) & (B - 1), r0, r0 - F32(1)


def _s_curve(t):
  return t * t * (F32(3) - F32(2) * t)


def _lerp(t, a, b):
  return a + t * (b - a)


def noise1(x: np.ndarray, tab: Tables) -> np.ndarray:
  """Noise.noise1 on float32 x: 1-D gradient noise times 2.3."""
  bx0, bx1, rx0, rx1 = _setup(np.asarray(x, F32))
  u = rx0 * tab.g1[tab.p[bx0]]
  v = rx1 * tab.g1[tab.p[bx1]]
  return F32(2.3) * _lerp(_s_curve(rx0), u, v)


def noise2(x: np.ndarray, y: np.ndarray, tab: Tables) -> np.ndarray:
  """Noise.noise2 on float32 (x, y): 2-D gradient noise times 1.5 (range about +-1.05)."""
  bx0, bx1, rx0, rx1 = _setup(np.asarray(x, F32))
  by0, by1, ry0, ry1 = _setup(np.asarray(y, F32))
  i, j = tab.p[bx0], tab.p[bx1]

  def grad(b, rx, ry):
    q = tab.g2[tab.p[b]]
    return rx * q[..., 0] + ry * q[..., 1]

  sx, sy = _s_curve(rx0), _s_curve(ry0)
  a = _lerp(sx, grad(i + by0, rx0, ry0), grad(j + by0, rx1, ry0))
  b = _lerp(sx, grad(i + by1, rx0, ry1), grad(j + by1, rx1, ry1))
  return F32(1.5) * _lerp(sy, a, b)
