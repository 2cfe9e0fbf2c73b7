"""Accuracy by distortion severity: the poster's error analysis (accuracy rises with severity).

The datasets record each image's severity, 0 where the image does not carry that distortion
(the poster's recipe, and the LIVE release's info.txt files): distortions/* have `radius`
(Gaussian blur, U[1, 11)), `amount` (noise std in 0..255 units, integers 1..26) and `density`
(share of pixels noised, U[0.1, 1.1)); LIVE has `sigma` (blur std in pixels, or noise std on a
0..1 scale), binned by quantiles of each class's own values since the units differ per distortion.
"""

import numpy as np


def quantile_edges(values, num_bins: int) -> np.ndarray:
  """Edges of up to `num_bins` bins holding about equal numbers of `values` (ties merge bins)."""
  return np.unique(np.quantile(np.asarray(values, np.float64), np.linspace(0, 1, num_bins + 1)))


def binned_accuracy(values, correct, edges) -> list[dict]:
  """Accuracy per bin [edges[i], edges[i+1]) of `values`; the last bin includes its upper edge and
  the outer bins are open-ended, so every value falls in exactly one bin. One {low, high, count,
  accuracy} per bin; accuracy None for an empty bin."""
  edges = np.asarray(edges, np.float64)
  num_bins = max(len(edges) - 1, 1)
  index = np.clip(np.searchsorted(edges, np.asarray(values, np.float64), side="right") - 1, 0, num_bins - 1)
  correct = np.asarray(correct, np.float64)
  bins = []
  for i in range(num_bins):
    hits = correct[index == i]
    bins.append(
      {
        "low": float(edges[i]),
        "high": float(edges[min(i + 1, len(edges) - 1)]),
        "count": int(hits.size),
        "accuracy": float(hits.mean()) if hits.size else None,
      }
    )
  return bins


# feature -> bin edges for the values of one class.
SEVERITY_BINS = {
  "radius": lambda values: np.arange(1, 12),  # 1 px wide
  "amount": lambda values: np.array([1, 6, 11, 16, 21, 26]),  # 1-5, 6-10, 11-15, 16-20, 21-26
  "density": lambda values: np.array([0.1, 0.3, 0.5, 0.7, 0.9, 1.1]),
  "sigma": lambda values: quantile_edges(values, 5),
}


def by_severity(features: dict, classes, class_names, correct) -> dict:
  """{class name: {feature: bins}} for every class whose examples carry a severity feature;
  `classes` are the examples' true classes (dataset order), `correct` whether each was right."""
  classes, correct = np.asarray(classes), np.asarray(correct)
  result = {}
  for index, name in enumerate(class_names):
    members = classes == index
    carried = {
      feature: values[members]
      for feature, values in features.items()
      if feature in SEVERITY_BINS and np.any(values[members] > 0)
    }
    binned = {
      feature: binned_accuracy(values, correct[members], SEVERITY_BINS[feature](values))
      for feature, values in carried.items()
    }
    if binned:
      result[name] = binned
  return result


def bin_label(bins: list, index: int) -> str:
  """'[low, high)', the last bin closed: '[low, high]'."""
  close = "]" if index == len(bins) - 1 else ")"
  return f"[{bins[index]['low']:.3g}, {bins[index]['high']:.3g}{close}"
