"""Accuracy of a trained workdir on the wild evaluation set (benchmarks/wild_eval_set.py), per
generator, severity and scale, for two ways of looking at a photo.

    PYTHONPATH=. python benchmarks/wild_accuracy.py --workdir W [--workdir W2 ...] --eval_dir E [--json OUT]

- `shrink`: what `dclf.predict` does today: shorter side to the model's image size, central square
  (`Predictor.prepare`), one prediction.
- `windows`: 224x224 windows at the photo's own resolution, in a grid that covers it (adjacent
  windows overlap when the size is not a multiple of 224), probabilities averaged over the windows.

Prints a markdown table (rows: label, generator, severity, scale, then subtotals; columns: each
workdir in each mode); --json writes every image's predictions too.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from dclf.inference import Predictor

MODES = ("shrink", "windows")


def window_grid(height: int, width: int, size: int) -> list[tuple[int, int]]:
  """(top, left) of the fewest size x size windows that cover the image, evenly spread."""

  def starts(extent: int) -> list[int]:
    count = max(1, math.ceil(extent / size))
    if count == 1:
      return [max(0, (extent - size) // 2)]
    return [round(i * (extent - size) / (count - 1)) for i in range(count)]

  return [(top, left) for top in starts(height) for left in starts(width)]


def windows(rgb: np.ndarray, size: int) -> np.ndarray:
  height, width = rgb.shape[:2]
  if min(height, width) < size:
    return None
  return np.stack([rgb[top : top + size, left : left + size] for top, left in window_grid(height, width, size)])


def probabilities(predictor: Predictor, photos: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
  """Each photo's probabilities in both modes; every input in as few full batches as possible."""
  shrunk = predictor.predict(np.stack([predictor.prepare(rgb) for rgb in photos]))
  tiles = [windows(rgb, predictor.image_size) for rgb in photos]
  stacked = [t for t in tiles if t is not None]
  tiled = predictor.predict(np.concatenate(stacked)) if stacked else None
  out, start = [], 0
  for shrink, tile in zip(shrunk, tiles):
    mean = shrink if tile is None else tiled[start : start + len(tile)].mean(axis=0)
    start += 0 if tile is None else len(tile)
    out.append({"shrink": shrink, "windows": mean})
  return out


GROUPINGS = (  # the rows of the table: each image counts in one row of each
  lambda row: (row["label"], row["generator"], row["severity"], row["scale"]),
  lambda row: (row["label"], row["generator"], "all", "all"),
  lambda row: (row["label"], "all", "all", "all"),
  lambda row: ("all", "all", "all", row["scale"]),
  lambda row: ("all", "all", "all", "all"),
)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", action="append", required=True, help="a trained run (repeat for more columns)")
  parser.add_argument("--eval_dir", required=True, type=Path)
  parser.add_argument("--json", type=Path)
  args = parser.parse_args(argv)

  with open(args.eval_dir / "labels.csv") as file:
    rows = list(csv.DictReader(file))
  photos = [np.asarray(Image.open(args.eval_dir / row["path"]).convert("RGB")) for row in rows]
  columns, hits, records = [], collections.defaultdict(collections.Counter), []
  for workdir in args.workdir:
    predictor = Predictor(workdir)
    names = [f"{Path(workdir).name}@{predictor.step} {mode}" for mode in MODES]
    columns += names
    for row, probs in zip(rows, probabilities(predictor, photos)):
      record = {**row, "workdir": workdir}
      for mode, column in zip(MODES, names):
        predicted = predictor.names[int(np.argmax(probs[mode]))]
        record[mode] = {"label": predicted, "probabilities": dict(zip(predictor.names, probs[mode].tolist()))}
        for group in GROUPINGS:
          hits[group(row)][column] += predicted == row["label"]
          hits[group(row)]["n"] += column == columns[0]
      records.append(record)

  print(f"accuracy on {args.eval_dir}")
  print("| label | generator | severity | scale | n | " + " | ".join(columns) + " |")
  print("|---|---|---|---|---:|" + "---:|" * len(columns))
  for group in sorted(hits, key=lambda g: (g[0] == "all", g[0], g[1] == "all", g)):
    counts = hits[group]
    cells = " | ".join(f"{counts[column] / counts['n']:.2f}" for column in columns)
    print(f"| {' | '.join(group)} | {counts['n']} | {cells} |")
  if args.json:
    args.json.write_text(json.dumps(records, indent=1))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
