import tarfile

import pytest

from dclf.data import sources
from dclf.errors import DataError

import _data_fixtures as fixtures


def test_folder_listing_is_recursive_sorted_and_by_suffix(photo_folder):
  refs = sources.find_sources(photo_folder)
  ids = [ref.source_id for ref in refs]
  assert ids == sorted(ids)
  assert len(ids) == fixtures.GOOD_PHOTOS + 8  # every bad file has a photo suffix
  assert "album1/nested/photo01.png" in ids and "notes.txt" not in ids
  assert all(ref.size == -1 for ref in refs)


def test_imagenet_tar_members_are_addressed_by_byte_range(imagenet_dir):
  refs = sources.find_sources(imagenet_dir)
  assert [ref.source_id for ref in refs][:2] == ["n01440764/n01440764_1.JPEG", "n01440764/n01440764_2.JPEG"]
  assert len(refs) == 12
  with tarfile.open(imagenet_dir / sources.IMAGENET_TRAIN_TAR) as outer:
    inner = tarfile.open(fileobj=outer.extractfile("n01443537.tar"))
    expected = inner.extractfile("n01443537_2.JPEG").read()
  ref = next(ref for ref in refs if ref.source_id == "n01443537/n01443537_2.JPEG")
  assert sources.read_bytes(ref) == expected


def test_tar_wins_over_loose_files(imagenet_dir, tmp_path):
  (tmp_path / sources.IMAGENET_TRAIN_TAR).symlink_to(imagenet_dir / sources.IMAGENET_TRAIN_TAR)
  (tmp_path / "loose.jpg").write_bytes(fixtures.encode(fixtures.photo(0), "JPEG"))
  assert all("/" in ref.source_id for ref in sources.find_sources(tmp_path))


def test_a_folder_without_photos_is_a_data_error(tmp_path):
  (tmp_path / "readme.txt").write_text("nothing here")
  with pytest.raises(DataError, match="no photos"):
    sources.find_sources(tmp_path)
