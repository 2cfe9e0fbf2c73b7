"""The batches training and evaluation read: the same for every data format, worker count and
resume, in the order grain's per-example sampler gave dclf's runs before batches became the unit."""

import json
import time

import grain
import jax
import numpy as np
import pytest

import dclf.data
from dclf import input_pipeline
from dclf.data import building, raw_writer
from dclf.errors import UsageError
from dclf.prefetch import DeviceBatches

SAMPLE = "distortions/blur_noise_sample"


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict:
  """The train split (42 examples) of an 18-window blur_noise_sample: PNG build and raw copy."""
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  dclf.data.build(SAMPLE, data_dir=data_dir, num_sources=18, workers=1)
  raw_writer.convert(building.require_built(SAMPLE, data_dir), workers=1, log=lambda _: None)
  return {fmt: dclf.data.get_source(SAMPLE, "train", data_dir, data_format=fmt)[0] for fmt in ("tfds", "raw")}


def _same_batches(left, right) -> None:
  for a, b in zip(left, right, strict=True):
    assert a.keys() == b.keys()
    for key in a:
      assert a[key].dtype == b[key].dtype, key
      np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def _take(loader, count: int) -> list[dict]:
  batches = [next(loader) for _ in range(count)]
  loader.close()
  return batches


class _GrainSelect(grain.transforms.Map):
  def map(self, element):
    return {key: element[key] for key in input_pipeline.MODEL_KEYS}


class _GrainRandomCrop(grain.transforms.RandomMap):
  """How dclf cropped each example with grain's per-example generator before batches were records."""

  def __init__(self, size: int):
    self._size = size

  def random_map(self, element, rng):
    top = rng.integers(element["image"].shape[0] - self._size + 1)
    left = rng.integers(element["image"].shape[1] - self._size + 1)
    return {**element, "image": element["image"][top : top + self._size, left : left + self._size]}


def _per_example_grain_batches(source, batch_size: int, seed: int, crop: int, count: int) -> list[dict]:
  """The reference: grain's DataLoader over single examples (IndexSampler's endless shuffled order,
  per-example crops, grain's Batch), as dclf's loader was until batches became its records."""
  ops = [_GrainSelect()] + ([_GrainRandomCrop(crop)] if crop else []) + [grain.transforms.Batch(batch_size)]
  sampler = grain.samplers.IndexSampler(len(source), shuffle=True, num_epochs=None, seed=seed)
  loader = grain.DataLoader(data_source=source, sampler=sampler, operations=ops, worker_count=0)
  iterator = iter(loader)
  return [next(iterator) for _ in range(count)]


@pytest.mark.parametrize("crop", [0, 100])
def test_png_and_raw_batches_are_grains_per_example_batches(sources, crop):
  """8 batches of 8 from 42 examples: two epochs, each reshuffled."""
  kwargs = {"global_batch_size": 8, "seed": 3, "workers": 0, "crop_size": crop}
  reference = _per_example_grain_batches(sources["tfds"], 8, 3, crop, 8)
  _same_batches(reference, _take(input_pipeline.train_loader(sources["tfds"], **kwargs), 8))
  _same_batches(reference, _take(input_pipeline.train_loader(sources["raw"], **kwargs), 8))


def test_worker_processes_give_the_same_batches_and_resume_across_counts(sources):
  """Pitfall of per-example loaders: grain hands worker i the examples i, i + W, ... *before*
  batching, so batches depended on the worker count. Workers here read whole batches."""
  kwargs = {"global_batch_size": 8, "seed": 1, "crop_size": 64}
  in_process = _take(input_pipeline.train_loader(sources["tfds"], workers=0, **kwargs), 7)
  loader = input_pipeline.train_loader(sources["tfds"], workers=2, **kwargs)
  _same_batches(in_process[:4], [next(loader) for _ in range(4)])
  state = loader.state()
  loader.close()
  assert json.loads(state)["next_batch"] == 4
  resumed = input_pipeline.train_loader(sources["raw"], workers=0, state=state, **kwargs)
  _same_batches(in_process[4:], _take(resumed, 3))


def test_resume_mid_epoch_on_the_raw_copy_gives_the_uninterrupted_batches(sources):
  kwargs = {"global_batch_size": 8, "seed": 0, "workers": 0, "crop_size": 32}
  uninterrupted = _take(input_pipeline.train_loader(sources["raw"], **kwargs), 9)
  first = input_pipeline.train_loader(sources["raw"], **kwargs)
  _take(first, 3)  # 24 of 42 examples: mid-epoch
  _same_batches(uninterrupted[3:], _take(input_pipeline.train_loader(sources["raw"], state=first.state(), **kwargs), 6))


def test_a_position_saved_by_the_per_example_grain_loader_resumes(sources):
  """Checkpoints written before batches became records hold grain's DataLoader state; 40 examples
  read in one process = 5 batches of 8, and with 2 workers (16 + 16 examples) = 4."""
  old = {"version": 2, "last_worker_index": -1, "data_source": "ArrayRecordDataSource(...)"}
  sampler = "GlobalBatchSampler(42, global_batch_size=8, seed=3, process=0/1)"
  in_process = json.dumps({**old, "last_seen_indices": {"0": 39}, "worker_count": 0, "sampler": sampler})
  two_workers = json.dumps({**old, "last_seen_indices": {"0": 30, "1": 31}, "worker_count": 2, "sampler": sampler})
  batches = input_pipeline.TrainBatches(sources["raw"], 8, seed=3)
  assert input_pipeline.start_batch(in_process.encode(), batches) == 5
  assert input_pipeline.start_batch(two_workers.encode(), batches) == 4
  resumed = input_pipeline.train_loader(sources["raw"], global_batch_size=8, seed=3, workers=0, state=in_process)
  _same_batches([batches[5]], _take(resumed, 1))
  with pytest.raises(UsageError, match="seed=3, this run has 4"):
    input_pipeline.train_loader(sources["raw"], global_batch_size=8, seed=4, workers=0, state=in_process)


def test_device_batches_record_the_consumed_position_not_the_read_ahead(sources):
  kwargs = {"global_batch_size": 8, "seed": 1, "workers": 0}
  expected = _take(input_pipeline.train_loader(sources["raw"], **kwargs), 3)
  data_state = input_pipeline.DataState()
  batches = DeviceBatches(input_pipeline.train_loader(sources["raw"], **kwargs), jax.device_put, data_state, depth=4)
  time.sleep(0.5)  # the thread reads ahead
  for k, want in enumerate(expected, start=1):
    got = jax.device_get(next(batches))  # int64 labels arrive as int32 (jax without x64)
    jax.tree.map(np.testing.assert_array_equal, got, want)
    assert json.loads(data_state.get_state())["next_batch"] == k
  batches.close()


def test_device_batches_raise_the_loaders_error_in_the_trainers_thread():
  class Broken:
    def __len__(self):
      return 10

    def __getitem__(self, index):
      raise OSError(f"cannot read example {index}")

  loader = input_pipeline.train_loader(Broken(), global_batch_size=2, seed=0, workers=0)
  batches = DeviceBatches(loader, jax.device_put, input_pipeline.DataState())
  for _ in range(2):  # and every later call
    with pytest.raises(OSError, match="cannot read example"):
      next(batches)
  batches.close()


@pytest.mark.parametrize("workers", [0, 1])
def test_eval_batches_are_the_same_for_both_formats(sources, workers):
  png = list(input_pipeline.eval_batches(sources["tfds"], batch_size=16, workers=workers))
  copy = list(input_pipeline.eval_batches(sources["raw"], batch_size=16, workers=0))
  _same_batches(png, copy)
  assert [int(b["mask"].sum()) for b in copy] == [16, 16, 10]


def test_auto_workers():
  raw_like = type("Batched", (), {"gather": None})()
  assert input_pipeline.resolve_workers(-1, raw_like) == 0
  expected = max(0, min(input_pipeline.host_cores() - 2, input_pipeline.MAX_AUTO_WORKERS))
  assert input_pipeline.resolve_workers(-1, [1, 2, 3]) == expected
  assert input_pipeline.resolve_workers(3, raw_like) == 3
  with pytest.raises(UsageError, match="data_workers"):
    input_pipeline.resolve_workers(-2, raw_like)


def test_input_bound_remedies_fit_the_source():
  convert = "python -m dclf.data convert-raw distortions/blur_noise"
  assert "convert-raw distortions/blur_noise, then --config.data_format=raw" in input_pipeline.input_bound_remedies(
    [1, 2], 4, convert
  )
  on_raw = input_pipeline.input_bound_remedies(type("Batched", (), {"gather": None})(), 0, convert)
  assert "convert-raw" not in on_raw and "--config.data_workers, 0 now" in on_raw and "prefetch_batches" in on_raw
