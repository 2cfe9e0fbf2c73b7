"""Reads LIVE Release 2's folder layout: which files are references, blur or noise, and their scores.

dmos.mat lists 982 entries in the order jp2k 227 | jpeg 233 | wn 174 | gblur 174 |
fastfading 174; entry k of a block is <folder>/img<k>.bmp. `orgs == 1` marks the copies of the
29 references inside the distortion folders (img146..174 in wn and gblur): they are skipped,
the references are taken from refimgs/ instead. Each folder's info.txt must agree with
refnames_all.mat on the reference of every distorted image.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import scipy.io

from dclf.errors import DataError

RELEASE_FOLDER = "databaserelease2"
BLOCKS = (("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174), ("fastfading", 174))
FOLDER_CLASSES = {"gblur": "blur", "wn": "noise"}  # the folders the blur_noise task uses
REFERENCE_FOLDER = "refimgs"


@dataclasses.dataclass(frozen=True)
class LiveImage:
  """One LIVE image with its label and scores; `filename` is relative to the release folder."""

  filename: str
  label: str
  sigma: float
  dmos: float
  reference: str


def find_release(manual_dir: Path) -> Path:
  """manual_dir itself when it holds dmos.mat, else its databaserelease2/ folder."""
  for candidate in (manual_dir, manual_dir / RELEASE_FOLDER):
    if (candidate / "dmos.mat").is_file():
      return candidate
  raise DataError(f"no LIVE release in {manual_dir}: expected {RELEASE_FOLDER}/dmos.mat")


def list_images(release: Path) -> list[LiveImage]:
  """The 29 references, then the distorted gblur and wn images, checked against each other."""
  dmos, orgs, refnames = read_scores(release)
  images = list_references(release, set(refnames))
  offsets = dict(zip((name for name, _ in BLOCKS), np.cumsum([0] + [n for _, n in BLOCKS])))
  for folder, label in FOLDER_CLASSES.items():
    info = read_info(release / folder / "info.txt")
    size = dict(BLOCKS)[folder]
    for number in range(1, size + 1):
      entry = offsets[folder] + number - 1
      name = f"img{number}.bmp"
      _check_reference(folder, name, info, refnames[entry])
      if orgs[entry] == 1:
        continue  # a copy of a reference image
      images.append(_distorted(release, folder, label, name, info, dmos[entry]))
  return images


def _check_reference(folder: str, name: str, info: dict, refname: str) -> None:
  listed = info.get(name)
  if listed is not None and listed[0] != refname:
    raise DataError(f"LIVE: {folder}/info.txt says {name} comes from {listed[0]}, refnames_all.mat says {refname}")


def _distorted(release, folder, label, name, info, dmos) -> LiveImage:
  filename = f"{folder}/{name}"
  if name not in info:
    raise DataError(f"LIVE: {filename} is distorted (orgs = 0) but missing from {folder}/info.txt")
  reference, sigma = info[name]
  if not (release / filename).is_file():
    raise DataError(f"LIVE: {release / filename} is missing")
  return LiveImage(filename, label, sigma, float(dmos), reference)


def list_references(release: Path, expected: set[str]) -> list[LiveImage]:
  folder = release / REFERENCE_FOLDER
  names = sorted(path.name for path in folder.glob("*.bmp")) if folder.is_dir() else []
  if set(names) != expected:
    missing = sorted(expected - set(names))
    raise DataError(f"LIVE: {folder} does not hold the references of refnames_all.mat (missing: {missing})")
  return [LiveImage(f"{REFERENCE_FOLDER}/{name}", "reference", 0.0, 0.0, name) for name in names]


def read_scores(release: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
  """dmos and orgs from dmos.mat, refnames_all from refnames_all.mat: 982 entries each."""
  expected = sum(size for _, size in BLOCKS)
  for name in ("dmos.mat", "refnames_all.mat"):
    if not (release / name).is_file():
      raise DataError(f"LIVE: {release / name} is missing")
  try:
    scores = scipy.io.loadmat(release / "dmos.mat")
    names = scipy.io.loadmat(release / "refnames_all.mat")
    dmos = np.asarray(scores["dmos"], np.float64).ravel()
    orgs = np.asarray(scores["orgs"]).ravel()
    refnames = [_matlab_string(cell) for cell in np.asarray(names["refnames_all"]).ravel()]
  # scipy reports a truncated or mangled .mat file in many ways (IndexError, MatReadError ...)
  except (OSError, ValueError, KeyError, IndexError, TypeError, scipy.io.matlab.MatReadError) as error:
    reason = str(error) or type(error).__name__
    raise DataError(f"LIVE: cannot read dmos.mat / refnames_all.mat in {release} (truncated?): {reason}") from None
  if not len(dmos) == len(orgs) == len(refnames) == expected:
    raise DataError(
      f"LIVE: expected {expected} entries in dmos.mat and refnames_all.mat, found "
      f"dmos {len(dmos)}, orgs {len(orgs)}, refnames_all {len(refnames)}"
    )
  return dmos, orgs, refnames


def _matlab_string(cell) -> str:
  """A MATLAB char array as loadmat returns it inside a cell (array(['bikes.bmp']))."""
  return str(np.asarray(cell).ravel()[0]).strip()


def read_info(path: Path) -> dict[str, tuple[str, float]]:
  """info.txt: `<reference> <image> <parameter>` per line; any line ending ("\\r\\r" too)."""
  try:
    text = path.read_text(encoding="latin-1")
  except OSError as error:
    raise DataError(f"LIVE: cannot read {path}: {error}") from None
  entries = {}
  for line in re.split(r"[\r\n]+", text):
    fields = line.split()
    if not fields:
      continue
    if len(fields) != 3:
      raise DataError(f"LIVE: {path}: expected '<reference> <image> <parameter>', got {line!r}")
    reference, image, parameter = fields
    try:
      value = float(parameter)
    except ValueError:
      value = math.nan
    if not math.isfinite(value):
      raise DataError(f"LIVE: {path}: parameter {parameter!r} of {image} is not a finite number")
    entries[image] = (reference, value)
  return entries
