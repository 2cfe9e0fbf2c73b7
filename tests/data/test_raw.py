"""The raw copy of a built dataset (`dclf.data.raw`, `python -m dclf.data convert-raw`): the same
examples as the PNG build, bit for bit; a killed or stale conversion never reads as complete."""

import json
import shutil

import numpy as np
import pytest

import dclf.data
from dclf.data import __main__ as data_cli
from dclf.data import building, raw, raw_writer
from dclf.data.builder_base import exclusive
from dclf.errors import DataError

from _data_helpers import NAME, kill_when_written, private_copy, version_dir
from _runs import assert_one_line_error, run_main, start_module

MULTILABEL = "distortions/blur_noise_multilabel_sample"
KEYS = ("image", "label", "radius", "amount", "density", "distortion", "source_id")


def _identical(a: dict, b: dict) -> None:
  assert a.keys() == b.keys()
  for key in a:
    assert type(a[key]) is type(b[key]), key
    if isinstance(a[key], np.ndarray):
      assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
      np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    else:
      assert a[key] == b[key], key


def test_every_example_equals_the_png_build(converted):
  for split in ("train", "validation", "test"):
    png, _ = dclf.data.get_source(NAME, split, str(converted), data_format="tfds")
    copy, _ = dclf.data.get_source(NAME, split, str(converted), data_format="raw")
    assert isinstance(copy, raw.RawSource) and len(copy) == len(png) > 0
    for index in range(len(png)):
      _identical(png[index], copy[index])
  assert raw_writer.verify(building.require_built(NAME, str(converted)), log=lambda _: None) == 108


def test_gather_is_the_stack_of_the_examples(converted):
  copy, _ = dclf.data.get_source(NAME, "train[-10:]+validation[:5]", str(converted), data_format="raw")
  png, _ = dclf.data.get_source(NAME, "train[-10:]+validation[:5]", str(converted), data_format="tfds")
  indices = [14, 0, 9, 10, 3, 3]
  batch = copy.gather(indices, KEYS)
  for key in KEYS:
    stacked = np.stack([png[i][key] for i in indices])
    assert batch[key].dtype == stacked.dtype, key
    np.testing.assert_array_equal(batch[key], stacked, err_msg=key)
  assert batch["image"].ctypes.data % raw.ALIGNMENT == 0  # device_put aliases it on CPU
  crops = copy.gather(indices[:2], ("image",), crops=[(0, 5), (20, 1)], crop_size=64)["image"]
  np.testing.assert_array_equal(crops[1], png[0]["image"][20:84, 1:65])


def test_data_format_auto_reads_the_raw_copy_when_there_is_one(built, converted):
  assert isinstance(dclf.data.get_source(NAME, "test", str(converted), data_format="auto")[0], raw.RawSource)
  assert not isinstance(dclf.data.get_source(NAME, "test", str(built), data_format="auto")[0], raw.RawSource)
  with pytest.raises(DataError, match=f"no raw copy.*convert-raw {NAME} --data_dir"):
    dclf.data.get_source(NAME, "test", str(built), data_format="raw")
  with pytest.raises(DataError, match="unknown data format 'npy'"):
    dclf.data.get_source(NAME, "test", str(built), data_format="npy")


def test_a_sample_built_on_first_use_is_converted_on_first_use(tmp_path):
  source, _ = dclf.data.get_source(NAME, "train", str(tmp_path), build_if_missing=True, data_format="raw")
  assert isinstance(source, raw.RawSource) and (version_dir(tmp_path) / "raw" / "manifest.json").exists()


def test_multilabel_targets(tmp_path):
  dclf.data.build(MULTILABEL, data_dir=str(tmp_path), num_sources=9, workers=1)
  raw_writer.convert(building.require_built(MULTILABEL, str(tmp_path)), workers=1, log=lambda _: None)
  png, _ = dclf.data.get_source(MULTILABEL, "train", str(tmp_path), data_format="tfds")
  copy, _ = dclf.data.get_source(MULTILABEL, "train", str(tmp_path), data_format="raw")
  for index in range(len(png)):
    _identical(png[index], copy[index])
  labels = copy.gather(range(4), ("image", "labels"))["labels"]
  assert labels.dtype == np.uint8 and labels.shape == (4, 2)


def test_killed_conversion_is_not_complete_and_is_redone(built, tmp_path):
  """SIGKILL while the train split is being decoded: only `raw.incomplete-*` remains, which no
  reader takes for a copy; the next conversion removes it and writes the copy."""
  data_dir = private_copy(built, tmp_path)
  version = version_dir(data_dir)
  conversion = start_module("dclf.data", "convert-raw", NAME, "--data_dir", data_dir, "--workers", 1)
  kill_when_written(conversion, version, "raw.incomplete-*/train.image.npy", poll_s=0.005)
  assert list(version.glob("raw.incomplete-*")) and not (version / "raw").exists()
  with pytest.raises(DataError, match="no raw copy"):
    dclf.data.get_source(NAME, "train", data_dir, data_format="raw")
  assert not isinstance(dclf.data.get_source(NAME, "train", data_dir, data_format="auto")[0], raw.RawSource)

  code, out, err = run_main(data_cli.main, "convert-raw", NAME, "--data_dir", data_dir, "--workers", 1)
  assert code == 0, err
  assert "108 examples" in out and "150," in out  # bytes per example
  assert not list(version.glob("raw.incomplete-*"))
  assert raw_writer.verify(building.require_built(NAME, data_dir), every=5, log=lambda _: None) == 23


def test_a_build_and_a_conversion_of_one_config_exclude_each_other(built, tmp_path):
  """A conversion reads the build a rebuild replaces: while a build holds the config's lock, a
  conversion is refused with one line (and the other way round), and nothing is written."""
  data_dir = private_copy(built, tmp_path)
  version = version_dir(data_dir)
  with exclusive(version.parent, "busy"), pytest.raises(DataError, match="another process is building or converting"):
    raw_writer.convert(building.require_built(NAME, data_dir), workers=1, log=lambda _: None)
  assert not (version / "raw").exists() and not list(version.glob("raw.incomplete-*"))
  shutil.rmtree(version)
  with exclusive(version.parent, "busy"), pytest.raises(DataError, match="another process is building or converting"):
    dclf.data.build(NAME, data_dir=data_dir, num_sources=36, workers=1)
  assert not version.exists()


def test_a_copy_of_another_build_is_refused_then_replaced(converted, tmp_path):
  data_dir = private_copy(converted, tmp_path)
  info = version_dir(data_dir) / "dataset_info.json"
  info.write_text(json.dumps({**json.loads(info.read_text()), "description": "rebuilt"}))
  with pytest.raises(DataError, match=f"made from another build.*convert-raw {NAME}"):
    dclf.data.get_source(NAME, "train", data_dir, data_format="auto")
  messages = []
  raw_writer.convert(building.require_built(NAME, data_dir), workers=1, log=messages.append)
  assert "replacing it" in messages[0]
  assert isinstance(dclf.data.get_source(NAME, "train", data_dir, data_format="raw")[0], raw.RawSource)


def test_verify_finds_a_changed_pixel(converted, tmp_path):
  data_dir = private_copy(converted, tmp_path)
  images = np.load(version_dir(data_dir) / "raw" / "validation.image.npy", mmap_mode="r+")
  images[3, 100, 100, 0] ^= 1
  images.flush()
  code, _, err = run_main(data_cli.main, "verify-raw", NAME, "--data_dir", data_dir, "--split", "validation")
  assert_one_line_error(code, err)
  assert "validation[3]: image differ" in err


@pytest.mark.parametrize(
  "args, message",
  [
    (("convert-raw", "distortions/nope"), "unknown dataset"),
    (("convert-raw", "distortions/blur_noise"), "is not built"),
    (("convert-raw", NAME, "--workers", "-1"), "--workers must be >= 0"),
    (("convert-raw", NAME, "--workers", "two"), "invalid int value"),
    (("verify-raw", NAME, "--split", "bogus"), "bogus"),
    (("verify-raw", NAME, "--every", "0"), "--every must be >= 1"),
  ],
)
def test_bad_input_is_one_error_line(converted, args, message):
  """(A dataset that needs a download adds the instructions after its error line, as `build` does.)"""
  code, _, err = run_main(data_cli.main, *args, "--data_dir", converted)
  if "is not built" in message:
    first, instructions = err.split("\n", 1)
    assert code == 2 and first.startswith("error: ") and message in first and "manual_dir" in instructions
  else:
    assert message in assert_one_line_error(code, err)
