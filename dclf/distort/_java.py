"""Java numeric semantics the JH Labs filters rely on.

The jar computes in float32 and converts with Java's ``(int)`` cast; reproducing
those two rules is what makes the port bit-exact, so they live in one place.
"""

import numpy as np

F32 = np.float32
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def java_int(x):
  """Java's ``(int)`` cast of float values: truncate toward zero, NaN -> 0, saturate."""
  x = np.nan_to_num(np.trunc(x), nan=0.0, posinf=INT_MAX, neginf=INT_MIN)
  return np.clip(x, INT_MIN, INT_MAX).astype(np.int64)


def f32_trig(fn, x):
  """``(float)Math.fn(x)`` of a float argument: evaluate in double, round to float32."""
  return fn(np.asarray(x, F32).astype(np.float64)).astype(F32)
