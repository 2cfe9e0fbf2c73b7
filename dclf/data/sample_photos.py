"""The embedded default dataset's photos: pictures bundled with scikit-image.

They ship inside the scikit-image wheel (no pooch download). Each photo yields several
random square windows (random size and position, seeded) that the usual 224 pipeline then
scales to 224x224. Splits are by photo, never by window, so validation and test windows
never overlap a training window. `sample` has 9 colour photos of 8 scenes (the two motorcycle
views show one scene and stay together in train); `sample_plus` adds two grey textures to the
train split (photos from the wild are often grey, and textures are not noise). The photos of the
wild evaluation set (benchmarks/wild_eval_set.py) are in neither: never trained on.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib

import numpy as np
from skimage import data as skimage_data

from dclf.data.imaging import CROP_SIZE

# photo name -> (split, loader). cat is the same picture as chelsea, so it is left out.
PHOTOS = {
  "astronaut": ("train", skimage_data.astronaut),
  "rocket": ("train", skimage_data.rocket),
  "motorcycle_left": ("train", lambda: skimage_data.stereo_motorcycle()[0]),
  "motorcycle_right": ("train", lambda: skimage_data.stereo_motorcycle()[1]),
  "hubble_deep_field": ("train", skimage_data.hubble_deep_field),
  "immunohistochemistry": ("train", skimage_data.immunohistochemistry),
  "retina": ("train", skimage_data.retina),
  "coffee": ("validation", skimage_data.coffee),
  "chelsea": ("test", skimage_data.chelsea),
}


def _grey(loader):
  return lambda: np.repeat(loader()[..., None], 3, axis=2)


# Photo sets by the name a dataset config gives in `photos`. Grey photos are repeated over R, G, B;
# scikit-image's other grey photos are smaller than 224 (text, page), blurred by nature (moon, cell,
# clock_motion) or in the wild evaluation set (camera, coins, gravel).
PHOTO_SETS = {
  "sample": PHOTOS,
  "sample_plus": {
    **PHOTOS,
    "grass": ("train", _grey(skimage_data.grass)),
    "brick": ("train", _grey(skimage_data.brick)),
  },
}
ALL_PHOTOS = {name: entry for photos in PHOTO_SETS.values() for name, entry in photos.items()}
_MIN_WINDOW_STD = 12.0  # grey-level std below this is a flat window (black sky, fundus border)
_WINDOW_TRIES = 16


@dataclasses.dataclass(frozen=True)
class SampleWindow:
  """One square window of a bundled photo: (left, top) corner and side length in pixels."""

  source_id: str
  photo: str
  left: int
  top: int
  side: int


@functools.cache
def load_photo(name: str) -> np.ndarray:
  return np.ascontiguousarray(ALL_PHOTOS[name][1]())


def load_window(window: SampleWindow) -> np.ndarray:
  photo = load_photo(window.photo)
  return photo[window.top : window.top + window.side, window.left : window.left + window.side]


def windows_by_split(
  num_windows: int, seed: int, photo_set: str = "sample", native_share: float = 0.0
) -> dict[str, list[SampleWindow]]:
  """num_windows windows spread evenly over the photos of `photo_set`, grouped by their photo's
  split. A photo's windows do not depend on the other photos of the set. `native_share`: the
  share of the train photos' windows cut at 224, the photo's own pixels (as `dclf.predict` looks
  at a photo), instead of a random size scaled down to 224; validation and test stay as they are."""
  photos = PHOTO_SETS[photo_set]
  per_photo = max(1, num_windows // len(photos))
  by_split: dict[str, list[SampleWindow]] = {"train": [], "validation": [], "test": []}
  for name, (split, _) in photos.items():
    by_split[split].extend(_photo_windows(name, per_photo, seed, native_share if split == "train" else 0.0))
  return by_split


def _photo_windows(name: str, count: int, seed: int, native_share: float = 0.0) -> list[SampleWindow]:
  """`count` distinct windows no smaller than 224 (windows are only ever scaled down), a share
  `native_share` of them exactly 224 (drawn per window)."""
  photo = load_photo(name)
  height, width = photo.shape[:2]
  grey = photo.mean(axis=2)
  digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
  rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
  seen: set[tuple[int, int, int]] = set()
  windows = []
  while len(windows) < count:
    for _ in range(_WINDOW_TRIES):
      native = native_share > 0 and rng.random() < native_share  # no draw at 0: the datasets stay as built
      side = CROP_SIZE if native else int(rng.integers(CROP_SIZE, min(height, width) + 1))
      left = int(rng.integers(0, width - side + 1))
      top = int(rng.integers(0, height - side + 1))
      flat = grey[top : top + side : 4, left : left + side : 4].std() < _MIN_WINDOW_STD
      if not flat and (left, top, side) not in seen:
        break
    seen.add((left, top, side))
    source_id = f"{name}/window{len(windows):04d}"
    windows.append(SampleWindow(source_id, name, left, top, side))
  return windows
