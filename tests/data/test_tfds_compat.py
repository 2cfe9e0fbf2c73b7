"""tfds' shuffler spills splits over 1 GB to disk through tf.io.gfile; without TF we patch it."""

import sys

from tensorflow_datasets.core import shuffle

import dclf.data

from _data_helpers import assert_same_examples, read_split


def test_spilled_build_equals_in_memory_build(tmp_path, monkeypatch, imagenet_dir):
  name = "distortions/blur_noise"
  dclf.data.build(name, data_dir=str(tmp_path / "memory"), manual_dir=str(imagenet_dir), num_sources=5, workers=1)
  monkeypatch.setattr(shuffle, "MAX_MEM_BUFFER_SIZE", 1)  # spill after the first example
  dclf.data.build(name, data_dir=str(tmp_path / "disk"), manual_dir=str(imagenet_dir), num_sources=5, workers=1)
  for split in ("train", "validation", "test"):
    in_memory = read_split(name, split, tmp_path / "memory")
    spilled = read_split(name, split, tmp_path / "disk")
    assert_same_examples(in_memory, spilled)
    assert [ex["source_id"] for ex in in_memory] == [ex["source_id"] for ex in spilled]  # same order
  assert "tensorflow" not in sys.modules
