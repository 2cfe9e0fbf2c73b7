"""The distortions builder under Apache Beam (DirectRunner) writes the same array_record data."""

import sys

import pytest

apache_beam = pytest.importorskip(
  "apache_beam", reason="apache-beam is not installed (pip install 'dclf[beam]'): Beam build untested"
)

import dclf.data  # noqa: E402

import _data_fixtures as fixtures  # noqa: E402
from _data_helpers import assert_same_examples, read_split  # noqa: E402


def test_beam_build_equals_local_build(tmp_path, photo_folder):
  name = "distortions/blur_noise"
  local = dclf.data.build(name, data_dir=str(tmp_path / "local"), manual_dir=str(photo_folder), workers=1)
  beam = dclf.data.build(
    name,
    data_dir=str(tmp_path / "beam"),
    manual_dir=str(photo_folder),
    beam_pipeline_options="runner=DirectRunner,direct_num_workers=1",
  )
  assert beam.file_format.value == "array_record"
  assert {s: beam.splits[s].num_examples for s in beam.splits} == {
    s: local.splits[s].num_examples for s in local.splits
  }
  assert beam.metadata["sources_skipped"] == fixtures.BAD_SKIPPED
  assert beam.metadata["sources_converted"] == fixtures.BAD_CONVERTED
  assert beam.metadata["sources_used"] == local.metadata["sources_used"]
  for split in ("train", "validation", "test"):
    assert_same_examples(read_split(name, split, tmp_path / "local"), read_split(name, split, tmp_path / "beam"))
  assert "tensorflow" not in sys.modules
