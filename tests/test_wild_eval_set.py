"""benchmarks/wild_eval_set.py: byte-for-byte the same set on every run, a folder per class and a
labels file that agree, and photos that no training set holds."""

import csv
import hashlib
import importlib.util

import numpy as np
import pytest
from PIL import Image

from dclf.data import sample_photos

from _runs import REPO, assert_one_line_error, run_main

SCRIPT = REPO / "benchmarks" / "wild_eval_set.py"


def _load_script():
  spec = importlib.util.spec_from_file_location("wild_eval_set", SCRIPT)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


wild_eval_set = _load_script()


def _files(folder) -> dict[str, bytes]:
  return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
  out = tmp_path_factory.mktemp("wild") / "set"
  code, stdout, stderr = run_main(wild_eval_set.main, out)
  assert code == 0, stderr
  assert "wrote 120 images" in stdout
  return out


def test_two_runs_write_the_same_bytes(written, tmp_path):
  code, _, stderr = run_main(wild_eval_set.main, tmp_path / "again")
  assert code == 0, stderr
  first, second = _files(written), _files(tmp_path / "again")
  assert first.keys() == second.keys() and len(first) == 121
  assert [name for name in first if first[name] != second[name]] == []
  assert not list(tmp_path.glob(".*partial"))  # the staging folder was renamed, nothing left beside


def test_labels_file_names_every_image_in_its_class_folder(written):
  with open(written / "labels.csv") as file:
    rows = list(csv.DictReader(file))
  assert sorted(p.relative_to(written).as_posix() for p in written.rglob("*.*") if p.name != "labels.csv") == [
    row["path"] for row in rows
  ]
  counts = {label: sum(row["label"] == label for row in rows) for label in wild_eval_set.CLASSES}
  assert counts == {"reference": 24, "blur": 48, "noise": 48}
  for row in rows:
    assert row["path"].startswith(f"{row['label']}/")
    if row["scale"] == "224":
      assert (row["width"], row["height"]) == ("224", "224")
  noisy = [row for row in rows if row["generator"] == "numpy_gaussian" and row["photo"] == "camera"]
  clean = np.asarray(wild_eval_set.load_photo("camera"), np.float64)
  for row in noisy:  # the noise it says, at the severity it says
    if row["scale"] == "own":
      residual = np.asarray(Image.open(written / row["path"]), np.float64) - clean
      assert abs(residual[(clean > 40) & (clean < 215)].std() - float(row["severity"])) < 1


def test_an_existing_folder_is_left_alone(tmp_path):
  (tmp_path / "keep.txt").write_text("mine")
  code, _, stderr = run_main(wild_eval_set.main, tmp_path)
  assert_one_line_error(code, stderr)
  assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def _fingerprints(photo: np.ndarray) -> tuple[str, bytes]:
  """Exact pixels, and a coarse 16x16 grey thumbnail (the same photo re-encoded or recoloured)."""
  grey = photo.astype(np.float64).mean(axis=2)
  h, w = grey.shape
  thumb = grey[: h - h % 16, : w - w % 16].reshape(16, h // 16, 16, w // 16).mean(axis=(1, 3))
  return hashlib.sha256(photo.tobytes()).hexdigest(), np.round(thumb / 32).astype(np.uint8).tobytes()


def test_no_training_photo_is_an_evaluation_photo():
  evaluation = {name: _fingerprints(wild_eval_set.load_photo(name)) for name in wild_eval_set.PHOTOS}
  assert not set(evaluation) & set(sample_photos.ALL_PHOTOS)
  for name in sample_photos.ALL_PHOTOS:
    exact, thumb = _fingerprints(sample_photos.load_photo(name))
    for other, (other_exact, other_thumb) in evaluation.items():
      assert exact != other_exact and thumb != other_thumb, f"training photo {name} is evaluation photo {other}"
