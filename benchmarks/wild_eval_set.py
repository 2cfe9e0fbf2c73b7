"""The "photos from the wild" evaluation set: photos dclf never trains on, distorted by code that is
not dclf's.

    PYTHONPATH=. python benchmarks/wild_eval_set.py OUT_DIR

The photos ship inside dclf's own dependencies (no download): matplotlib's `grace_hopper.jpg` and
scikit-image's `camera`, `coins` and `gravel`. None of them is in the training sample
(`dclf.data.sample_photos`; tests/test_wild_eval_set.py compares the pixels). Each is used at its own
size and at 224 (shorter side to 224 with PIL's Lanczos filter, central square), and written
as 15 images:

  reference/  the clean photo as PNG, and as JPEG at quality 90 and 75
  blur/       scipy.ndimage.gaussian_filter at sigma 1, 2, 3 and PIL's ImageFilter.GaussianBlur at
              radius 1, 2, 3 (PIL's radius is the standard deviation too)
  noise/      NumPy Gaussian noise, independent per channel, sigma 8, 15, 25 (0..255 scale), and
              salt-and-pepper noise on 1 %, 3 %, 10 % of the pixels (half black, half white)

4 photos x 2 scales x 15 = 120 images, and `labels.csv` (path, label, generator, severity, photo,
scale, width, height; one row per image, sorted by path). Grey photos are made RGB by repeating
the grey level. Distorted images are PNG (lossless). The output is the same, byte for byte, on
every run (noise seeds come from the image's name; PIL's and libjpeg's encoders are
deterministic for a given build). OUT_DIR must not exist or be empty; the set is written
beside it and renamed into place when complete.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

CLASSES = ("reference", "blur", "noise")
SIZE = 224


def _matplotlib_sample(name: str):
  def load() -> Image.Image:
    import matplotlib.cbook  # pylint: disable=g-import-not-at-top

    with matplotlib.cbook.get_sample_data(name) as file:
      return Image.open(io.BytesIO(file.read()))

  return load


def _skimage(name: str):
  def load() -> Image.Image:
    from skimage import data  # pylint: disable=g-import-not-at-top

    return Image.fromarray(getattr(data, name)())

  return load


# photo name -> loader of the file as shipped. Never trained on: keep them out of
# dclf.data.sample_photos (tests/test_wild_eval_set.py checks it).
PHOTOS = {
  "grace_hopper": _matplotlib_sample("grace_hopper.jpg"),
  "camera": _skimage("camera"),
  "coins": _skimage("coins"),
  "gravel": _skimage("gravel"),
}


def load_photo(name: str) -> np.ndarray:
  """The photo as uint8 RGB (grey repeated over R, G, B)."""
  return np.asarray(PHOTOS[name]().convert("RGB"))


def at_224(rgb: np.ndarray) -> np.ndarray:
  """Shorter side to 224 (PIL Lanczos), then the central 224x224 square."""
  height, width = rgb.shape[:2]
  scale = SIZE / min(height, width)
  size = (max(SIZE, round(width * scale)), max(SIZE, round(height * scale)))
  resized = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
  top, left = (resized.shape[0] - SIZE) // 2, (resized.shape[1] - SIZE) // 2
  return np.ascontiguousarray(resized[top : top + SIZE, left : left + SIZE])


def _rng(name: str) -> np.random.Generator:
  return np.random.default_rng(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little"))


def _to_uint8(x: np.ndarray) -> np.ndarray:
  return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def scipy_gaussian(rgb, sigma, name):
  return _to_uint8(ndimage.gaussian_filter(rgb.astype(np.float64), sigma=(sigma, sigma, 0), mode="reflect"))


def pil_gaussian(rgb, radius, name):
  return np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(radius)))


def gaussian_noise(rgb, sigma, name):
  return _to_uint8(rgb + _rng(name).normal(0.0, sigma, rgb.shape))


def salt_and_pepper(rgb, fraction, name):
  rng = _rng(name)
  hit = rng.random(rgb.shape[:2]) < fraction
  white = rng.random(rgb.shape[:2]) < 0.5
  out = rgb.copy()
  out[hit & white] = 255
  out[hit & ~white] = 0
  return out


# (label, generator, severities, function(rgb, severity, name) -> rgb, or None for the clean photo;
# file format: PNG, or JPEG at the severity's quality)
GENERATORS = (
  ("reference", "png", (0,), None),
  ("reference", "jpeg", (90, 75), None),
  ("blur", "scipy_gaussian_filter", (1, 2, 3), scipy_gaussian),
  ("blur", "pil_gaussian_blur", (1, 2, 3), pil_gaussian),
  ("noise", "numpy_gaussian", (8, 15, 25), gaussian_noise),
  ("noise", "salt_and_pepper", (0.01, 0.03, 0.1), salt_and_pepper),
)
SCALES = {"own": lambda rgb: rgb, "224": at_224}
FIELDS = ("path", "label", "generator", "severity", "photo", "scale", "width", "height")


def _encode(rgb: np.ndarray, generator: str, severity) -> tuple[bytes, str]:
  buffer = io.BytesIO()
  if generator == "jpeg":
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=int(severity))
    return buffer.getvalue(), "jpg"
  Image.fromarray(rgb).save(buffer, format="PNG")
  return buffer.getvalue(), "png"


def images():
  """(row of labels.csv, encoded bytes) of every image of the set, in a fixed order."""
  for photo in PHOTOS:
    clean = load_photo(photo)
    for scale, rescale in SCALES.items():
      rgb = rescale(clean)
      for label, generator, severities, distort in GENERATORS:
        for severity in severities:
          stem = f"{photo}_{scale}_{generator}_{severity}"
          out = rgb if distort is None else distort(rgb, severity, stem)
          data, suffix = _encode(out, generator, severity)
          row = {
            "path": f"{label}/{stem}.{suffix}",
            "label": label,
            "generator": generator,
            "severity": severity,
            "photo": photo,
            "scale": scale,
            "width": out.shape[1],
            "height": out.shape[0],
          }
          yield row, data


def write(out_dir: Path) -> int:
  """Writes the set into a new folder beside `out_dir`, then renames it to `out_dir`."""
  out_dir = Path(out_dir)
  if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
    raise ValueError(f"{out_dir} exists and is not an empty folder")
  out_dir.parent.mkdir(parents=True, exist_ok=True)
  staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".partial"))
  try:
    rows = []
    for row, data in images():
      path = staging / row["path"]
      path.parent.mkdir(exist_ok=True)
      path.write_bytes(data)
      rows.append(row)
    with open(staging / "labels.csv", "w", newline="") as file:
      writer = csv.DictWriter(file, FIELDS, lineterminator="\n")
      writer.writeheader()
      writer.writerows(sorted(rows, key=lambda row: row["path"]))
    if out_dir.exists():
      out_dir.rmdir()  # empty (checked above)
    os.replace(staging, out_dir)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return len(rows)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("out_dir", type=Path, help="where to write the set (must not exist, or be empty)")
  args = parser.parse_args(argv)
  try:
    count = write(args.out_dir)
  except (ValueError, OSError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"wrote {count} images and labels.csv to {args.out_dir}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
