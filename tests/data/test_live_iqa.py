"""Builds `live_iqa` from a full-count LIVE Release 2 fixture (tiny BMPs)."""

import collections
import shutil

import numpy as np
import pytest
import scipy.io

import dclf.data
from dclf.data.live_iqa import layout
from dclf.errors import DataError

from _data_helpers import read_split


@pytest.mark.parametrize("config", ["blur_noise", "blur_noise_pad_resize"])
def test_live_counts_labels_and_size(tmp_path, live_dir, config):
  name = f"live_iqa/{config}"
  info = dclf.data.build(name, data_dir=str(tmp_path), manual_dir=str(live_dir), workers=1)
  assert list(info.splits) == ["test"]
  examples = read_split(name, "test", tmp_path)
  assert len(examples) == 29 + 145 + 145
  names = info.features["label"].names
  assert names == ["reference", "blur", "noise"]
  assert collections.Counter(names[ex["label"]] for ex in examples) == {"reference": 29, "blur": 145, "noise": 145}
  for ex in examples:
    filename = ex["filename"].decode()
    assert ex["image"].shape == (224, 224, 3) and ex["image"].dtype == np.uint8
    folder, image = filename.split("/")
    assert {"refimgs": "reference", "gblur": "blur", "wn": "noise"}[folder] == ex["distortion"].decode()
    if folder == "refimgs":
      assert ex["sigma"] == ex["dmos"] == 0 and ex["reference"].decode() == image
    else:
      number = int(image[3:-4])
      assert number <= 145  # the reference copies img146..174 are skipped
      assert ex["sigma"] == pytest.approx(0.1 * number) and ex["dmos"] == pytest.approx(20 + number / 10)


def test_release_folder_or_its_parent(live_dir):
  release = live_dir / layout.RELEASE_FOLDER
  assert layout.find_release(live_dir) == release == layout.find_release(release)


def test_reference_copies_come_from_orgs_not_numbering(tmp_path, live_dir):
  release = shutil.copytree(live_dir / layout.RELEASE_FOLDER, tmp_path / layout.RELEASE_FOLDER)
  scores = scipy.io.loadmat(release / "dmos.mat")
  wn_start = 227 + 233
  scores["orgs"][0, wn_start + 4] = 1  # wn/img5 flagged as a reference copy
  scipy.io.savemat(release / "dmos.mat", {"dmos": scores["dmos"], "orgs": scores["orgs"]})
  images = layout.list_images(release)
  assert "wn/img5.bmp" not in {image.filename for image in images}
  assert sum(image.label == "noise" for image in images) == 144


def _release_with_wn_info(tmp_path, live_dir, old: str, new: str):
  """A copy of the release whose wn/info.txt has `old` replaced by `new`."""
  release = shutil.copytree(live_dir / layout.RELEASE_FOLDER, tmp_path / layout.RELEASE_FOLDER)
  info = release / "wn" / "info.txt"
  info.write_text(info.read_text().replace(old, new))
  return release


@pytest.mark.parametrize(
  "old,new,message",
  [
    ("ref00.bmp img1.bmp", "ref05.bmp img1.bmp", "img1.bmp comes from ref05.bmp"),
    ("ref00.bmp img1.bmp 0.100000", "ref00.bmp img1.bmp nan", "parameter 'nan' of img1.bmp is not a finite number"),
  ],
)
def test_a_bad_info_txt_line_is_an_error(tmp_path, live_dir, old, new, message):
  with pytest.raises(DataError, match=message):
    layout.list_images(_release_with_wn_info(tmp_path, live_dir, old, new))


def test_info_txt_with_cr_cr_line_ends(live_dir):
  info = layout.read_info(live_dir / layout.RELEASE_FOLDER / "gblur" / "info.txt")
  assert b"\r\r" in (live_dir / layout.RELEASE_FOLDER / "gblur" / "info.txt").read_bytes()
  assert len(info) == 174 and info["img3.bmp"] == ("ref02.bmp", pytest.approx(0.3))


def test_not_a_release_is_a_data_error(tmp_path):
  (tmp_path / "something.txt").write_text("x")
  with pytest.raises(DataError, match="no LIVE release"):
    dclf.data.build("live_iqa/blur_noise", data_dir=str(tmp_path / "data"), manual_dir=str(tmp_path))


@pytest.mark.parametrize("name", ["dmos.mat", "refnames_all.mat"])
def test_a_truncated_or_missing_mat_file_is_a_data_error(tmp_path, live_dir, name):
  release = shutil.copytree(live_dir / layout.RELEASE_FOLDER, tmp_path / layout.RELEASE_FOLDER)
  data = (release / name).read_bytes()
  (release / name).write_bytes(data[: len(data) // 2])
  with pytest.raises(DataError, match=f"cannot read dmos.mat / refnames_all.mat in {release}"):
    layout.read_scores(release)
  (release / name).unlink()
  with pytest.raises(DataError, match=f"LIVE: {release / name} is missing"):
    layout.read_scores(release)


def test_a_manual_dir_that_is_a_file_says_so(tmp_path):
  (tmp_path / "live.zip").write_bytes(b"PK")
  with pytest.raises(DataError, match="manual_dir .*live.zip is a file, not a folder"):
    dclf.data.build("live_iqa/blur_noise", data_dir=str(tmp_path / "data"), manual_dir=str(tmp_path / "live.zip"))
