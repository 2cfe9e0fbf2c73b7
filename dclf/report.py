"""`python -m dclf.report W1 W2 ... [--out FILE.md]`: the poster's results table for these runs.

One row per workdir: validation, test and LIVE accuracy, each beside the poster's number for the
same model (SEED_FACTS section 6). Validation and test come from W/eval/<split>/report.json
(`dclf.evaluate`, and the trainer's test report), else from W/summary.json; LIVE from the report
on live_iqa/blur_noise (`python -m dclf.evaluate --workdir W --split live_iqa/blur_noise`).
Missing numbers show as `-`.
"""

import json
import sys
from pathlib import Path

from dclf import checkpoint, cli
from dclf.errors import UsageError
from dclf.fileio import atomic_write_text

COLUMNS = ("validation", "test", "LIVE")
LIVE_DATASET = "live_iqa/blur_noise"  # the poster's LIVE recipe: shorter side 224, centre crop

# SEED_FACTS section 6: the poster's accuracies on blur_noise (validation, test) and LIVE.
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
  results = {"validation": summary.get("eval_accuracy") if summary.get("eval_split") == "validation" else None,
             "test": summary.get("test_accuracy"), "LIVE": None}
  step = summary.get("step")
  for path in sorted(workdir.glob("eval/*/report.json")):
    report = _read_json(path)
    column = _column(report, config.get("dataset"))
    if column:
      results[column] = report["accuracy"]
      step = step if step is not None else report.get("step")
  return {"run": str(workdir), "model": config.get("model"), "dataset": config.get("dataset"), "step": step,
          **results}


def _cell(value) -> str:
  return "-" if value is None else f"{value:.3f}"


def markdown(rows) -> str:
  header = ["run", "model", "dataset", "step"] + [name for column in COLUMNS for name in (column, "poster")]
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for row in rows:
    poster = POSTER_RESULTS.get(row["model"], {})
    numbers = [cell for column in COLUMNS for cell in (_cell(row[column]), _cell(poster.get(column)))]
    lines.append("| " + " | ".join([row["run"], str(row["model"]), str(row["dataset"]),
                                     "-" if row["step"] is None else str(row["step"]), *numbers]) + " |")
  lines += ["", "Accuracy; `poster`: the CS230 poster's number for the same model on blur_noise "
            "(SEED_FACTS section 6). LIVE: live_iqa/blur_noise, test split."]
  return "\n".join(lines) + "\n"


def main(argv=None) -> int:
  parser = cli.ArgumentParser(prog="python -m dclf.report", description=__doc__.split("\n\n")[1])
  parser.add_argument("workdirs", nargs="+", metavar="W", help="workdirs of dclf.main")
  parser.add_argument("--out", default=None, help="write the Markdown table to this file (default: stdout)")
  args = parser.parse_args(argv)
  rows = [cli.run_reporting_errors(run_results, workdir, errors=(UsageError,)) for workdir in args.workdirs]
  table = markdown(rows)
  if args.out:
    atomic_write_text(args.out, table)
  else:
    print(table, end="")
  return 0


if __name__ == "__main__":
  sys.exit(main())
