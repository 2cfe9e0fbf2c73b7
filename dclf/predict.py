"""`python -m dclf.predict --workdir W [--format json|table] IMAGE...`: classify photos.

W is a workdir of `dclf.main` or of `python -m dclf.weights import`. Each image is read as the
datasets were made (dclf.data.imaging: RGB, grey / palette / CMYK converted, transparency
composited on white; shorter side to the config's image size, bicubic; central square crop), then
preprocessed as the config says. Prints one JSON line per image, `{"path", "label",
"probabilities": {class: p}}` with the classes in label order, or a table.
"""

import argparse
import json
import sys
from pathlib import Path

import jax
import numpy as np

from dclf import models
from dclf.data import imaging
from dclf.preprocess import preprocess

# Label sets of SEED_FACTS section 1, for workdirs whose config does not record `class_names`.
DEFAULT_CLASS_NAMES = {
    3: ("reference", "blur", "noise"),
    7: ("reference", "gaussian_blur", "motion_blur", "color_noise", "mono_noise", "marble", "twirl"),
}
BATCH_SIZE = 32


class PredictError(Exception):
  """Reported as one line `error: ...`, exit code 2."""


def class_names(config, num_classes: int) -> tuple[str, ...]:
  names = tuple(config.get("class_names") or ()) or DEFAULT_CLASS_NAMES.get(num_classes)
  if names is None:
    return tuple(f"class_{i}" for i in range(num_classes))
  if len(names) != num_classes:
    raise PredictError(f"the config names {len(names)} classes but the model has {num_classes}")
  return names


def load_image(path, size: int) -> np.ndarray:
  """uint8 (size, size, 3), exactly as the datasets were made (dclf.data.imaging)."""
  try:
    rgb, _ = imaging.decode_photo(Path(path).read_bytes())
  except (OSError, imaging.UnreadableSource) as e:
    raise PredictError(f"cannot read image {path}: {e}") from None
  return imaging.resize_shorter_and_centre_crop(rgb, size)


def _classifier(workdir):
  """(config, class names, jitted uint8 batch -> probabilities) of the workdir's model."""
  from dclf import checkpoint  # pylint: disable=g-import-not-at-top  (orbax: slow to import)
  try:
    config, variables = checkpoint.load_variables(workdir)
  except (FileNotFoundError, ValueError) as e:
    raise PredictError(f"{workdir}: {e}") from None
  predictions = variables["params"].get("head", {}).get("predictions", {}).get("kernel")
  if config.model not in models.CLASSIFIERS or predictions is None:
    raise PredictError(f"{workdir} holds {config.model}, not a classifier")
  num_classes = predictions.shape[-1]
  model = models.create_model(config.model, num_classes=num_classes, bn_epsilon=config.get("bn_epsilon", 1e-3))
  run = jax.jit(lambda images: jax.nn.softmax(model.apply(variables, preprocess(images, config.preprocess))))
  return config, class_names(config, num_classes), run


def predict(workdir, paths) -> list[dict]:
  """One {"path", "label", "probabilities"} per image, in order."""
  config, names, run = _classifier(workdir)
  size = config.get("image_size", 224)
  results = []
  for start in range(0, len(paths), BATCH_SIZE):
    batch_paths = paths[start:start + BATCH_SIZE]
    images = np.zeros((min(len(paths), BATCH_SIZE), size, size, 3), np.uint8)  # one shape: one compilation
    for i, path in enumerate(batch_paths):
      images[i] = load_image(path, size)
    for path, p in zip(batch_paths, np.asarray(run(images))):
      results.append({"path": str(path), "label": names[int(np.argmax(p))],
                      "probabilities": {name: float(v) for name, v in zip(names, p)}})
  return results


def format_table(results) -> str:
  """Path, label and one column per class probability."""
  names = list(results[0]["probabilities"]) if results else []
  widths = [max(9, len(n)) for n in names]
  path_width = max([len("path")] + [len(r["path"]) for r in results])
  label_width = max([len("label")] + [len(n) for n in names])
  rows = [["path".ljust(path_width), "label".ljust(label_width)] + [n.rjust(w) for n, w in zip(names, widths)]]
  for r in results:
    rows.append([r["path"].ljust(path_width), r["label"].ljust(label_width)]
                + [f"{r['probabilities'][n]:.4f}".rjust(w) for n, w in zip(names, widths)])
  return "\n".join("  ".join(row) for row in rows)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m dclf.predict", description=__doc__.split("\n\n")[0])
  parser.add_argument("--workdir", required=True, help="workdir of dclf.main or dclf.weights import")
  parser.add_argument("--format", choices=("json", "table"), default="json")
  parser.add_argument("images", nargs="+", help="image files (JPEG, PNG, BMP, ...)")
  args = parser.parse_args(argv)
  try:
    results = predict(args.workdir, args.images)
  except PredictError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(format_table(results) if args.format == "table" else "\n".join(json.dumps(r) for r in results))
  return 0


if __name__ == "__main__":
  sys.exit(main())
