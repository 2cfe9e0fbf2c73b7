"""Photo files as the model's inputs, in memory bounded by the model's input size: how
`dclf.predict` and `dclf.evaluate --images` look at a photo (a view).

- `Windows` (the default, `DEFAULT_VIEW`): input-size windows of the whole photo at its own
  pixels (`scale` 1), at another scale, or with its shorter side at `shorter_side` pixels
  (`dclf.windows` lays them out), their answers combined into the photo's by one of
  `dclf.windows.COMBINE` (`max` by default). Chosen by measurement on the wild evaluation set
  (benchmarks/predict_views.py, docs/evaluation.md).
- `Crop`: the photo as the datasets were made (dclf.data.imaging: any mode to RGB, shorter side
  to the input size, bicubic, central square crop): one input per photo, the poster's recipe.

Memory: a JPEG is decoded at a reduced scale (libjpeg's 1/2, 1/4, 1/8) when the view needs fewer
pixels than it holds, a photo of more than imaging.MAX_PIXELS pixels after that is refused, a
photo is cut into at most `max_windows` windows (each resized from its own part of the photo when
the scale is not the decoded one, so a long strip never grows whole), and only regular files are
read (a FIFO or a device would never end). Callers read at most DECODE_THREADS photos at once.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import re
import stat
from pathlib import Path

import numpy as np
from PIL import Image

from dclf import windows as windows_lib
from dclf.data import imaging
from dclf.errors import UsageError

DECODE_THREADS = min(4, os.cpu_count() or 1)  # photos decoded at once: bounds the memory they take
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
MAX_WINDOWS = 64  # per photo, by default: 64 windows of 224x224 are 9.6 MB
DEFAULT_COMBINE = "mean"  # measured: docs/evaluation.md, "Which view by default"


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


def read_file(path) -> bytes:
  """The bytes of a regular file (a FIFO or a device would never end); UnreadableImage if not."""
  try:
    if not stat.S_ISREG(os.stat(path).st_mode):
      raise UnreadableImage(f"{path}: not a regular file")
    return Path(path).read_bytes()
  except OSError as e:
    raise UnreadableImage(f"{path}: {e.strerror or e}") from None


def decode(path, data: bytes, for_size: int) -> np.ndarray:
  """RGB uint8 of `data` (dclf.data.imaging.decode_photo: a JPEG at the smallest of its reduced
  scales whose sides stay >= DRAFT_MARGIN x for_size); UnreadableImage naming `path` if not."""
  try:
    return imaging.decode_photo(data, for_size=for_size)[0]
  except imaging.UnreadableSource as e:  # PIL names its in-memory file: "... <_io.BytesIO object at 0x...>"
    raise UnreadableImage(f"{path}: {re.sub(r' <_io.BytesIO object at 0x[0-9a-f]+>', '', str(e))}") from None


def load_image(path, size: int) -> np.ndarray:
  """uint8 (size, size, 3), as the datasets were made (`Crop`)."""
  return Crop().load(path, size).windows[0]


@dataclasses.dataclass(frozen=True)
class Inputs:
  """What the model sees of one photo: `windows` uint8 (n, size, size, 3) and, for `Windows`,
  each one's `boxes` (n, 4: left, top, right, bottom) in the photo's own pixels (as the file
  stores it), the smallest box of whole pixels holding the window's part of the photo."""

  windows: np.ndarray
  boxes: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class Crop:
  """The photo's shorter side to the input size, the central square: the datasets' recipe."""

  def cut(self, rgb: np.ndarray, size: int) -> Inputs:
    return Inputs(imaging.resize_shorter_and_centre_crop(rgb, size)[None])

  def load(self, path, size: int) -> Inputs:
    return self.cut(decode(path, read_file(path), size), size)

  def combined(self, probabilities: np.ndarray, objective, clean: int | None) -> np.ndarray:
    """The photo's probabilities: its one input's."""
    del objective, clean
    return probabilities[0]

  def describe(self) -> dict:
    return {"view": "crop"}


@dataclasses.dataclass(frozen=True)
class Windows:
  """Input-size windows over the whole photo, at `scale` times its size (1: its own pixels) or,
  if set, with its shorter side at `shorter_side` pixels; never smaller than one window (a
  smaller photo is enlarged to it). At most `max_windows` per photo (`dclf.windows.layout`);
  their probabilities are combined by `combine` (a name in `dclf.windows.COMBINE`)."""

  scale: float = 1.0
  shorter_side: int | None = None
  combine: str = DEFAULT_COMBINE
  max_windows: int = MAX_WINDOWS

  def __post_init__(self):
    if not (math.isfinite(self.scale) and 0 < self.scale <= 1):
      raise UsageError(f"the windows' scale must be in (0, 1], got {self.scale}")
    if self.shorter_side is not None and self.shorter_side <= 0:
      raise UsageError(f"the windows' shorter side must be a positive number of pixels, got {self.shorter_side}")
    if self.combine not in windows_lib.COMBINE:
      raise UsageError(f"unknown combine rule {self.combine!r}; known: {', '.join(windows_lib.COMBINE)}")
    if self.max_windows < 1:
      raise UsageError(f"max windows must be >= 1, got {self.max_windows}")

  def target_size(self, width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) of the photo as its windows see it."""
    shorter = min(width, height)
    factor = self.shorter_side / shorter if self.shorter_side else self.scale
    factor = max(factor, size / shorter)
    return max(size, round(width * factor)), max(size, round(height * factor))

  def cut(self, rgb: np.ndarray, size: int, original: tuple[int, int] | None = None) -> Inputs:
    """The windows of `rgb`, a decoding of a photo of `original` (width, height) pixels (default:
    rgb's own size, the photo as it is)."""
    height, width = rgb.shape[:2]
    original = original or (width, height)
    target = self.target_size(*original, size)
    boxes = windows_lib.layout(target[1], target[0], size, self.max_windows)
    if target == (width, height):
      windows = np.stack([rgb[top:bottom, left:right] for left, top, right, bottom in boxes])
    else:  # each window resized from its part of the photo: the photo is never resized whole
      image = Image.fromarray(rgb)
      to_decoded = np.array([width / target[0], height / target[1]] * 2)
      windows = np.stack(
        [np.asarray(image.resize((size, size), Image.Resampling.BICUBIC, box=tuple(box * to_decoded))) for box in boxes]
      )
    in_photo = boxes * np.array([original[0] / target[0], original[1] / target[1]] * 2)
    in_photo = np.concatenate([np.floor(in_photo[:, :2] + 1e-6), np.ceil(in_photo[:, 2:] - 1e-6)], axis=1)
    return Inputs(windows, in_photo.astype(np.int64))

  def load(self, path, size: int) -> Inputs:
    """Decodes about as many pixels as the windows need (a JPEG at a reduced scale when it can)."""
    data = read_file(path)
    original = _size(data)
    if original is None:  # not an image: decoding says why
      decode(path, data, size)
      raise UnreadableImage(f"{path}: unreadable: no image size in its header")
    target = self.target_size(*original, size)
    # A JPEG comes at the smallest reduced scale whose shorter side is >= 4 floor(target / 4): at
    # most 3 pixels short of the target's (then enlarged by that much), never twice its size.
    rgb = decode(path, data, max(1, min(target) // imaging.DRAFT_MARGIN))
    return self.cut(rgb, size, original)

  def combined(self, probabilities: np.ndarray, objective, clean: int | None) -> np.ndarray:
    """The photo's probabilities, from its windows' (`dclf.windows.combine`)."""
    return windows_lib.combine(self.combine, probabilities, objective, clean)

  def describe(self) -> dict:
    scale = f"{self.shorter_side}px" if self.shorter_side else self.scale
    return {"view": "windows", "scale": scale, "combine": self.combine, "max_windows": self.max_windows}


def _size(data: bytes) -> tuple[int, int] | None:
  """(width, height) from the header, or None if PIL cannot tell."""
  try:
    with Image.open(io.BytesIO(data)) as image:
      return image.size
  except Exception:  # pylint: disable=broad-except  (PIL raises many kinds; decoding reports them)
    return None


def parse_scale(text: str) -> dict:
  """`--scale`: '0.5' (a factor) or '512px' (the shorter side) -> Windows' fields."""
  try:
    if text.endswith("px"):
      return {"shorter_side": int(text[:-2])}
    return {"scale": float(text)}
  except ValueError:
    raise UsageError(f"--scale takes a factor in (0, 1] or a shorter side such as 512px, got {text!r}") from None


VIEWS = {"windows": Windows, "crop": Crop}
DEFAULT_VIEW = Windows()


def add_view_arguments(parser) -> None:
  """The flags that choose the view, shared by `dclf.predict` and `dclf.evaluate`."""
  parser.add_argument(
    "--view",
    choices=tuple(VIEWS),
    help="windows (the default): windows of the model's input size over the whole photo at --scale, "
    "their answers combined by --combine; crop: the shorter side shrunk to the input size, the central "
    "square (the datasets' recipe)",
  )
  parser.add_argument(
    "--scale",
    metavar="S",
    help="windows: the photo at S times its size (0 < S <= 1; 1, the default: its own pixels), or NNNpx: "
    "its shorter side at NNN pixels",
  )
  parser.add_argument(
    "--combine",
    choices=tuple(windows_lib.COMBINE),
    help="windows: mean: the mean probabilities; max: each distortion at its most confident window "
    f"(reference at its least); vote: the windows' votes (default: {DEFAULT_COMBINE})",
  )
  parser.add_argument(
    "--max-windows",
    type=int,
    metavar="N",
    help=f"windows: at most N windows per photo, spread over all of it (default: {MAX_WINDOWS})",
  )


def view_flags(args) -> list[str]:
  """The view flags given on the command line."""
  given = {"--view": args.view, "--scale": args.scale, "--combine": args.combine, "--max-windows": args.max_windows}
  return [flag for flag, value in given.items() if value is not None]


def view_of(args) -> Crop | Windows:
  """The view the flags of `add_view_arguments` choose (default: DEFAULT_VIEW)."""
  if args.view == "crop":
    given = [flag for flag in view_flags(args) if flag != "--view"]
    if given:
      raise UsageError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to --view windows only")
    return Crop()
  return Windows(
    **parse_scale(args.scale or "1"),
    combine=args.combine or DEFAULT_COMBINE,
    max_windows=MAX_WINDOWS if args.max_windows is None else args.max_windows,
  )
