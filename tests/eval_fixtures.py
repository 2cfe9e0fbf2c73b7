"""Session fixtures of the evaluation, report, predict and multi-label tests (a pytest plugin,
registered in conftest.py): tiny dataset builds in one temporary data_dir and runs trained for a
few steps, made once and shared by the tests, which only add evaluation reports to them.

dclf is imported inside the fixtures: test sessions that use none of them do not pay for it.
"""

import sys
from pathlib import Path

import pytest

from _runs import tiny_config

SAMPLE = "distortions/blur_noise_sample"
SAMPLE_SPLITS = {"train": 42, "validation": 6, "test": 6}  # 18 windows (2 per photo) x 3 classes
MULTILABEL_SAMPLE = "distortions/blur_noise_multilabel_sample"
LIVE = "live_iqa/blur_noise"


def few_steps(base: str, **fields):
  """The tests' tiny run of configs/<base>.py for 4 steps; on 224x224 images, trained on random
  32x32 crops unless `fields` say otherwise."""
  return tiny_config(
    base,
    **{
      "image_size": 224,
      "train_crop_size": 32,
      "num_train_steps": 4,
      "log_every_steps": 2,
      "checkpoint_every_steps": 4,
      **fields,
    },
  )


def _build(name: str, data_dir: Path, **kwargs) -> None:
  import dclf.data  # pylint: disable=g-import-not-at-top

  dclf.data.build(name, data_dir=str(data_dir), workers=1, **kwargs)


def _train(config, workdir: Path) -> Path:
  from dclf import train  # pylint: disable=g-import-not-at-top

  train.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture(scope="session")
def eval_data_dir(tmp_path_factory) -> Path:
  return tmp_path_factory.mktemp("tfds")


@pytest.fixture(scope="session")
def sample_run(eval_data_dir, tmp_path_factory) -> Path:
  """small_cnn on an 18-window blur_noise_sample (evaluated on 224x224 images)."""
  _build(SAMPLE, eval_data_dir, num_sources=18)
  config = few_steps("quickstart", dataset=SAMPLE, distort_on_device="", data_dir=str(eval_data_dir))
  return _train(config, tmp_path_factory.mktemp("sample_run"))


@pytest.fixture(scope="session")
def live_data_dir(eval_data_dir, tmp_path_factory) -> Path:
  """live_iqa/blur_noise built from a LIVE look-alike in the real format (29 + 145 + 145 images)."""
  sys.path.insert(0, str(Path(__file__).parent / "data"))
  import _data_fixtures  # pylint: disable=g-import-not-at-top

  manual_dir = tmp_path_factory.mktemp("live")
  _data_fixtures.write_live_release(manual_dir)
  _build(LIVE, eval_data_dir, manual_dir=str(manual_dir))
  return eval_data_dir


@pytest.fixture(scope="session")
def live_report(sample_run, live_data_dir) -> Path:
  """`python -m dclf.evaluate` (in-process) of sample_run on LIVE, with a batch of 16 that leaves a
  padded last batch (319 = 19 x 16 + 15). Returns the report folder."""
  from dclf import evaluate  # pylint: disable=g-import-not-at-top

  assert (
    evaluate.main(
      ["--workdir", str(sample_run), "--split", LIVE, "--data_dir", str(live_data_dir), "--batch_size", "16"]
    )
    == 0
  )
  return sample_run / "eval" / "live_iqa_blur_noise_test"


@pytest.fixture(scope="session")
def synthetic_softmax_run(tmp_path_factory) -> Path:
  """The poster's softmax baseline on 32x32 synthetic images."""
  config = few_steps("default", model="softmax", image_size=32, train_crop_size=0)
  return _train(config, tmp_path_factory.mktemp("softmax_run"))


@pytest.fixture(scope="session")
def multilabel_run(eval_data_dir, tmp_path_factory) -> Path:
  """The multi-label quickstart on a 9-window build, with softmax's head (cheaper to compile than
  small_cnn's) on whole 224x224 images."""
  _build(MULTILABEL_SAMPLE, eval_data_dir, num_sources=9)
  config = few_steps("multilabel_quickstart", data_dir=str(eval_data_dir), model="softmax", train_crop_size=0)
  return _train(config, tmp_path_factory.mktemp("multilabel_run"))
