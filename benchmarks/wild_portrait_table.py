"""The portrait table: matplotlib's grace_hopper.jpg (512x600), clean and distorted at its own size
by dclf's own filters and by Pillow and NumPy, in the layout of benchmarks/wild_eval_set.py (a
folder per class, labels.csv), so `python -m dclf.evaluate --images` and
benchmarks/predict_views.py score them. These eight photos are the check that a blur of radius 3
on a 512x600 photo, which a model looking at the photo shrunk to 224 hardly sees, is found.

    PYTHONPATH=. python benchmarks/wild_portrait_table.py OUT_DIR

| file | made with |
|---|---|
| reference/clean.jpg, reference/clean.png | the file as matplotlib ships it; its pixels as PNG |
| blur/dclf_gaussian_blur_3.png, _6.png | `python -m dclf.distort gaussian_blur clean.png OUT --param radius=3` (6) |
| blur/pil_gaussian_blur_2.png | PIL `ImageFilter.GaussianBlur(2)` |
| noise/dclf_color_noise_10_0.8.png, _20_1.0.png | `python -m dclf.distort color_noise ... --param amount=10 --param density=0.8` (20, 1.0) |
| noise/numpy_gaussian_15.png | NumPy Gaussian noise, sigma 15, per channel (wild_eval_set's generator) |
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import matplotlib.cbook
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).parent))
import wild_eval_set  # noqa: E402  (the sibling script: its photo loader and noise generator)

DCLF_FILTERS = {  # file stem -> python -m dclf.distort arguments
  "blur/dclf_gaussian_blur_3": ("gaussian_blur", "radius=3"),
  "blur/dclf_gaussian_blur_6": ("gaussian_blur", "radius=6"),
  "noise/dclf_color_noise_10_0.8": ("color_noise", "amount=10", "density=0.8"),
  "noise/dclf_color_noise_20_1.0": ("color_noise", "amount=20", "density=1.0"),
}


def main(argv=None) -> int:
  out = Path((argv or sys.argv[1:])[0])
  for label in wild_eval_set.CLASSES:
    (out / label).mkdir(parents=True, exist_ok=True)
  with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
    (out / "reference" / "clean.jpg").write_bytes(file.read())
  clean = wild_eval_set.load_photo("grace_hopper")
  Image.fromarray(clean).save(out / "reference" / "clean.png")
  for stem, (name, *params) in DCLF_FILTERS.items():
    flags = [arg for param in params for arg in ("--param", param)]
    subprocess.run(
      [sys.executable, "-m", "dclf.distort", name, out / "reference" / "clean.png", out / f"{stem}.png", *flags],
      check=True,
    )
  Image.fromarray(clean).filter(ImageFilter.GaussianBlur(2)).save(out / "blur" / "pil_gaussian_blur_2.png")
  Image.fromarray(wild_eval_set.gaussian_noise(clean, 15, "issue_table")).save(out / "noise" / "numpy_gaussian_15.png")
  paths = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*") if p.name != "labels.csv")
  with open(out / "labels.csv", "w", newline="") as file:
    writer = csv.DictWriter(file, wild_eval_set.FIELDS, lineterminator="\n")
    writer.writeheader()
    for path in paths:
      label, stem = path.split("/")
      writer.writerow(
        {
          "path": path,
          "label": label,
          "generator": stem.rsplit(".", 1)[0],
          "severity": "",
          "photo": "grace_hopper",
          "scale": "own",
        }
      )
  print(f"wrote {len(paths)} images and labels.csv to {out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
