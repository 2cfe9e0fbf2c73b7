"""A damaged PNG build (`dclf.data.png_build`): every command that reads it says so in one line
naming the file (and the record) and how to build it again, where they ended with `internal error:
RuntimeError: Corrupted Riegeli/records file ...`, `OSError: broken data stream ...`, `DecodeError`
or `ParseError`, and `build` said the build was done."""

import json
import os
import re
from pathlib import Path

import pytest
from array_record.python import array_record_module

import dclf.data
from dclf.data import __main__ as data_cli
from dclf.data import building, png_build
from dclf.errors import DataError, UsageError

from _data_helpers import NAME, error_line, private_copy, version_dir
from _runs import assert_one_line_error, run_main, tiny_config

TRAIN_SHARD = "distortions-train.array_record-00000-of-00001"


def _rewrite_records(shard: Path, edit) -> None:
  """Writes `shard` again, in array_record's format with the options it was written with, its
  records passed through `edit(index, record)`."""
  reader = array_record_module.ArrayRecordReader(str(shard))
  options, records = reader.writer_options_string(), reader.read(list(range(reader.num_records())))
  reader.close()
  writer = array_record_module.ArrayRecordWriter(str(shard), options)
  for index, record in enumerate(records):
    writer.write(edit(index, record))
  writer.close()


def _corrupt_png(index: int, record: bytes) -> bytes:
  """Record 3's PNG with 200 bytes of its compressed pixels flipped: a valid record of a valid
  shard, whose image does not decode."""
  if index != 3:
    return record
  png = record.find(b"\x89PNG")
  return record[: png + 200] + bytes(b ^ 0x55 for b in record[png + 200 : png + 400]) + record[png + 400 :]


def _set_train_count(folder: Path, count: int) -> None:
  path = folder / "dataset_info.json"
  info = json.loads(path.read_text())
  next(s for s in info["splits"] if s["name"] == "train")["shardLengths"] = [str(count)]
  path.write_text(json.dumps(info))


SHARD_DAMAGES = {  # what is done to the build, what the error line says
  "missing": (lambda v: (v / TRAIN_SHARD).unlink(), f"{TRAIN_SHARD} is missing"),
  "truncated": (lambda v: os.truncate(v / TRAIN_SHARD, 1_000_000), f"{TRAIN_SHARD} cannot be read (RuntimeError: "),
  "empty": (lambda v: os.truncate(v / TRAIN_SHARD, 0), f"{TRAIN_SHARD} cannot be read (RuntimeError: "),
  "other count": (lambda v: _set_train_count(v, 100), f"{TRAIN_SHARD} holds 84 records, not 100"),
  "no dataset_info.json": (lambda v: (v / "dataset_info.json").unlink(), "it has no dataset_info.json"),
  "dataset_info.json garbage": (
    lambda v: (v / "dataset_info.json").write_text("{not json"),
    "its dataset_info.json cannot be read (ParseError: ",
  ),
}


@pytest.mark.parametrize("damage", SHARD_DAMAGES)
def test_a_damaged_build_is_one_line_before_any_work(built, tmp_path, damage):
  """Found when a split is opened (each shard's footer, no record read): reading it, converting it
  and building it again all stop at once, naming the file and the fix."""
  data_dir = private_copy(built, tmp_path)
  damage_build, message = SHARD_DAMAGES[damage]
  damage_build(version_dir(data_dir))
  expected = f"the build of {NAME} in {version_dir(data_dir)} is damaged: {message}"
  fix = f"delete that folder and build it again: python -m dclf.data build {NAME} --data_dir {data_dir}"
  with pytest.raises(DataError) as error:
    dclf.data.get_source(NAME, "train", data_dir, data_format="tfds")
  assert expected in str(error.value) and str(error.value).endswith(fix)
  for command in (["convert-raw", NAME, "--workers", "1"], ["build", NAME, "--num_sources", "36"]):
    code, _, err = run_main(data_cli.main, *command, "--data_dir", data_dir)
    assert expected in assert_one_line_error(code, err), command
  assert sorted(p.name for p in version_dir(data_dir).glob("raw*")) == []


def test_a_record_that_does_not_decode_is_one_line_naming_it(built, tmp_path):
  """A record's PNG that does not decode is found when it is read, in this process or in a worker
  process (convert-raw's), and named with its shard."""
  data_dir = private_copy(built, tmp_path)
  _rewrite_records(version_dir(data_dir) / TRAIN_SHARD, _corrupt_png)
  source, _ = dclf.data.get_source(NAME, "train", data_dir, data_format="tfds")
  assert isinstance(source, png_build.PngSource) and source[2]["image"].shape == (224, 224, 3)
  expected = f"example 3 of 'train' (in {TRAIN_SHARD}) cannot be read (OSError: broken data stream"
  with pytest.raises(DataError, match=f"is damaged: {re.escape(expected)}.*build it again"):
    source[3]
  with pytest.raises(IndexError):  # out of range is not damage
    source[len(source)]
  code, _, err = run_main(data_cli.main, "convert-raw", NAME, "--data_dir", data_dir, "--workers", "2")
  assert code == 2 and expected in error_line(err)
  assert sorted(p.name for p in version_dir(data_dir).glob("raw*")) == []


def test_an_unreadable_metadata_json_is_one_line_when_build_reads_it(built, tmp_path):
  data_dir = private_copy(built, tmp_path)
  (version_dir(data_dir) / "metadata.json").write_text("nope")
  code, _, err = run_main(data_cli.main, "build", NAME, "--data_dir", data_dir, "--num_sources", "36")
  assert "is damaged: its metadata.json cannot be read (JSONDecodeError: " in assert_one_line_error(code, err)


def test_training_at_another_image_size_than_the_datasets_is_one_line(built, tmp_path):
  """softmax (a flatten head) made for 32x32 inputs, fed the dataset's 224x224 images: refused before
  the workdir is touched (it was `internal error: ScopeParamShapeError` at the first step)."""
  from dclf import train  # pylint: disable=g-import-not-at-top  (JAX: only this test needs it)

  config = tiny_config(dataset=NAME, data_dir=str(built), data_format="tfds", num_train_steps=1)
  with pytest.raises(UsageError, match=r"softmax takes 32x32 images \(config.image_size\).* are 224x224"):
    train.train_and_evaluate(config, tmp_path / "run")
  assert not (tmp_path / "run").exists()
  assert building.require_built(NAME, str(built))  # (the build itself is whole)
