"""The embedded sample dataset: scikit-image photos, split by photo, built for real (small)."""

import collections

import numpy as np
import pytest

import dclf.data
from dclf.data import sample_photos
from dclf.data.distortions import configs

from _data_helpers import assert_same_examples, read_split

SAMPLE_CONFIGS = [config for config in configs.CONFIGS if config.photos == "sample"]


def test_photos_are_bundled_colour_pictures():
  for name in sample_photos.PHOTOS:
    photo = sample_photos.load_photo(name)
    assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3
    assert min(photo.shape[:2]) >= 224


@pytest.mark.parametrize("config", SAMPLE_CONFIGS, ids=lambda config: config.name)
def test_default_windows_split_by_photo(config):
  windows = sample_photos.windows_by_split(config.num_sources, config.seed)
  photos = {split: {window.photo for window in items} for split, items in windows.items()}
  assert photos["validation"] == {"coffee"} and photos["test"] == {"chelsea"}
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


def test_clean_sample_holds_each_train_window_once_and_the_sample_evaluation_splits(tmp_path):
  """blur_noise_clean_sample: its train split is blur_noise_sample's reference examples (one per
  window, for config.distort_on_device); validation and test are blur_noise_sample's, bit for bit."""
  for name in ("distortions/blur_noise_sample", "distortions/blur_noise_clean_sample"):
    dclf.data.build(name, data_dir=str(tmp_path), num_sources=18, workers=1)
  clean = {
    split: read_split("distortions/blur_noise_clean_sample", split, tmp_path)
    for split in ("train", "validation", "test")
  }
  sample = {split: read_split("distortions/blur_noise_sample", split, tmp_path) for split in clean}
  assert len(clean["train"]) == 14 and {ex["distortion"] for ex in clean["train"]} == {b"reference"}
  assert_same_examples(clean["train"], [ex for ex in sample["train"] if ex["distortion"] == b"reference"])
  for split in ("validation", "test"):
    assert_same_examples(clean[split], sample[split])
