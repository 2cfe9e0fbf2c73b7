"""Pixel plumbing shared by the builders: decode any photo to RGB, crop/resize, encode.

Everything returns uint8 HxWx3 arrays; encoding goes through PIL so no TensorFlow is needed
(tfds' Image feature would call tf.image.encode_png on a numpy array, so the builders hand
it PNG bytes instead).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image

CROP_SIZE = 224
MAX_ASPECT = 16  # longer side / shorter side up to which a photo is resized whole, then cropped
DRAFT_MARGIN = 4  # a JPEG decoded for a size-s square keeps its shorter side >= DRAFT_MARGIN s
MAX_PIXELS = 40_000_000  # per photo decoded for prediction, after JPEG scaling (a 40 MP PNG: 120 MB)


class UnreadableSource(Exception):
  """A source photo that cannot be decoded; `reason` is the counter it is filed under."""

  def __init__(self, reason: str, detail: str = ""):
    super().__init__(f"{reason}: {detail}" if detail else reason)
    self.reason = reason


def decode_photo(data: bytes, *, for_size: int | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
  """Decodes JPEG/PNG/BMP bytes to RGB uint8; also names the conversions it needed.

  `for_size` bounds the memory a photo takes when only a `for_size` square will be made of it
  (prediction): a JPEG is decoded at a reduced scale (1/2, 1/4, 1/8: libjpeg's DCT scaling)
  that keeps its shorter side at least DRAFT_MARGIN x for_size, and a photo of more than
  MAX_PIXELS pixels after that is refused."""
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("error", Image.DecompressionBombWarning)
      with Image.open(io.BytesIO(data)) as image:
        wide = any(";16" in str(tile.args) for tile in image.tile)  # e.g. PNG rawmode RGB;16B
        if for_size:
          _shrink_on_decode(image, for_size)
        image.load()
        rgb, conversions = to_rgb(image)
  except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
    raise UnreadableSource("too_large", str(error)) from None
  except (OSError, SyntaxError, ValueError) as error:
    reason = "truncated" if "truncated" in str(error) else "unreadable"
    raise UnreadableSource(reason, str(error)) from None
  if wide and "16bit" not in conversions:
    conversions = ("16bit", *conversions)  # Pillow already reduced 16-bit RGB to 8 bits
  return rgb, conversions


def _shrink_on_decode(image: Image.Image, size: int) -> None:
  """Asks a JPEG decoder for a reduced scale (other formats ignore it); refuses huge photos."""
  if image.format == "JPEG":
    image.draft(None, (DRAFT_MARGIN * size, DRAFT_MARGIN * size))
  width, height = image.size
  if width * height > MAX_PIXELS:
    raise UnreadableSource("too_large", f"{width}x{height} pixels, more than the {MAX_PIXELS:,} a photo may have")


def to_rgb(image: Image.Image) -> tuple[np.ndarray, tuple[str, ...]]:
  """Converts any PIL mode to RGB uint8; transparency is composited on white.

  White is what the original Java generator drew every image onto before saving it.
  """
  mode = image.mode
  if mode == "RGB":
    return np.asarray(image), ()
  if mode == "CMYK":
    return np.asarray(image.convert("RGB")), ("cmyk",)
  if mode in ("I;16", "I;16B", "I;16L", "I"):
    wide = np.asarray(image, dtype=np.float64)
    grey = np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2), ("16bit", "grayscale")
  if mode in ("1", "L", "F"):
    grey = np.asarray(image.convert("L"))
    return np.repeat(grey[..., None], 3, axis=2), ("grayscale",)
  has_alpha = mode in ("RGBA", "LA", "La", "RGBa", "PA") or "transparency" in image.info
  if has_alpha:
    return composite_on_white(np.asarray(image.convert("RGBA"))), ("alpha",)
  if mode == "P":
    return np.asarray(image.convert("RGB")), ("palette",)
  return np.asarray(image.convert("RGB")), (mode.lower(),)


def composite_on_white(rgba: np.ndarray) -> np.ndarray:
  """out = c a/255 + 255 (1 - a/255), rounded: Java drawing ARGB onto a white canvas."""
  colour = rgba[..., :3].astype(np.float64)
  alpha = rgba[..., 3:].astype(np.float64) / 255.0
  return np.rint(colour * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)


def resize_shorter_and_centre_crop(rgb: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
  """Shorter side to `size` (bicubic), then the central size x size crop (the poster's recipe).

  A photo longer than MAX_ASPECT times its width (a 6000x1 strip would grow to 1344000x224) is
  cropped before it is resized instead: PIL resizes just the crop's window of the photo (reading
  the pixels around it), so memory stays bounded by `size`; the pixels may differ from resizing
  the whole by a few levels (PIL computes the window's filter taps slightly differently)."""
  height, width = rgb.shape[:2]
  scale = size / min(height, width)
  new_width = size if width <= height else max(size, int(width * scale))
  new_height = size if height < width else max(size, int(height * scale))
  left = (new_width - size) // 2
  top = (new_height - size) // 2
  if max(new_width, new_height) > MAX_ASPECT * size:
    sx, sy = width / new_width, height / new_height
    box = (left * sx, top * sy, (left + size) * sx, (top + size) * sy)
    return np.asarray(Image.fromarray(rgb).resize((size, size), Image.Resampling.BICUBIC, box=box))
  if (new_width, new_height) != (width, height):
    resized = Image.fromarray(rgb).resize((new_width, new_height), Image.Resampling.BICUBIC)
    rgb = np.asarray(resized)
  return np.ascontiguousarray(rgb[top : top + size, left : left + size])


def pad_to_square_and_resize(rgb: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
  """Zero-pads to a centred square, then resizes bilinearly to size x size.

  This is what the original LIVE script did: it meant to pass cv2.INTER_AREA but passed it
  in cv2.resize's `dst` slot, so OpenCV's default bilinear (INTER_LINEAR, no antialiasing)
  ran. The bilinear resize here follows INTER_LINEAR's sampling grid in float.
  """
  height, width = rgb.shape[:2]
  side = max(height, width)
  square = np.zeros((side, side, 3), np.uint8)
  top, left = (side - height) // 2, (side - width) // 2
  square[top : top + height, left : left + width] = rgb
  rows_lo, rows_hi, row_weight = _linear_taps(side, size)
  cols_lo, cols_hi, col_weight = _linear_taps(side, size)
  pixels = square.astype(np.float64)
  row_weight, col_weight = row_weight[:, None, None], col_weight[None, :, None]
  rows = pixels[rows_lo] * (1 - row_weight) + pixels[rows_hi] * row_weight
  out = rows[:, cols_lo] * (1 - col_weight) + rows[:, cols_hi] * col_weight
  return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _linear_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Source indices and weights of OpenCV's INTER_LINEAR (half-pixel centres, clamped)."""
  position = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
  low = np.floor(position)
  weight = position - low
  weight[low < 0] = 0.0
  low = np.clip(low, 0, in_size - 1).astype(np.int64)
  weight[low >= in_size - 1] = 0.0
  high = np.minimum(low + 1, in_size - 1)
  return low, high, weight


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
  """Encodes as baseline JPEG (4:2:0) and decodes again, as the original saved every image."""
  buffer = io.BytesIO()
  Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality, subsampling="4:2:0")
  with Image.open(buffer) as decoded:
    return np.asarray(decoded.convert("RGB"))


def encode_png(rgb: np.ndarray) -> bytes:
  """Lossless PNG bytes (what the Image feature stores); level 1: 3x faster than 6, ~same size."""
  buffer = io.BytesIO()
  Image.fromarray(rgb).save(buffer, format="PNG", compress_level=1)
  return buffer.getvalue()
