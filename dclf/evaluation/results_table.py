"""The poster's results table for a set of runs: validation, test and LIVE accuracy of each
workdir, each beside the CS230 poster's number for the same model.

Validation and test come from W/eval/<split>/report.json (`dclf.evaluate`, and the trainer's test
report), else from W/summary.json; LIVE from the report on live_iqa/blur_noise. Missing numbers
show as `-`.
"""

import json
from pathlib import Path

from dclf import checkpoint
from dclf.errors import UsageError

COLUMNS = ("validation", "test", "LIVE")
LIVE_DATASET = "live_iqa/blur_noise"  # the poster's LIVE recipe: shorter side 224, centre crop

# The poster's results table: accuracies on blur_noise (validation, test) and LIVE.
POSTER_RESULTS = {
  "softmax": {"validation": 0.450, "test": 0.455, "LIVE": None},
  "vgg16_scratch": {"validation": 0.864, "test": 0.856, "LIVE": 0.661},
  "vgg16_transfer": {"validation": 0.852, "test": 0.850, "LIVE": 0.40},
  "sgdnet": {"validation": 0.869, "test": 0.837, "LIVE": 0.724},
}


def _read_json(path: Path):
  if not path.exists():
    return None
  try:
    return json.loads(path.read_text())
  except ValueError as e:
    raise UsageError(f"{path}: not valid JSON ({e})") from None


def _column(report: dict, own_dataset: str):
  """Which column an evaluation report fills, if any."""
  if report.get("dataset") == LIVE_DATASET:
    return "LIVE"
  if report.get("dataset") == own_dataset and report.get("split") in COLUMNS:
    return report["split"]
  return None


def run_results(workdir) -> dict:
  """{run, model, dataset, step, validation, test, LIVE} of one workdir (None where missing)."""
  workdir = Path(workdir)
  try:
    config = checkpoint.load_config(workdir)
  except (FileNotFoundError, ValueError) as e:
    raise UsageError(str(e)) from None
  summary = _read_json(workdir / "summary.json") or {}
  results = {
    "validation": summary.get("eval_accuracy") if summary.get("eval_split") == "validation" else None,
    "test": summary.get("test_accuracy"),
    "LIVE": None,
  }
  step = summary.get("step")
  for path in sorted(workdir.glob("eval/*/report.json")):
    report = _read_json(path)
    column = _column(report, config.get("dataset"))
    if column:
      results[column] = report["accuracy"]
      step = step if step is not None else report.get("step")
  return {"run": str(workdir), "model": config.get("model"), "dataset": config.get("dataset"), "step": step, **results}


def _cell(value) -> str:
  return "-" if value is None else f"{value:.3f}"


def markdown(rows) -> str:
  header = ["run", "model", "dataset", "step"] + [name for column in COLUMNS for name in (column, "poster")]
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for row in rows:
    poster = POSTER_RESULTS.get(row["model"], {})
    numbers = [cell for column in COLUMNS for cell in (_cell(row[column]), _cell(poster.get(column)))]
    lines.append(
      "| "
      + " | ".join(
        [row["run"], str(row["model"]), str(row["dataset"]), "-" if row["step"] is None else str(row["step"]), *numbers]
      )
      + " |"
    )
  lines += [
    "",
    "Accuracy; `poster`: the number of the CS230 poster (Hsieh, Duffau, He; Winter 2020) for the "
    "same model on blur_noise. LIVE: live_iqa/blur_noise, test split.",
  ]
  return "\n".join(lines) + "\n"
