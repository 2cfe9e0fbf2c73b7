"""`python -m dclf.predict --workdir W [--format json|table] [--top-k K] [--device-batch B] PATH...`

Classifies photos with the model of W (a workdir of `dclf.main` or `dclf.weights import`). PATH
is an image file or a folder, searched recursively for image files (extensions below). Each image is read as
the datasets were made (dclf.data.imaging: RGB, grey / palette / CMYK converted, transparency
composited on white; shorter side to the config's image size, bicubic; central square crop),
then preprocessed as the config says. Memory stays bounded whatever the photos: a JPEG much
larger than the model's input is decoded at a reduced scale, a strip longer than 16 times its
width is cropped before it is resized, a photo above 40 megapixels (after that) is refused, at
most DECODE_THREADS photos are decoded at once, and only regular files are read (a FIFO is one
error line). Runs data-parallel on every local device through `dclf.parallel` (the run's
parallelism), `--device-batch` images per device at a time.

Output: one JSON line per image, `{"path", "label", "probabilities": {class: p}}` with the
classes in label order (`--top-k K` adds `"top_k": [[class, p], ...]`, most probable first; a
multi-label model adds `"labels"`, every label with p >= 0.5, and its `label` joins them), or a
table. An unreadable image prints `error: PATH: reason` on stderr, the others are still
classified, and the exit code is 1. Bad usage (a workdir that is not a classifier's, no image
found): one `error:` line, exit code 2. The Python API is `dclf.predict.Predictor`.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dclf import cli
from dclf.data import imaging
from dclf.errors import UsageError
from dclf.fileio import to_json

if TYPE_CHECKING:
  from dclf.inference import Predictor

DECODE_THREADS = min(4, os.cpu_count() or 1)  # photos decoded at once: bounds the memory they take
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
__all__ = ["Predictor", "find_images", "load_image", "predict_files", "format_table", "main"]


def __getattr__(name: str):
  """`dclf.predict.Predictor`, imported on first use: JAX takes seconds to import, and the
  command's --help and usage errors need none of it."""
  if name == "Predictor":
    from dclf.inference import Predictor  # pylint: disable=g-import-not-at-top

    return Predictor
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class UnreadableImage(Exception):
  """One image that cannot be classified; the message is `PATH: reason`."""


def find_images(paths) -> list[Path]:
  """Files as given (whatever their extension); folders expanded to their image files,
  recursively, sorted."""
  found = []
  for path in map(Path, paths):
    if path.is_dir():
      found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    else:
      found.append(path)
  return found


def load_image(path, size: int) -> np.ndarray:
  """uint8 (size, size, 3), as the datasets were made (dclf.data.imaging), in memory bounded by
  `size`: a large JPEG is decoded at a reduced scale, a photo of more than imaging.MAX_PIXELS
  pixels is refused, and only regular files are read (a FIFO or a device would never end)."""
  try:
    if not stat.S_ISREG(os.stat(path).st_mode):
      raise UnreadableImage(f"{path}: not a regular file")
    rgb, _ = imaging.decode_photo(Path(path).read_bytes(), for_size=size)
  except OSError as e:
    raise UnreadableImage(f"{path}: {e.strerror or e}") from None
  except imaging.UnreadableSource as e:  # PIL names its in-memory file: "... <_io.BytesIO object at 0x...>"
    raise UnreadableImage(f"{path}: {re.sub(r' <_io.BytesIO object at 0x[0-9a-f]+>', '', str(e))}") from None
  return imaging.resize_shorter_and_centre_crop(rgb, size)


def _load_or_error(path, size: int):
  try:
    return load_image(path, size)
  except UnreadableImage as e:
    return e


def describe(path, probabilities: np.ndarray, predictor: Predictor, top_k: int = 0) -> dict:
  """The output line of one image."""
  names = predictor.names
  result = {
    "path": str(path),
    **predictor.objective.describe(probabilities, names),
    "probabilities": {name: float(p) for name, p in zip(names, probabilities)},
  }
  if top_k:
    order = np.argsort(-probabilities, kind="stable")[:top_k]
    result["top_k"] = [[names[i], float(probabilities[i])] for i in order]
  return result


def predict_files(predictor: Predictor, paths, on_error: Callable[[str], None], top_k: int = 0) -> Iterator[dict]:
  """One result per readable image, in order, batch by batch (decoded in threads); each
  unreadable one goes to `on_error("PATH: reason")` instead."""
  paths = list(paths)
  with concurrent.futures.ThreadPoolExecutor(DECODE_THREADS) as pool:
    for start in range(0, len(paths), predictor.batch_size):
      batch_paths = paths[start : start + predictor.batch_size]
      loaded = list(pool.map(_load_or_error, batch_paths, [predictor.image_size] * len(batch_paths)))
      good = []
      for path, image in zip(batch_paths, loaded):
        if isinstance(image, UnreadableImage):
          on_error(str(image))
        else:
          good.append((path, image))
      if good:
        probabilities = predictor.predict(np.stack([image for _, image in good]))
        yield from (describe(path, p, predictor, top_k) for (path, _), p in zip(good, probabilities))


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
  parser.add_argument("--device-batch", type=int, default=32, metavar="B", help="images per device per step")
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
  paths = find_images(args.paths)
  if not paths:
    raise UsageError(f"no image found in {', '.join(args.paths)} (extensions: {', '.join(sorted(IMAGE_EXTENSIONS))})")
  predictor = Predictor(args.workdir, args.device_batch)
  failures = []

  def on_error(message: str) -> None:
    failures.append(message)
    print(f"error: {message}", file=sys.stderr, flush=True)

  results = predict_files(predictor, paths, on_error, args.top_k)
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
