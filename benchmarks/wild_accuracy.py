"""Accuracy of a trained workdir on the wild evaluation set (benchmarks/wild_eval_set.py), per
generator, severity and scale, for two ways of looking at a photo.

    PYTHONPATH=. python benchmarks/wild_accuracy.py --workdir W --eval_dir E [--json OUT]

- `shrink`: what `dclf.predict` does today: shorter side to the model's image size, central square
  (`Predictor.prepare`), one prediction.
- `windows`: 224x224 windows at the photo's own resolution, in a grid that covers it (adjacent
  windows overlap when the size is not a multiple of 224), probabilities averaged over the windows.

Prints a markdown table (rows: label, generator, severity, scale; columns: the two modes) and the
totals; --json writes every image's probabilities too.
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


def probabilities(predictor: Predictor, rgb: np.ndarray) -> dict[str, np.ndarray]:
  shrunk = predictor.predict(predictor.prepare(rgb)[None])[0]
  tiles = windows(rgb, predictor.image_size)
  tiled = shrunk if tiles is None else predictor.predict(tiles).mean(axis=0)
  return {"shrink": shrunk, "windows": tiled}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--eval_dir", required=True, type=Path)
  parser.add_argument("--json", type=Path)
  args = parser.parse_args(argv)

  predictor = Predictor(args.workdir)
  with open(args.eval_dir / "labels.csv") as file:
    rows = list(csv.DictReader(file))
  hits = collections.defaultdict(lambda: collections.Counter())
  records = []
  for row in rows:
    rgb = np.asarray(Image.open(args.eval_dir / row["path"]).convert("RGB"))
    probs = probabilities(predictor, rgb)
    record = {**row}
    for mode in MODES:
      predicted = predictor.names[int(np.argmax(probs[mode]))]
      record[mode] = {"label": predicted, "probabilities": dict(zip(predictor.names, probs[mode].tolist()))}
      right = predicted == row["label"]
      for group in (
        (row["label"], row["generator"], row["severity"], row["scale"]),
        (row["label"], row["generator"], "all", "all"),
        (row["label"], "all", "all", "all"),
        ("all", "all", "all", row["scale"]),
        ("all", "all", "all", "all"),
      ):
        hits[group][mode] += right
        hits[group][f"{mode}_n"] += 1
    records.append(record)

  print(f"{args.workdir} (step {predictor.step}) on {args.eval_dir}: accuracy")
  print("| label | generator | severity | scale | n | " + " | ".join(MODES) + " |")
  print("|---|---|---|---|---:|" + "---:|" * len(MODES))
  for group in sorted(hits, key=lambda g: (g[0] == "all", g[0], g[1] == "all", g)):
    counts = hits[group]
    n = counts[f"{MODES[0]}_n"]
    print(f"| {' | '.join(group)} | {n} | " + " | ".join(f"{counts[m] / n:.2f}" for m in MODES) + " |")
  if args.json:
    args.json.write_text(json.dumps(records, indent=1))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
