"""Session-scoped inputs of the data tests, written once in the real formats; no TensorFlow."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

import _data_fixtures as fixtures
from _data_helpers import NAME


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory) -> Path:
  return fixtures.write_photo_folder(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="session")
def imagenet_dir(tmp_path_factory) -> Path:
  root = tmp_path_factory.mktemp("imagenet")
  fixtures.write_imagenet_tar(root / "ILSVRC2012_img_train.tar", {"n01440764": 4, "n01443537": 3, "n01484850": 5})
  return root


@pytest.fixture(scope="session")
def live_dir(tmp_path_factory) -> Path:
  root = tmp_path_factory.mktemp("live")
  fixtures.write_live_release(root)
  return root


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
  """blur_noise_sample from 36 windows (84 train, 12 validation, 12 test examples), PNG build only."""
  import dclf.data  # pylint: disable=g-import-not-at-top  (tfds takes seconds to import)

  data_dir = tmp_path_factory.mktemp("tfds")
  dclf.data.build(NAME, data_dir=str(data_dir), num_sources=36, workers=1)
  return data_dir


@pytest.fixture(scope="session")
def converted(built, tmp_path_factory) -> Path:
  """`built` and its raw copy."""
  from dclf.data import building, raw_writer  # pylint: disable=g-import-not-at-top

  data_dir = tmp_path_factory.mktemp("tfds_raw")
  shutil.copytree(built, data_dir, dirs_exist_ok=True)
  raw_writer.convert(building.require_built(NAME, str(data_dir)), workers=2, log=lambda _: None)
  return data_dir


@pytest.fixture(autouse=True)
def _no_tensorflow():
  yield
  assert "tensorflow" not in sys.modules
