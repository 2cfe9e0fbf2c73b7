"""Session-scoped inputs of the data tests, written once in the real formats; no TensorFlow."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import _data_fixtures as fixtures


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


@pytest.fixture(autouse=True)
def _no_tensorflow():
  yield
  assert "tensorflow" not in sys.modules
