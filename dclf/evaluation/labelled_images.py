"""A model on a user's own labelled photos: a folder with a subfolder per class, or a labels file.

- A folder: `reference/ blur/ noise/ ...`, each subfolder named after one of the model's classes
  and searched recursively for image files (`dclf.photos.IMAGE_EXTENSIONS`); other files at the
  top and folders starting with `.` are left out. Not every class needs a folder.
- A labels file, `.csv` (a header row, then one row per image) or `.json` (a list of objects):
  `path` (relative to the file's folder, or absolute), `label`, and any other columns or keys
  (`generator`, `severity`, ...), each one a group the report scores separately.

A label (or a folder's name) is one of the model's classes; for a multi-label model, the labels
the image carries joined by `+` (`blur+noise`), or `none`, as `dclf.predict` prints them. Each
photo is read as `dclf.predict` reads it, through the chosen view (`dclf.photos`: the centre crop,
or windows at the photo's own scale). The report has the fields of a split's
(`dclf.evaluation.evaluator`) and `by_group`: accuracy per value of each group column, or of the
combinations of columns asked for (`group_columns`).
"""

import csv
import dataclasses
import json
import re
from pathlib import Path

import numpy as np

from dclf import photos
from dclf.errors import UsageError
from dclf.evaluation import report_files
from dclf.progress import log

NO_LABEL = "none"  # a multi-label image that carries none of the labels
REQUIRED_COLUMNS = ("path", "label")


@dataclasses.dataclass(frozen=True)
class LabelledImage:
  path: Path
  label: str
  groups: dict = dataclasses.field(default_factory=dict)  # column -> value, as text


def read_folder(folder: Path) -> list:
  """One LabelledImage per image file under each class subfolder of `folder`."""
  items = []
  for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
    items += [LabelledImage(path, sub.name) for path in photos.find_images([sub])]
  return items


def _rows(path: Path) -> list:
  """The rows of a labels file as dicts; UsageError if it is not one."""
  try:
    text = path.read_text()
  except (OSError, UnicodeDecodeError) as e:
    raise UsageError(f"cannot read the labels file {path}: {getattr(e, 'strerror', None) or e}") from None
  if path.suffix.lower() == ".csv":
    reader = csv.DictReader(text.splitlines())
    missing = [column for column in REQUIRED_COLUMNS if column not in (reader.fieldnames or ())]
    if missing:
      raise UsageError(f"{path}: the header row must name the columns path and label (missing: {', '.join(missing)})")
    return list(reader)
  try:
    rows = json.loads(text)
  except ValueError as e:
    raise UsageError(f"{path}: not valid JSON ({e})") from None
  if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
    raise UsageError(f"{path}: expected a JSON list of objects with a path and a label")
  return rows


def read_labels_file(path: Path) -> list:
  """One LabelledImage per row of a .csv or .json labels file."""
  if path.suffix.lower() not in (".csv", ".json"):
    raise UsageError(f"{path}: a labels file is .csv or .json, or give a folder with a subfolder per class")
  items = []
  for number, row in enumerate(_rows(path), 1):
    if any(not isinstance(row.get(key), str) or not row[key].strip() for key in REQUIRED_COLUMNS):
      raise UsageError(f"{path}: entry {number} has no path or no label: {json.dumps(row)[:200]}")
    groups = {key: str(value) for key, value in row.items() if key not in REQUIRED_COLUMNS and value not in (None, "")}
    items.append(LabelledImage(path.parent / row["path"].strip(), row["label"].strip(), groups))
  return items


def read(source) -> list:
  """The labelled images of a folder or a labels file."""
  source = Path(source)
  if not source.exists():
    raise UsageError(f"{source} does not exist: give a folder with a subfolder per class, or a labels file")
  items = read_folder(source) if source.is_dir() else read_labels_file(source)
  if not items:
    where = "no class subfolder holds an image file" if source.is_dir() else "it lists no image"
    raise UsageError(f"no labelled image in {source}: {where} ({', '.join(sorted(photos.IMAGE_EXTENSIONS))})")
  return items


def targets(labels, names, objective, source) -> np.ndarray:
  """The labels as the model's targets (a class index; a multi-hot vector for a multi-label
  model); one UsageError naming every unknown label of `source`."""
  names = list(names)
  if objective.exclusive:
    unknown = sorted(set(labels) - set(names))
    if unknown:
      raise UsageError(f"unknown class(es) {', '.join(unknown)} in {source}; the model's classes: {', '.join(names)}")
    return np.array([names.index(label) for label in labels], np.int64)
  carried = {label: set() if label == NO_LABEL else set(label.split("+")) for label in set(labels)}
  unknown = sorted(label for label, parts in carried.items() if not parts <= set(names))
  if unknown:
    raise UsageError(
      f"unknown label(s) {', '.join(unknown)} in {source}; the model's labels: {', '.join(names)} "
      f"(joined with +, or {NO_LABEL})"
    )
  return np.array([[name in carried[label] for name in names] for label in labels], bool)


def group_columns(spec: str | None, items) -> list[tuple[str, ...]]:
  """The groupings a report scores: `spec` is a comma-separated list of columns or of columns
  joined by `+` (their combinations, e.g. `generator+severity,scale`); None: every group column of
  the labels, each alone. UsageError naming the columns there are, for a column there is not."""
  columns = list(dict.fromkeys(column for item in items for column in item.groups))
  if spec is None:
    return [(column,) for column in columns]
  groupings = [tuple(part.strip() for part in grouping.split("+")) for grouping in spec.split(",") if grouping.strip()]
  unknown = sorted({column for grouping in groupings for column in grouping} - set(columns))
  if unknown or not groupings:
    there = f"the labels' group columns: {', '.join(columns)}" if columns else "the labels have no group column"
    raise UsageError(f"--groups {spec!r}: no column {', '.join(unknown) or 'named'}; {there}")
  return groupings


def by_group(groups: list, groupings, correct: np.ndarray, predicted: list) -> dict:
  """{grouping: {value: {count, accuracy, predicted: {label: count}}}} for each grouping of
  `group_columns` (a combination is named `a+b`, its values `x+y`); `groups` are the images'
  {column: value}. An image without a value for a column is left out of its groupings."""
  result = {}
  for grouping in groupings:
    values = ["+".join(row[c] for c in grouping) if all(c in row for c in grouping) else None for row in groups]
    table = {}
    for value in dict.fromkeys(v for v in values if v is not None):
      members = [i for i, v in enumerate(values) if v == value]
      counts = {}
      for i in members:
        counts[predicted[i]] = counts.get(predicted[i], 0) + 1
      table[value] = {"count": len(members), "accuracy": float(np.mean(correct[members])), "predicted": counts}
    result["+".join(grouping)] = table
  return result


def output_dir(workdir, source, view) -> Path:
  """W/eval/images_<the folder's or labels file's name>_<view>, made safe."""
  tag = "_".join(
    str(value) for key, value in view.describe().items() if key != "max_windows" or value != photos.MAX_WINDOWS
  )
  name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"images_{Path(source).resolve().stem}_{tag}").strip("_")
  return Path(workdir) / "eval" / name


def evaluate(predictor, source, view, directory: Path, on_error, groups: str | None = None) -> dict:
  """Scores `predictor` (`dclf.inference.Predictor`) on the labelled images of `source`, by the
  groupings `groups` names (`group_columns`), writes the report to `directory` and returns it.
  Each unreadable image goes to `on_error("PATH: reason")` and is left out of the scores (the
  report lists them under `unreadable`)."""
  items = read(source)
  groupings = group_columns(groups, items)
  names, objective = list(predictor.names), predictor.objective
  wanted = targets([item.label for item in items], names, objective, source)
  unreadable = []

  def skip(message: str) -> None:
    unreadable.append(message)
    on_error(message)

  predictions = dict(predictor.predict_files(list(dict.fromkeys(item.path for item in items)), skip, view))
  scored = [i for i, item in enumerate(items) if str(item.path) in predictions]
  if not scored:
    raise UsageError(f"none of the {len(items)} images of {source} could be read")
  probabilities = np.stack([predictions[str(items[i].path)].probabilities for i in scored])
  decided = objective.decide(probabilities)
  correct = objective.correct(decided, wanted[scored])
  report = {
    "model": predictor.config.model,
    "dataset": str(source),
    "split": "images",
    "step": int(predictor.step),
    "multilabel": not objective.exclusive,
    "num_examples": len(scored),
    "class_names": names,
    "view": view.describe(),
    **objective.summarize(decided, wanted[scored], names),
    "by_severity": {},
    "by_group": by_group(
      [items[i].groups for i in scored],
      groupings,
      correct,
      [objective.describe(p, names)["label"] for p in probabilities],
    ),
    "unreadable": unreadable,
  }
  report_files.write(report, objective, directory)
  log("%s: accuracy %.4f on %d images; report in %s", source, report["accuracy"], len(scored), directory)
  return report
