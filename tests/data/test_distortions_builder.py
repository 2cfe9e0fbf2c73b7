"""Builds `distortions` from real-format fixtures and reads it back with tfds.data_source."""

import collections
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

import dclf.data
from dclf.data.distortions import recipes
from dclf.errors import DataError

import _data_fixtures as fixtures
from _data_helpers import assert_same_examples, read_split

SPLITS = ("train", "validation", "test")


def _build(name, data_dir, manual_dir, **kwargs):
  return dclf.data.build(name, data_dir=str(data_dir), manual_dir=str(manual_dir), **kwargs)


@pytest.fixture(scope="module")
def folder_build(tmp_path_factory, photo_folder):
  data_dir = tmp_path_factory.mktemp("folder_build")
  info = _build("distortions/blur_noise", data_dir, photo_folder, workers=2)
  return data_dir, info


def test_folder_build_splits_balance_and_leaks(folder_build):
  data_dir, info = folder_build
  total_sources = fixtures.GOOD_PHOTOS + 6  # 8 awkward files, 2 of them unreadable
  assert info.metadata["sources_skipped"] == fixtures.BAD_SKIPPED
  assert info.metadata["sources_converted"] == fixtures.BAD_CONVERTED
  used = info.metadata["sources_used"]
  assert sum(used.values()) == total_sources
  ids_by_split = {}
  for split in SPLITS:
    examples = read_split("distortions/blur_noise", split, data_dir)
    assert info.splits[split].num_examples == len(examples) == 3 * used[split]
    labels = collections.Counter(int(ex["label"]) for ex in examples)
    assert labels == {0: used[split], 1: used[split], 2: used[split]}
    ids_by_split[split] = {ex["source_id"] for ex in examples}
  assert not ids_by_split["train"] & ids_by_split["validation"]
  assert not ids_by_split["train"] & ids_by_split["test"]
  assert not ids_by_split["validation"] & ids_by_split["test"]
  assert "tensorflow" not in sys.modules


def test_features_and_severities(folder_build):
  data_dir, info = folder_build
  assert info.features["label"].names == ["reference", "blur", "noise"]
  for ex in read_split("distortions/blur_noise", "train", data_dir):
    assert ex["image"].shape == (224, 224, 3) and ex["image"].dtype == np.uint8
    name = ex["distortion"].decode()
    assert info.features["label"].int2str(ex["label"]) == name
    assert all(info.features[key].np_dtype == np.float32 for key in ("radius", "amount", "density"))
    if name == "blur":
      assert 1 <= ex["radius"] < 11 and ex["amount"] == ex["density"] == 0
    elif name == "noise":
      assert 1 <= ex["amount"] <= 26 and 0.1 <= ex["density"] < 1.1 and ex["radius"] == 0
    else:
      assert ex["radius"] == ex["amount"] == ex["density"] == 0


def test_builds_are_identical_whatever_the_worker_count(folder_build, tmp_path, photo_folder):
  data_dir, _ = folder_build
  _build("distortions/blur_noise", tmp_path, photo_folder, workers=1)
  for split in SPLITS:
    assert_same_examples(
      read_split("distortions/blur_noise", split, data_dir),
      read_split("distortions/blur_noise", split, tmp_path),
    )


def test_imagenet_tar_build_with_num_sources(tmp_path, imagenet_dir):
  info = _build("distortions/six_distortions", tmp_path, imagenet_dir, num_sources=7, workers=1)
  assert info.metadata["num_sources"] == 7
  assert info.metadata["sources_used"] == {"train": 5, "validation": 1, "test": 1}
  assert {name: split.num_examples for name, split in info.splits.items()} == {"train": 35, "validation": 7, "test": 7}
  assert info.features["label"].names == list(recipes.SIX_DISTORTIONS_CLASSES)
  examples = read_split("distortions/six_distortions", "train", tmp_path)
  assert all(ex["source_id"].decode().startswith("n014") for ex in examples)
  blur = [ex for ex in examples if ex["distortion"] == b"gaussian_blur"]
  assert all(ex["radius"] == 10 for ex in blur)


def test_multilabel_features(tmp_path, imagenet_dir):
  info = _build("distortions/blur_noise_multilabel", tmp_path, imagenet_dir, num_sources=4, workers=1)
  assert info.features["label"].names == list(recipes.MULTILABEL_CLASSES)
  for ex in read_split("distortions/blur_noise_multilabel", "train", tmp_path):
    expected = {"reference": [0, 0], "blur": [1, 0], "noise": [0, 1], "blur_and_noise": [1, 1]}
    assert ex["labels"].dtype == np.uint8
    assert ex["labels"].tolist() == expected[ex["distortion"].decode()]
    assert ex["order"].decode() in {"", "blur", "noise", "blur,noise", "noise,blur"}


def test_missing_or_empty_manual_dir_fails_before_any_work(tmp_path):
  for manual in (tmp_path / "absent", tmp_path / "empty"):
    (tmp_path / "empty").mkdir(exist_ok=True)
    with pytest.raises(DataError) as raised:
      _build("distortions/blur_noise", tmp_path / "data", manual)
    assert "ILSVRC2012_img_train.tar" in str(raised.value)
  assert not list((tmp_path / "data").glob("distortions/blur_noise/*"))


def test_tfds_builder_reads_the_build(folder_build):
  data_dir, _ = folder_build
  builder = tfds.builder("distortions/blur_noise", data_dir=str(data_dir))
  assert builder.is_prepared() and builder.info.file_format.value == "array_record"
  assert len(tfds.data_source("distortions/blur_noise", data_dir=str(data_dir), split="test")) > 0


def test_rebuild_reuses_and_refuses_another_size(folder_build, photo_folder):
  data_dir, info = folder_build
  again = _build("distortions/blur_noise", data_dir, photo_folder)
  assert again.splits["train"].num_examples == info.splits["train"].num_examples
  with pytest.raises(DataError, match="already built .* with num_sources=66666"):
    _build("distortions/blur_noise", data_dir, photo_folder, num_sources=5)
