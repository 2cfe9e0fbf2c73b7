"""Shared, session-scoped inputs (written once) and small build helpers for the data tests."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import dclf.data
from tests.data import fixtures

REPO_ROOT = Path(__file__).resolve().parents[2]


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


def read_split(name: str, split: str, data_dir: Path) -> list[dict]:
    source, _ = dclf.data.get_source(name, split, data_dir=str(data_dir))
    return [source[index] for index in range(len(source))]


def by_key(examples: list[dict]) -> dict[tuple[str, str], dict]:
    return {(ex["source_id"].decode(), ex["distortion"].decode()): ex for ex in examples}


def assert_same_examples(left: list[dict], right: list[dict]) -> None:
    left_by_key, right_by_key = by_key(left), by_key(right)
    assert left_by_key.keys() == right_by_key.keys()
    for key, example in left_by_key.items():
        other = right_by_key[key]
        assert example.keys() == other.keys()
        for feature, value in example.items():
            np.testing.assert_array_equal(value, other[feature], err_msg=f"{key} {feature}")


@pytest.fixture(autouse=True)
def _no_tensorflow():
    yield
    assert "tensorflow" not in sys.modules
