"""Writes test inputs in the real on-disk formats: photo folders, ImageNet's tar of tars, LIVE."""

from __future__ import annotations

import io
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from dclf.data.live_iqa.layout import BLOCKS


def photo(seed: int, height: int = 90, width: int = 120) -> np.ndarray:
  """A smooth random RGB picture (gradients plus blobs), so blur and noise both show."""
  rng = np.random.default_rng(seed)
  y, x = np.mgrid[0:height, 0:width] / max(height, width)
  channels = [
    127 + 100 * np.sin(2 * np.pi * (rng.uniform(0.5, 3) * x + rng.uniform(0.5, 3) * y + rng.uniform()))
    for _ in range(3)
  ]
  return np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8)


def encode(image: Image.Image | np.ndarray, fmt: str, **options) -> bytes:
  if isinstance(image, np.ndarray):
    image = Image.fromarray(image)
  buffer = io.BytesIO()
  image.save(buffer, format=fmt, **options)
  return buffer.getvalue()


def png_rgb16(rgb16: np.ndarray) -> bytes:
  """A 16-bit-per-channel RGB PNG (Pillow cannot write one)."""
  height, width, _ = rgb16.shape
  rows = b"".join(b"\x00" + rgb16[row].astype(">u2").tobytes() for row in range(height))

  def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

  header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
  return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


GOOD_PHOTOS = 12
BAD_SKIPPED = {"truncated": 1, "unreadable": 1}
BAD_CONVERTED = {"cmyk": 1, "grayscale": 2, "16bit": 2, "alpha": 1, "palette": 1}


def write_photo_folder(root: Path, good: int = GOOD_PHOTOS, bad: bool = True) -> Path:
  """`good` RGB JPEGs/PNGs in nested folders, plus one file of every awkward kind."""
  for index in range(good):
    folder = root / f"album{index % 3}" / ("nested" if index % 2 else "")
    folder.mkdir(parents=True, exist_ok=True)
    suffix, fmt = ((".jpg", "JPEG"), (".png", "PNG"), (".JPEG", "JPEG"))[index % 3]
    (folder / f"photo{index:02d}{suffix}").write_bytes(encode(photo(index, 80 + index, 110), fmt))
  if bad:
    write_bad_photos(root / "bad")
  (root / "notes.txt").write_text("not a photo: ignored by suffix")
  return root


def write_bad_photos(folder: Path) -> None:
  folder.mkdir(parents=True, exist_ok=True)
  full = encode(photo(100), "JPEG", quality=90)
  (folder / "truncated.jpg").write_bytes(full[: len(full) // 2])
  (folder / "text.jpg").write_text("this is not a JPEG")
  (folder / "cmyk.jpg").write_bytes(encode(Image.fromarray(photo(101)).convert("CMYK"), "JPEG"))
  (folder / "grey.png").write_bytes(encode(Image.fromarray(photo(102)).convert("L"), "PNG"))
  grey16 = photo(103)[..., 0].astype(np.uint16) * 257
  (folder / "grey16.png").write_bytes(encode(Image.fromarray(grey16), "PNG"))
  (folder / "rgb16.png").write_bytes(png_rgb16(photo(104).astype(np.uint16) * 257))
  rgba = np.dstack([photo(105), np.full(photo(105).shape[:2], 128, np.uint8)])
  (folder / "rgba.png").write_bytes(encode(rgba, "PNG"))
  (folder / "palette.png").write_bytes(encode(Image.fromarray(photo(106)).convert("P"), "PNG"))


def write_imagenet_tar(path: Path, synsets: dict[str, int]) -> Path:
  """ILSVRC2012_img_train.tar's layout: an outer tar of <synset>.tar, each a tar of JPEGs."""
  path.parent.mkdir(parents=True, exist_ok=True)
  with tarfile.open(path, "w") as outer:
    for synset_index, (synset, count) in enumerate(sorted(synsets.items())):
      inner_bytes = io.BytesIO()
      with tarfile.open(fileobj=inner_bytes, mode="w") as inner:
        for image_index in range(count):
          jpeg = encode(photo(1000 * synset_index + image_index), "JPEG", quality=90)
          _add(inner, f"{synset}_{image_index + 1}.JPEG", jpeg)
      _add(outer, f"{synset}.tar", inner_bytes.getvalue())
  return path


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
  info = tarfile.TarInfo(name)
  info.size = len(data)
  archive.addfile(info, io.BytesIO(data))


LIVE_REFERENCES = [f"ref{index:02d}.bmp" for index in range(29)]
LIVE_DISTORTED = 145


def write_live_release(root: Path, height: int = 24, width: int = 36) -> Path:
  """databaserelease2/ with real counts and orders, tiny 24-bit BMPs, "\\r\\r" info.txt lines.

  In wn and gblur, img1..145 are distorted (5 per reference) and img146..174 are the 29
  reference copies (orgs 1, dmos 0), as in Release 2.
  """
  release = root / "databaserelease2"
  (release / "refimgs").mkdir(parents=True)
  for index, name in enumerate(LIVE_REFERENCES):
    Image.fromarray(photo(2000 + index, height, width)).save(release / "refimgs" / name, format="BMP")
  dmos, orgs, refnames = [], [], []
  for folder, size in BLOCKS:
    (release / folder).mkdir()
    lines = []
    for number in range(1, size + 1):
      is_copy = folder in ("wn", "gblur", "fastfading") and number > LIVE_DISTORTED
      reference = LIVE_REFERENCES[(number - 1) % 29] if not is_copy else LIVE_REFERENCES[number - LIVE_DISTORTED - 1]
      parameter = 0.0 if is_copy else round(0.1 * number, 6)
      dmos.append(0.0 if is_copy else 20.0 + number / 10)
      orgs.append(1 if is_copy else 0)
      refnames.append(reference)
      if folder in ("wn", "gblur"):
        image = photo(3000 + number, height, width)
        Image.fromarray(image).save(release / folder / f"img{number}.bmp", format="BMP")
      lines.append(f"{reference} img{number}.bmp {parameter:f}")
    newline = "\r\r" if folder == "gblur" else "\n"
    (release / folder / "info.txt").write_bytes((newline.join(lines) + newline + newline).encode())
  scipy.io.savemat(release / "dmos.mat", {"dmos": np.array([dmos]), "orgs": np.array([orgs], np.uint8)})
  cells = np.empty((1, len(refnames)), dtype=object)
  cells[0, :] = refnames
  scipy.io.savemat(release / "refnames_all.mat", {"refnames_all": cells})
  (release / "readme.txt").write_text("LIVE Image Quality Assessment Database Release 2 (test fixture)")
  return release
