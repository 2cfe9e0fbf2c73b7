"""Classification metrics on the host, in plain NumPy: confusion matrices, per-class precision /
recall / F1, and accuracy per bin of a severity value.

Pure functions of label arrays, so they are tested on hand-computed cases; the evaluation report
(`dclf.evaluation`) is built from them.
"""

from typing import Sequence

import numpy as np


def confusion_matrix(targets, predictions, num_classes: int) -> np.ndarray:
  """counts[true, predicted] (rows: true class, columns: predicted class)."""
  counts = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(counts, (np.asarray(targets, np.int64), np.asarray(predictions, np.int64)), 1)
  return counts


def accuracy(confusion: np.ndarray) -> float:
  total = confusion.sum()
  return float(np.trace(confusion) / total) if total else 0.0


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
  """numerator / denominator, 0 where the denominator is 0 (as scikit-learn's zero_division=0)."""
  return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def per_class(confusion: np.ndarray, names: Sequence[str]) -> dict:
  """{name: {precision, recall, f1, support}}; support = true examples of the class."""
  hits = np.diag(confusion).astype(np.float64)
  predicted, support = confusion.sum(0), confusion.sum(1)
  precision, recall = _ratio(hits, predicted), _ratio(hits, support)
  f1 = _ratio(2 * precision * recall, precision + recall)
  return {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                 "support": int(support[i])} for i, name in enumerate(names)}


def per_label(targets, predictions, names: Sequence[str]) -> dict:
  """Multi-label: each label as its own yes/no problem. {name: {precision, recall, f1, support,
  accuracy, confusion_matrix}}: scores of the `yes` class, support = examples carrying the label,
  confusion rows/columns (no, yes)."""
  targets, predictions = np.asarray(targets, bool), np.asarray(predictions, bool)
  result = {}
  for i, name in enumerate(names):
    confusion = confusion_matrix(targets[:, i], predictions[:, i], 2)
    yes = per_class(confusion, ("no", "yes"))["yes"]
    result[name] = {**yes, "accuracy": accuracy(confusion), "confusion_matrix": confusion.tolist()}
  return result


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
    bins.append({"low": float(edges[i]), "high": float(edges[min(i + 1, len(edges) - 1)]), "count": int(hits.size),
                 "accuracy": float(hits.mean()) if hits.size else None})
  return bins
