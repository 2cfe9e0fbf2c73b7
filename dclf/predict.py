"""`python -m dclf.predict --workdir W [--format json|table] [--top-k K] [--device-batch B] [--view windows|crop] [--scale S] [--combine mean|max|vote] [--max-windows N] PATH...`

Classifies photos with the model of W (a workdir of `dclf.main` or `dclf.weights import`). PATH
is an image file or a folder, searched recursively for image files (extensions below). Each image
is read as RGB (dclf.data.imaging: grey / palette / CMYK converted, transparency composited on
white) and looked at, by default, through windows of the model's input size over the whole photo
at its own scale (--scale), whose answers are combined into the photo's (--combine; --view
windows), or as the datasets were made (--view crop: shorter side to the config's image size,
bicubic; central square crop); then preprocessed as the config says. Memory stays bounded
whatever the photos: a JPEG larger than the view needs is decoded at a reduced scale, a strip
longer than 16 times its width is never resized whole, a photo above 40 megapixels (after that)
is refused, at most DECODE_THREADS photos are decoded at once, a photo gives at most
--max-windows windows, and only regular files are read (a FIFO is one error line). Runs
data-parallel on every local device through `dclf.parallel` (the run's parallelism),
`--device-batch` inputs (windows or crops) per device at a time.

Output: one JSON line per image, `{"path", "label", "probabilities": {class: p}}` with the
classes in label order (`--top-k K` adds `"top_k": [[class, p], ...]`, most probable first; a
multi-label model adds `"labels"`, every label with p >= 0.5, and its `label` joins them; windows
add `"windows": [{"box": [left, top, right, bottom], "probabilities": {class: p}}, ...]`, in the
photo's pixels), or a table, one line per photo. An unreadable image prints `error: PATH: reason`
on stderr, the others are still classified, and the exit code is 1. Bad usage (a workdir that is
not a classifier's, no image found): one `error:` line, exit code 2. The Python API is
`dclf.predict.Predictor` (docs/evaluation.md).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np

from dclf import cli, photos
from dclf.errors import UsageError
from dclf.fileio import to_json
from dclf.photos import DECODE_THREADS, IMAGE_EXTENSIONS, UnreadableImage, find_images, load_image

if TYPE_CHECKING:
  from collections.abc import Callable, Iterator

  from dclf.inference import PhotoPrediction, Predictor

__all__ = [
  "DECODE_THREADS",
  "Predictor",
  "UnreadableImage",
  "find_images",
  "load_image",
  "predict_files",
  "format_table",
  "main",
]


def __getattr__(name: str):
  """`dclf.predict.Predictor`, imported on first use: JAX takes seconds to import, and the
  command's --help and usage errors need none of it."""
  if name == "Predictor":
    from dclf.inference import Predictor  # pylint: disable=g-import-not-at-top

    return Predictor
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _named(probabilities, names) -> dict:
  return {name: float(p) for name, p in zip(names, probabilities)}


def describe(path, prediction: PhotoPrediction, predictor: Predictor, top_k: int = 0) -> dict:
  """The output line of one image."""
  names, probabilities = predictor.names, prediction.probabilities
  result = {
    "path": str(path),
    **predictor.objective.describe(probabilities, names),
    "probabilities": _named(probabilities, names),
  }
  if top_k:
    order = np.argsort(-probabilities, kind="stable")[:top_k]
    result["top_k"] = [[names[i], float(probabilities[i])] for i in order]
  if prediction.boxes is not None:
    result["windows"] = [
      {"box": box.tolist(), "probabilities": _named(p, names)}
      for box, p in zip(prediction.boxes, prediction.window_probabilities)
    ]
  return result


def predict_files(
  predictor: Predictor, paths, on_error: Callable[[str], None], top_k: int = 0, view=photos.DEFAULT_VIEW
) -> Iterator[dict]:
  """One result per readable image, in order (`Predictor.predict_files`); each unreadable one
  goes to `on_error("PATH: reason")` instead."""
  for path, prediction in predictor.predict_files(paths, on_error, view):
    yield describe(path, prediction, predictor, top_k)


def format_table(results, top_k: int = 0) -> str:
  """Path, label, then one column per class probability, or (top_k) the K most probable."""
  if not results:
    return ""
  names = list(results[0]["probabilities"])
  if top_k:
    headers = [f"top{i + 1}" for i in range(len(results[0]["top_k"]))]
    cells = [[f"{name} {p:.4f}" for name, p in r["top_k"]] for r in results]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
  else:
    headers, widths = names, [max(9, len(n)) for n in names]
    cells = [[f"{r['probabilities'][n]:.4f}" for n in names] for r in results]
  path_width = max([len("path")] + [len(r["path"]) for r in results])
  label_width = max([len("label")] + [len(n) for n in names] + [len(r["label"]) for r in results])
  rows = [["path".ljust(path_width), "label".ljust(label_width)] + [h.rjust(w) for h, w in zip(headers, widths)]]
  for r, row in zip(results, cells):
    rows.append(
      [r["path"].ljust(path_width), r["label"].ljust(label_width)] + [c.rjust(w) for c, w in zip(row, widths)]
    )
  return "\n".join("  ".join(row).rstrip() for row in rows)


def _parser() -> cli.ArgumentParser:
  _, description, output, *_ = __doc__.split("\n\n")
  parser = cli.ArgumentParser(prog="python -m dclf.predict", description=description, epilog=output)
  parser.add_argument("--workdir", required=True, metavar="W", help="workdir of dclf.main or dclf.weights import")
  parser.add_argument(
    "--format",
    choices=("json", "table"),
    default="json",
    help="json: one JSON line per image, as each batch is done; table: one aligned table at the end "
    "(default: %(default)s)",
  )
  parser.add_argument("--top-k", type=int, default=0, metavar="K", help="also list the K most probable classes")
  parser.add_argument(
    "--device-batch", type=int, default=32, metavar="B", help="images (or windows) per device per step"
  )
  photos.add_view_arguments(parser)
  parser.add_argument(
    "paths",
    nargs="+",
    metavar="PATH",
    help=f"image files, or folders searched recursively for {', '.join(sorted(IMAGE_EXTENSIONS))} files",
  )
  return parser


def _run(args) -> int:
  from dclf.inference import Predictor  # pylint: disable=g-import-not-at-top  (JAX: slow to import)

  if args.top_k < 0:
    raise UsageError(f"--top-k must be >= 0, got {args.top_k}")
  view = photos.view_of(args)
  paths = find_images(args.paths)
  if not paths:
    raise UsageError(f"no image found in {', '.join(args.paths)} (extensions: {', '.join(sorted(IMAGE_EXTENSIONS))})")
  predictor = Predictor(args.workdir, args.device_batch)
  failures = []

  def on_error(message: str) -> None:
    failures.append(message)
    print(f"error: {message}", file=sys.stderr, flush=True)

  results = predict_files(predictor, paths, on_error, args.top_k, view)
  if args.format == "table":
    print(format_table(list(results), args.top_k))
  else:
    for result in results:
      print(to_json(result), flush=True)
  return 1 if failures else 0


@cli.command
def main(argv=None) -> int:
  """The exit code: 0, 1 (some image unreadable) or 2 (bad usage)."""
  return _run(_parser().parse_args(argv))


if __name__ == "__main__":
  sys.exit(main())
