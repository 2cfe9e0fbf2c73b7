"""Windows of a photo at its own scale: where they lie, and how their answers become the photo's.

A photo larger than the model's input is looked at through size x size windows instead of one
shrunk centre crop, so a distortion keeps the scale it was made at (a blur of radius 6 on a 600
pixel photo is radius 2.2 once the photo is shrunk to 224, and the poster's models hardly see it).

`layout` places the windows: per axis, as many as it takes to cover the photo with windows that
abut (stride = size), spread evenly from one edge to the other (so neighbours overlap a little,
and every pixel is in a window); when that is more than `max_windows`, the densest axis loses a
window until they fit, and the windows stay spread edge to edge with gaps between them.

`COMBINE` turns the windows' probabilities (one row per window) into the photo's, one vector that
the model's objective reads as it reads one image's (the most probable class; each label >= 0.5).
"""

import math

import numpy as np


def _starts(length: int, size: int, count: int) -> np.ndarray:
  """`count` window starts spread evenly over [0, length - size] (first and last at the edges)."""
  return np.rint(np.linspace(0, length - size, count)).astype(np.int64)


def _stride(length: int, size: int, count: int) -> float:
  return (length - size) / (count - 1) if count > 1 else math.inf


def grid(height: int, width: int, size: int, max_windows: int) -> tuple[int, int]:
  """(rows, columns) of windows: enough to cover a height x width photo (>= size on each side)
  with abutting windows, at most `max_windows` in all."""
  if min(height, width) < size:
    raise ValueError(f"a {width}x{height} photo is smaller than a {size}x{size} window")
  if max_windows < 1:
    raise ValueError(f"max_windows must be >= 1, got {max_windows}")
  rows, columns = (math.ceil((length - size) / size) + 1 for length in (height, width))
  while rows * columns > max_windows:  # drop a window from the axis where they lie closest
    if _stride(height, size, rows) <= _stride(width, size, columns):
      rows -= 1
    else:
      columns -= 1
  return rows, columns


def layout(height: int, width: int, size: int, max_windows: int) -> np.ndarray:
  """int64 (n, 4) boxes (left, top, right, bottom), row by row, of the windows of `grid`."""
  rows, columns = grid(height, width, size, max_windows)
  tops, lefts = np.meshgrid(_starts(height, size, rows), _starts(width, size, columns), indexing="ij")
  tops, lefts = tops.ravel(), lefts.ravel()
  return np.stack([lefts, tops, lefts + size, tops + size], axis=1)


# Rules: (windows' probabilities (n, outputs), objective, clean) -> the photo's (outputs,). The
# objective (`dclf.objectives`) says whether the outputs are one softmax (`exclusive`) or independent
# labels, and what each window decides (`votes`); clean: the index of the undistorted class
# ("reference"), or None.


def mean(probabilities: np.ndarray, objective, clean: int | None) -> np.ndarray:
  """The mean of the windows' probabilities."""
  del objective, clean
  return probabilities.mean(0)


def most_confident(probabilities: np.ndarray, objective, clean: int | None) -> np.ndarray:
  """Each distortion at its most confident window, the clean class at its least confident one
  (a photo is clean only if every window looks clean), renormalised for a softmax: the photo
  carries the distortion that one window shows most clearly."""
  combined = probabilities.max(0)
  if clean is not None:
    combined[clean] = probabilities[:, clean].min()
  return combined / combined.sum() if objective.exclusive else combined


def vote(probabilities: np.ndarray, objective, clean: int | None) -> np.ndarray:
  """Each window votes for what it decides (its most probable class; each label >= 0.5); an
  output's score is (votes + mean probability) / (windows + 1): the share of the vote, with the
  mean probabilities as one more, soft, voter that breaks ties."""
  del clean
  votes = objective.votes(probabilities).astype(probabilities.dtype)
  return (votes.sum(0) + probabilities.mean(0)) / (len(probabilities) + 1)


COMBINE = {"mean": mean, "max": most_confident, "vote": vote}


def combine(rule: str, probabilities, objective, clean: int | None) -> np.ndarray:
  """float32 (outputs,): `rule` (a name in COMBINE) applied to the windows' probabilities."""
  if rule not in COMBINE:
    raise ValueError(f"unknown combine rule {rule!r}; known: {', '.join(COMBINE)}")
  probabilities = np.asarray(probabilities, np.float32)
  if probabilities.ndim != 2 or not len(probabilities):
    raise ValueError(f"expected probabilities shaped (windows, outputs), got {probabilities.shape}")
  return COMBINE[rule](probabilities, objective, clean).astype(np.float32)
