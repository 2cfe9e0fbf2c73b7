"""The reading API the trainer uses: get_source, class_names, DataError, tfds registration."""

import sys

import pytest
import tensorflow_datasets as tfds

import dclf.data
from dclf.errors import DataError


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("sample")
  dclf.data.build("distortions/blur_noise_sample", data_dir=str(data_dir), num_sources=9, workers=1)
  return data_dir


def test_get_source_reads_a_split(sample_dir):
  source, info = dclf.data.get_source("distortions/blur_noise_sample", "train", data_dir=str(sample_dir))
  assert len(source) == info.splits["train"].num_examples == 21
  example = source[0]
  assert example["image"].shape == (224, 224, 3)
  assert set(example) == {"image", "label", "distortion", "radius", "amount", "density", "source_id"}
  sliced, _ = dclf.data.get_source("distortions/blur_noise_sample", "train[:5]", data_dir=str(sample_dir))
  assert len(sliced) == 5
  assert "tensorflow" not in sys.modules


def test_builders_are_registered_with_tfds(sample_dir):
  sources = tfds.data_source("distortions/blur_noise_sample", data_dir=str(sample_dir))
  assert set(sources) == {"train", "validation", "test"}
  assert tfds.builder("live_iqa/blur_noise", data_dir=str(sample_dir)).info.features["label"].num_classes == 3


def test_build_if_missing_builds_sample_configs(tmp_path, monkeypatch):
  _, config = dclf.data.catalog.parse("distortions/blur_noise_sample")
  monkeypatch.setattr(config, "num_sources", 9)
  source, info = dclf.data.get_source(
    "distortions/blur_noise_sample", "test", data_dir=str(tmp_path), build_if_missing=True
  )
  assert len(source) == 3 and info.metadata["num_sources"] == 9


def test_not_built_errors_say_how_to_build(tmp_path):
  with pytest.raises(DataError, match="python -m dclf.data build distortions/blur_noise_sample"):
    dclf.data.get_source("distortions/blur_noise_sample", "train", data_dir=str(tmp_path))
  with pytest.raises(DataError) as raised:
    dclf.data.get_source("live_iqa/blur_noise", "test", data_dir=str(tmp_path), build_if_missing=True)
  assert "--manual_dir" in raised.value.message and "UT Austin" not in raised.value.message
  assert "live.ece.utexas.edu" in raised.value.instructions


def test_unknown_names_and_splits_list_the_valid_ones(sample_dir):
  with pytest.raises(DataError, match="known: distortions/blur_noise, "):
    dclf.data.get_source("distortions/nope", "train")
  with pytest.raises(DataError, match="valid: train, validation, test"):
    dclf.data.get_source("distortions/blur_noise_sample", "dev", data_dir=str(sample_dir))
  with pytest.raises(DataError, match="unknown dataset 'mnist'"):
    dclf.data.class_names("mnist")


def test_class_names_need_no_build():
  assert dclf.data.class_names("distortions/blur_noise") == ["reference", "blur", "noise"]
  assert dclf.data.class_names("distortions") == ["reference", "blur", "noise"]
  assert dclf.data.class_names("live_iqa/blur_noise_pad_resize") == ["reference", "blur", "noise"]
  assert dclf.data.class_names("distortions/six_distortions_sample") == [
    "reference",
    "gaussian_blur",
    "motion_blur",
    "color_noise",
    "mono_noise",
    "marble",
    "twirl",
  ]
  assert dclf.data.class_names("distortions/blur_noise_multilabel")[-1] == "blur_and_noise"


def test_data_dir_none_means_tfds_default(tmp_path, monkeypatch):
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
  monkeypatch.setattr(tfds.core.constants, "DATA_DIR", str(tmp_path))
  with pytest.raises(DataError, match=f"not built in {tmp_path}"):
    dclf.data.get_source("distortions/blur_noise_sample", "train")
