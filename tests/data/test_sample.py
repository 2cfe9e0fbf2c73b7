"""The embedded sample dataset: scikit-image photos, split by photo, built for real (small)."""

import collections

import numpy as np
import pytest

import dclf.data
from dclf import distort
from dclf.data import catalog, sample_photos
from dclf.data.distortions import configs

from _data_helpers import assert_same_examples, by_key, read_split

SAMPLE_CONFIGS = [config for config in configs.CONFIGS if config.photos in sample_photos.PHOTO_SETS]


def test_photos_are_bundled_rgb_pictures():
  for name in sample_photos.ALL_PHOTOS:
    photo = sample_photos.load_photo(name)
    assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3
    assert min(photo.shape[:2]) >= 224


@pytest.mark.parametrize("config", SAMPLE_CONFIGS, ids=lambda config: config.name)
def test_default_windows_split_by_photo(config):
  windows = sample_photos.windows_by_split(config.num_sources, config.seed, config.photos, config.native_share)
  photos = {split: {window.photo for window in items} for split, items in windows.items()}
  assert photos["validation"] == {"coffee"} and photos["test"] == {"chelsea"}
  assert photos["train"] == {n for n, (split, _) in sample_photos.PHOTO_SETS[config.photos].items() if split == "train"}
  assert not photos["train"] & (photos["validation"] | photos["test"])
  for items in windows.values():
    boxes = [(w.photo, w.left, w.top, w.side) for w in items]
    assert len(set(boxes)) == len(boxes)
    for window in items:
      height, width = sample_photos.load_photo(window.photo).shape[:2]
      assert 224 <= window.side <= min(height, width)
      assert window.left + window.side <= width and window.top + window.side <= height
  total = sum(len(items) for items in windows.values())
  assert 2000 <= total * len(config.class_names) <= 4000  # "a few thousand examples"


def test_native_share_cuts_that_share_of_the_train_windows_at_224_and_leaves_the_rest_as_they_were():
  """The quickstart's photos: half of the train windows at the photos' own pixels; validation and
  test, and every window of a set without native windows, stay what they were."""
  _, quickstart = catalog.parse("distortions/blur_noise_clean_sample_plus")
  assert quickstart.native_share == 0.5
  sources = (quickstart.num_sources, quickstart.seed, quickstart.photos)
  plain = sample_photos.windows_by_split(*sources)
  native = sample_photos.windows_by_split(*sources, quickstart.native_share)
  assert native["validation"] == plain["validation"] and native["test"] == plain["test"]
  assert len(native["train"]) == len(plain["train"]) == 1080
  share = np.mean([window.side == sample_photos.CROP_SIZE for window in native["train"]])
  assert 0.45 <= share <= 0.6, share  # a few random-size windows are 224 too
  assert np.mean([window.side == sample_photos.CROP_SIZE for window in plain["train"]]) < 0.05


def test_small_sample_build_reads_back_balanced(tmp_path):
  info = dclf.data.build("distortions/blur_noise_sample", data_dir=str(tmp_path), num_sources=18, workers=2)
  per_split = {"train": 14, "validation": 2, "test": 2}  # 2 windows of each of the 9 photos
  assert info.metadata["sources_used"] == per_split
  for split, windows in per_split.items():
    examples = read_split("distortions/blur_noise_sample", split, tmp_path)
    assert collections.Counter(int(ex["label"]) for ex in examples) == {0: windows, 1: windows, 2: windows}
    assert all(ex["image"].shape == (224, 224, 3) for ex in examples)


def test_sample_multilabel_and_six_build(tmp_path):
  for name in ("distortions/six_distortions_sample", "distortions/blur_noise_multilabel_sample"):
    info = dclf.data.build(name, data_dir=str(tmp_path), num_sources=9, workers=1)
    classes = len(info.features["label"].names)
    assert {split: s.num_examples for split, s in info.splits.items()} == {
      "train": 7 * classes,
      "validation": classes,
      "test": classes,
    }


def test_clean_sample_holds_each_train_window_once_and_the_sample_evaluation_splits_jpeg_first(tmp_path):
  """blur_noise_clean_sample: its train split is blur_noise_sample's reference examples (one per
  window, for config.distort_on_device); validation and test hold blur_noise_sample's examples
  (same windows, classes, severities) made as the train step makes them: the JPEG round trip on the
  clean crop, then the filters. The quickstart's _plus config has the same evaluation splits."""
  for name in ("distortions/blur_noise_sample", "distortions/blur_noise_clean_sample"):
    dclf.data.build(name, data_dir=str(tmp_path), num_sources=18, workers=1)
  # the quickstart's: two more train photos, the same windows of the others (2 per photo)
  plus = dclf.data.build("distortions/blur_noise_clean_sample_plus", data_dir=str(tmp_path), num_sources=22, workers=1)
  assert plus.metadata["sources_used"] == {"train": 18, "validation": 2, "test": 2}
  splits = ("train", "validation", "test")
  clean = {split: read_split("distortions/blur_noise_clean_sample", split, tmp_path) for split in splits}
  sample = {split: by_key(read_split("distortions/blur_noise_sample", split, tmp_path)) for split in splits}
  assert len(clean["train"]) == 14 and {ex["distortion"] for ex in clean["train"]} == {b"reference"}
  assert_same_examples(clean["train"], [ex for key, ex in sample["train"].items() if key[1] == "reference"])
  for split in ("validation", "test"):
    assert_same_examples(clean[split], read_split("distortions/blur_noise_clean_sample_plus", split, tmp_path))
    examples = by_key(clean[split])
    assert examples.keys() == sample[split].keys()
    for (source, distortion), example in examples.items():
      theirs = sample[split][(source, distortion)]
      assert [example[k] for k in ("label", "radius", "amount", "density")] == [
        theirs[k] for k in ("label", "radius", "amount", "density")
      ]
      reference = examples[(source, "reference")]["image"]
      if distortion == "reference":
        np.testing.assert_array_equal(example["image"], theirs["image"])
      elif distortion == "blur":
        np.testing.assert_array_equal(example["image"], distort.gaussian_blur(reference, radius=example["radius"]))
      else:
        assert not np.array_equal(example["image"], reference)
