"""Argument checks shared by the filters: clear ValueErrors instead of odd output."""

import numbers

import numpy as np


def check_image(image) -> np.ndarray:
  """Return ``image`` as a uint8 HxWx3 array, or raise ValueError saying what is wrong."""
  arr = np.asarray(image)
  if arr.dtype != np.uint8:
    raise ValueError(f"image must be uint8, got dtype {arr.dtype}")
  if arr.ndim != 3 or arr.shape[2] != 3:
    raise ValueError(f"image must be HxWx3 RGB, got shape {arr.shape} (convert grey/alpha images to RGB first)")
  if arr.shape[0] == 0 or arr.shape[1] == 0:
    raise ValueError(f"image must not be empty, got shape {arr.shape}")
  return arr


def _in_range(name: str, value, minimum, maximum, above) -> None:
  if minimum is not None and value < minimum:
    raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
  if above is not None and value <= above:
    raise ValueError(f"{name} must be > {above}, got {value!r}")
  if maximum is not None and value > maximum:
    raise ValueError(f"{name} must be <= {maximum}, got {value!r}")


def number(name: str, value, *, minimum=None, above=None, maximum=None) -> float:
  """A finite real parameter, optionally >= minimum, > above, <= maximum."""
  if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
    raise ValueError(f"{name} must be a finite number, got {value!r}")
  _in_range(name, value, minimum, maximum, above)
  return float(value)


def integer(name: str, value, *, minimum=None, maximum=None) -> int:
  """An integral parameter (the jar's setter takes an int); integral floats are accepted."""
  if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value != int(value):
    raise ValueError(f"{name} must be an integer, got {value!r}")
  _in_range(name, value, minimum, maximum, None)
  return int(value)


def choice(name: str, value, options) -> str:
  """One of a fixed set of strings."""
  if value not in options:
    raise ValueError(f"{name} must be one of {', '.join(options)}; got {value!r}")
  return value


def boolean(name: str, value) -> bool:
  if not isinstance(value, (bool, np.bool_)):
    raise ValueError(f"{name} must be a bool, got {value!r}")
  return bool(value)
