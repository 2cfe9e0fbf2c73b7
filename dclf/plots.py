"""PNG figures of an evaluation report, drawn with matplotlib's Agg canvas directly (no pyplot:
no display, no global backend switch in the caller's process)."""

import io
import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dclf.severity import bin_label

_COLUMNS = 3  # panels per row


def _png(figure: Figure) -> bytes:
  FigureCanvasAgg(figure)
  figure.tight_layout()
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=100)
  return buffer.getvalue()


def _panels(count: int, width: float, height: float):
  rows, columns = math.ceil(count / _COLUMNS), min(count, _COLUMNS)
  figure = Figure(figsize=(width * columns, height * rows))
  axes = figure.subplots(rows, columns, squeeze=False).ravel()
  for unused in axes[count:]:
    unused.set_axis_off()
  return figure, axes[:count]


def confusion_png(tables) -> bytes:
  """Heatmaps with the counts written in; `tables`: (title, matrix, names), rows = true class."""
  figure, panels = _panels(len(tables), 4.5, 4.0)
  for axes, (title, matrix, names) in zip(panels, tables):
    matrix = np.asarray(matrix)
    axes.imshow(matrix, cmap="Blues", vmin=0)
    for (row, column), count in np.ndenumerate(matrix):
      dark = count > matrix.max() / 2
      axes.text(column, row, str(count), ha="center", va="center", color="white" if dark else "black")
    axes.set_xticks(range(len(names)), names, rotation=30, ha="right")
    axes.set_yticks(range(len(names)), names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title or "confusion matrix")
  return _png(figure)


def severity_png(by_severity: dict) -> bytes:
  """Accuracy per severity bin (bars, with each bin's example count), one panel per class and
  severity feature."""
  panels_data = [(name, feature, bins) for name, features in by_severity.items() for feature, bins in features.items()]
  figure, panels = _panels(len(panels_data), 4.5, 3.4)
  for axes, (name, feature, bins) in zip(panels, panels_data):
    accuracy = [np.nan if b["accuracy"] is None else b["accuracy"] for b in bins]
    positions = np.arange(len(bins))
    axes.bar(positions, accuracy, color="tab:blue")
    for position, b in zip(positions, bins):
      axes.text(position, min(np.nan_to_num(accuracy[position]) + 0.02, 1.02), f"n={b['count']}", ha="center",
                fontsize=7)
    axes.set_xticks(positions, [bin_label(bins, i) for i in positions], rotation=45, ha="right", fontsize=7)
    axes.set_ylim(0, 1.1)
    axes.set_xlabel(feature)
    axes.set_ylabel("accuracy")
    axes.set_title(f"{name}: accuracy by {feature}")
  return _png(figure)
