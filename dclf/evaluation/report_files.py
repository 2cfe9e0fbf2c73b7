"""Writes an evaluation report to its folder: report.json (the numbers), report.md (the same,
readable), confusion_matrix.png and accuracy_by_severity.png (when the dataset records
severities). Every file is written atomically. The figures are drawn with matplotlib's Agg canvas
directly (no pyplot: no display, no global backend switch in the caller's process)."""

import io
import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dclf.evaluation.severity import bin_label
from dclf.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text

BREAKDOWN_COLUMNS = ("precision", "recall", "f1", "support", "accuracy")


def write(report: dict, objective, directory: Path) -> None:
  atomic_write_json(directory / "report.json", report)
  atomic_write_bytes(directory / "confusion_matrix.png", confusion_png(objective.confusion_tables(report)))
  if report["by_severity"]:
    atomic_write_bytes(directory / "accuracy_by_severity.png", severity_png(report["by_severity"]))
  atomic_write_text(directory / "report.md", markdown(report, objective))


def _table(header, rows) -> list[str]:
  return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
    "| " + " | ".join(map(str, row)) + " |" for row in rows
  ]


def _number(value) -> str:
  if value is None:
    return "-"
  return str(value) if isinstance(value, int) else f"{value:.4f}"


def markdown(report: dict, objective) -> str:
  kind = "multi-label, accuracy = exact match" if report["multilabel"] else "single-label"
  lines = [
    f"# {report['model']} on {report['dataset']} `{report['split']}`",
    "",
    f"Checkpoint step {report['step']}; {report['num_examples']} examples, each counted once ({kind}).",
    "",
    *_view_lines(report),
    f"**Accuracy: {report['accuracy']:.4f}**",
    "",
  ]
  if "label_accuracy" in report:
    lines += [f"Label accuracy (mean over labels): {report['label_accuracy']:.4f}", ""]
  for title, matrix, names in objective.confusion_tables(report):
    lines += [f"## Confusion matrix{': ' + title if title else ''} (rows: true, columns: predicted)", ""]
    lines += _table(["true \\ predicted", *names], [[name, *row] for name, row in zip(names, matrix)]) + [""]
  breakdown = report[objective.breakdown]
  columns = [c for c in BREAKDOWN_COLUMNS if c in next(iter(breakdown.values()))]
  lines += [f"## {objective.what.capitalize()}", ""]
  lines += _table(
    [objective.unit, *columns], [[name, *(_number(row[c]) for c in columns)] for name, row in breakdown.items()]
  ) + [""]
  lines += ["![confusion matrix](confusion_matrix.png)", ""]
  if report["by_severity"]:
    lines += ["## Accuracy by severity", ""]
    for name, features in report["by_severity"].items():
      for feature, bins in features.items():
        lines += [f"### {name}: {feature}", ""]
        lines += _table(
          [feature, "examples", "accuracy"],
          [[bin_label(bins, i), b["count"], _number(b["accuracy"])] for i, b in enumerate(bins)],
        ) + [""]
    lines += ["![accuracy by severity](accuracy_by_severity.png)", ""]
  for column, groups in report.get("by_group", {}).items():
    lines += [f"## Accuracy by {column}", ""]
    lines += _table(
      [column, "examples", "accuracy", "predicted"],
      [
        [value, g["count"], _number(g["accuracy"]), ", ".join(f"{k} {n}" for k, n in g["predicted"].items())]
        for value, g in groups.items()
      ],
    ) + [""]
  if report.get("unreadable"):
    lines += [f"## Unreadable ({len(report['unreadable'])}, not scored)", ""]
    lines += [f"- {message}" for message in report["unreadable"]] + [""]
  return "\n".join(lines)


def _view_lines(report: dict) -> list[str]:
  """How the photos were looked at (`dclf.photos`), for reports on labelled photos."""
  view = report.get("view")
  if not view:
    return []
  if view["view"] == "crop":
    return ["Each photo: its shorter side to the input size, the central square.", ""]
  return [
    f"Each photo: windows of the input size at scale {view['scale']} (at most {view['max_windows']}), "
    f"combined by `{view['combine']}`.",
    "",
  ]


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
      axes.text(
        position, min(np.nan_to_num(accuracy[position]) + 0.02, 1.02), f"n={b['count']}", ha="center", fontsize=7
      )
    axes.set_xticks(positions, [bin_label(bins, i) for i in positions], rotation=45, ha="right", fontsize=7)
    axes.set_ylim(0, 1.1)
    axes.set_xlabel(feature)
    axes.set_ylabel("accuracy")
    axes.set_title(f"{name}: accuracy by {feature}")
  return _png(figure)
