"""Writes an evaluation report to its folder: report.json (the numbers), report.md (the same,
readable), confusion_matrix.png and accuracy_by_severity.png (when the dataset records
severities). Every file is written atomically."""

from pathlib import Path

from dclf import plots
from dclf.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text
from dclf.severity import bin_label

BREAKDOWN_COLUMNS = ("precision", "recall", "f1", "support", "accuracy")


def write(report: dict, task, directory: Path) -> None:
  atomic_write_json(directory / "report.json", report)
  atomic_write_bytes(directory / "confusion_matrix.png", plots.confusion_png(task.confusion_tables(report)))
  if report["by_severity"]:
    atomic_write_bytes(directory / "accuracy_by_severity.png", plots.severity_png(report["by_severity"]))
  atomic_write_text(directory / "report.md", markdown(report, task))


def _table(header, rows) -> list[str]:
  return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(map(str, row)) + " |"
                                                                           for row in rows]


def _number(value) -> str:
  if value is None:
    return "-"
  return str(value) if isinstance(value, int) else f"{value:.4f}"


def markdown(report: dict, task) -> str:
  kind = "multi-label, accuracy = exact match" if report["multilabel"] else "single-label"
  lines = [f"# {report['model']} on {report['dataset']} `{report['split']}`", "",
           f"Checkpoint step {report['step']}; {report['num_examples']} examples, each counted once ({kind}).", "",
           f"**Accuracy: {report['accuracy']:.4f}**", ""]
  if "label_accuracy" in report:
    lines += [f"Label accuracy (mean over labels): {report['label_accuracy']:.4f}", ""]
  for title, matrix, names in task.confusion_tables(report):
    lines += [f"## Confusion matrix{': ' + title if title else ''} (rows: true, columns: predicted)", ""]
    lines += _table(["true \\ predicted", *names], [[name, *row] for name, row in zip(names, matrix)]) + [""]
  breakdown = report[task.breakdown]
  columns = [c for c in BREAKDOWN_COLUMNS if c in next(iter(breakdown.values()))]
  lines += [f"## {task.what.capitalize()}", ""]
  lines += _table([task.unit, *columns],
                  [[name, *(_number(row[c]) for c in columns)] for name, row in breakdown.items()]) + [""]
  lines += ["![confusion matrix](confusion_matrix.png)", ""]
  if report["by_severity"]:
    lines += ["## Accuracy by severity", ""]
    for name, features in report["by_severity"].items():
      for feature, bins in features.items():
        lines += [f"### {name}: {feature}", ""]
        lines += _table([feature, "examples", "accuracy"],
                        [[bin_label(bins, i), b["count"], _number(b["accuracy"])] for i, b in enumerate(bins)]) + [""]
    lines += ["![accuracy by severity](accuracy_by_severity.png)", ""]
  return "\n".join(lines)
