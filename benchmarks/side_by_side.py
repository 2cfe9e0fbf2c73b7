"""Side-by-side picture of the real jar samples and dclf's output on the same crop.

    PYTHONPATH=. python benchmarks/side_by_side.py [--out docs/img/jhlabs_side_by_side.png]

Top row: the poster generator's JPEG samples 00000007.0-.7 (tests/data/jhlabs). Bottom row:
dclf.distort on sample .0 with the same parameters, saved through JPEG quality 75 as the
generator did, so both rows carry the same kind of loss. Tiles are shown at 75 % and the
sheet is stored with a 256-colour palette, to keep the committed PNG under 300 KB.
"""

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dclf import distort

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "jhlabs"
COLUMNS = [  # (label, filter or None for the reference); index = sample number
  ("reference", None),
  ("gaussian_blur", "gaussian_blur"),
  ("motion_blur", "motion_blur"),
  ("color_noise", "color_noise"),
  ("mono_noise", "mono_noise"),
  ("marble", "marble"),
  ("ripple (244x244)", "ripple"),
  ("twirl", "twirl"),
]
SCALE = 0.75
CELL, GAP, LABEL = round(244 * SCALE), 6, 16


def _jpeg75(image: np.ndarray) -> Image.Image:
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format="JPEG", quality=75)
  return Image.open(buf).convert("RGB")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default="docs/img/jhlabs_side_by_side.png")
  args = parser.parse_args()

  samples = [Image.open(DATA / f"00000007.{i}.organism.jpg").convert("RGB") for i in range(8)]
  crop = np.asarray(samples[0])
  ours = [_jpeg75(crop if fn is None else distort.apply(fn, crop)) for _, fn in COLUMNS]

  width = len(COLUMNS) * (CELL + GAP) + GAP
  height = 2 * (LABEL + CELL + GAP) + GAP
  sheet = Image.new("RGB", (width, height), "white")
  draw = ImageDraw.Draw(sheet)
  for row, (title, images) in enumerate([("jar sample", samples), ("dclf", ours)]):
    top = GAP + row * (LABEL + CELL + GAP)
    for col, ((label, _), im) in enumerate(zip(COLUMNS, images)):
      left = GAP + col * (CELL + GAP)
      draw.text((left, top + 2), f"{title} .{col} {label}", fill="black")
      im = im.resize((round(im.width * SCALE), round(im.height * SCALE)), Image.LANCZOS)
      pad = (CELL - im.width) // 2  # 224 images centred in the 244 cell
      sheet.paste(im, (left + pad, top + LABEL + pad))
  Path(args.out).parent.mkdir(parents=True, exist_ok=True)
  palette = sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
  palette.save(args.out, optimize=True)
  print(f"wrote {args.out} ({Path(args.out).stat().st_size // 1024} KB)")


if __name__ == "__main__":
  main()
