"""Which way of looking at a photo classifies a labelled set best: the centre crop (the datasets'
recipe), or windows at each scale, combined by each rule (`dclf.photos`, `dclf.windows`).

    PYTHONPATH=. python benchmarks/predict_views.py --workdir W --images E/labels.csv \
        [--scales 1,0.5,448px] [--by scale] [--max-windows 64]

E is a labelled set as `python -m dclf.evaluate --images` takes it (a folder per class or a labels
file), e.g. the wild evaluation set (benchmarks/wild_eval_set.py). The windows of every photo are
predicted once per scale and combined by every rule, so the rows differ only in the view. Prints a
Markdown table: accuracy, balanced accuracy (the mean of the classes' recalls), each class's
recall and, with --by COLUMN, the accuracy per value of that column of the labels file. Each row
is what `python -m dclf.evaluate --workdir W --images E [--view crop | --scale S --combine R]` reports.
"""

import argparse
import sys

import numpy as np

from dclf import photos, windows
from dclf.evaluation import labelled_images
from dclf.inference import Predictor


def _view_probabilities(predictor, items, view) -> np.ndarray:
  """(photos, windows...) -> each photo's window probabilities, in `items` order."""
  paths = list(dict.fromkeys(item.path for item in items))
  found = dict(predictor.predict_files(paths, lambda message: print(f"error: {message}", file=sys.stderr), view))
  return [found[str(item.path)].window_probabilities for item in items if str(item.path) in found]


def _row(name, predictor, probabilities, wanted, items, by) -> list[str]:
  decided = predictor.objective.decide(probabilities)
  summary = predictor.objective.summarize(decided, wanted, list(predictor.names))
  recalls = [row["recall"] for row in summary["per_class"].values() if row["support"]]
  cells = [name, f"{summary['accuracy']:.3f}", f"{np.mean(recalls):.3f}"]
  cells += [f"{row['recall']:.3f}" for row in summary["per_class"].values()]
  if by:
    correct = predictor.objective.correct(decided, wanted)
    groups = [item.groups.get(by) for item in items]
    for value in dict.fromkeys(groups):
      cells.append(f"{np.mean([c for c, g in zip(correct, groups) if g == value]):.3f}")
  return cells


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--images", required=True, help="a folder with a subfolder per class, or a labels file")
  parser.add_argument("--scales", default="1,0.5,448px", help="the windows' scales (as --scale takes them)")
  parser.add_argument("--by", default=None, help="also the accuracy per value of this column of the labels file")
  parser.add_argument("--max-windows", type=int, default=photos.MAX_WINDOWS)
  args = parser.parse_args(argv)

  predictor = Predictor(args.workdir)
  items = labelled_images.read(args.images)
  views = [("crop", photos.Crop())] + [
    (f"windows {scale}", photos.Windows(**photos.parse_scale(scale), max_windows=args.max_windows))
    for scale in args.scales.split(",")
  ]
  header = ["view", "accuracy", "balanced", *(f"{name} recall" for name in predictor.names)]
  if args.by:
    header += [f"{args.by}={value}" for value in dict.fromkeys(item.groups.get(args.by) for item in items)]
  print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
  for name, view in views:
    by_photo = _view_probabilities(predictor, items, view)
    if len(by_photo) != len(items):
      print(f"error: {len(items) - len(by_photo)} unreadable images", file=sys.stderr)
      return 1
    wanted = labelled_images.targets([item.label for item in items], predictor.names, predictor.objective, args.images)
    rules = ["crop"] if isinstance(view, photos.Crop) else list(windows.COMBINE)
    for rule in rules:
      combined = np.stack(
        [p[0] if rule == "crop" else windows.combine(rule, p, predictor.objective, predictor.clean) for p in by_photo]
      )
      label = name if rule == "crop" else f"{name} {rule}"
      print("| " + " | ".join(_row(label, predictor, combined, wanted, items, args.by)) + " |", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
