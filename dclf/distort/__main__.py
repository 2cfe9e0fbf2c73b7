"""Preview CLI: ``python -m dclf.distort NAME IN_IMAGE OUT_IMAGE [--param k=v ...] [--seed N]``.

Any error (bad name, parameter, unreadable input, unwritable output) prints one
``error: ...`` line on stderr and exits with status 2, leaving no output file behind.
"""

import os
import sys

import numpy as np
from PIL import Image

from dclf import cli
from dclf.distort import FILTERS, apply, defaults
from dclf.errors import UsageError

JPEG_QUALITY = 75  # Java ImageIO's default, which the poster's generator used


def _parse_value(name: str, key: str, text: str, default):
  """Convert ``text`` to the type of the parameter's default value."""
  try:
    if isinstance(default, bool):
      options = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
      return options[text.lower()]
    return type(default)(text)
  except (KeyError, ValueError):
    kind = type(default).__name__
    raise ValueError(f"bad value {text!r} for {name} parameter {key} (expected {kind})") from None


def _parse_params(name: str, pairs) -> dict:
  valid = defaults(name)
  params = {}
  for pair in pairs:
    key, sep, text = pair.partition("=")
    if not sep:
      raise ValueError(f"--param needs key=value, got {pair!r}")
    if key not in valid:
      raise ValueError(f"unknown parameter {key!r} for {name}; valid: {', '.join(valid)}")
    params[key] = _parse_value(name, key, text, valid[key])
  return params


def _reason(e: Exception) -> str:
  return getattr(e, "strerror", None) or str(e)


def _read_rgb(path: str) -> np.ndarray:
  """Any PIL-readable image as uint8 RGB; transparency is composited onto white."""
  try:
    with Image.open(path) as im:
      im.load()
      if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        im = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", im.size, "white"), im)
      return np.asarray(im.convert("RGB"))
  except (OSError, ValueError, Image.DecompressionBombError) as e:
    raise ValueError(f"cannot read image {path!r}: {_reason(e)}") from None


def _write(image: np.ndarray, path: str) -> None:
  """Save by extension through a temporary file in the same folder, then rename."""
  fmt = Image.registered_extensions().get(os.path.splitext(path)[1].lower())
  if fmt not in Image.SAVE:
    raise ValueError(f"cannot write {path!r}: no image format PIL can save has that extension")
  options = {"quality": JPEG_QUALITY} if fmt == "JPEG" else {}
  folder, base = os.path.split(os.path.abspath(path))
  tmp = os.path.join(folder, f".{base}.{os.getpid()}.part")
  try:
    with open(tmp, "xb") as f:
      Image.fromarray(image).save(f, format=fmt, **options)
    os.replace(tmp, path)
  except (OSError, ValueError) as e:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise ValueError(f"cannot write {path!r}: {_reason(e)}") from None


@cli.command
def main(argv=None) -> int:
  parser = cli.ArgumentParser(prog="python -m dclf.distort", description="Apply one JH Labs distortion.")
  parser.add_argument("name", help=f"one of: {', '.join(FILTERS)}")
  parser.add_argument("input", help="input image (any format PIL reads)")
  parser.add_argument("output", help="output image; the format follows the extension")
  parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  try:
    params = _parse_params(args.name, args.param)
    image = _read_rgb(args.input)
    _write(apply(args.name, image, seed=args.seed, **params), args.output)
  except ValueError as e:  # the filters' own argument checks, and the file errors above
    raise UsageError(str(e)) from None
  return 0


if __name__ == "__main__":
  sys.exit(main())
