"""The `dclf.main` command end to end: outputs, exact resume after SIGKILL, SIGTERM, bad input."""

import json
import logging
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import jax
import numpy as np
import pytest

import dclf.data
from dclf import checkpoint, datasets, input_pipeline, train
from dclf.errors import UsageError

import eval_fixtures
from _runs import REPO, assert_one_line_error, run_module, start_module, tiny_flags

SAMPLE = eval_fixtures.SAMPLE

TINY = tiny_flags(log_every_steps=4)


def _main_args(workdir, model="softmax", *extra):
  return ["--config", REPO / "configs" / "default.py", "--workdir", workdir, f"--config.model={model}", *TINY, *extra]


def _final(workdir):
  config, variables = checkpoint.load_variables(workdir)
  del config
  return json.loads((workdir / "summary.json").read_text()), variables


def test_outputs_of_a_run(tmp_path):
  result = run_module(
    "dclf.main",
    *_main_args(
      tmp_path,
      "small_cnn",
      "--config.num_train_steps=10",
      "--config.checkpoint_every_steps=4",
      "--config.parallelism=jit",
    ),
  )
  assert result.returncode == 0, result.stderr
  assert "params: total=99899 trainable=99403" in result.stdout
  summary = json.loads((tmp_path / "summary.json").read_text())
  for key in (
    "step",
    "train_loss",
    "train_accuracy",
    "eval_accuracy",
    "params_total",
    "params_trainable",
    "images_per_sec",
    "devices",
    "processes",
    "parallelism",
    "device_kind",
    "versions",
  ):
    assert summary[key] is not None, key
  assert summary["step"] == 10 and summary["devices"] == 2 and summary["parallelism"] == "jit"
  assert summary["eval_examples"] == 256  # the whole synthetic validation split, once
  # train_loss / train_accuracy: means of the last log_every_steps (4) steps, 7-10, not of one batch
  assert summary["train_steps_averaged"] == 4
  # No silent stretch: compilations are announced and timed, evaluations show progress.
  for line in (
    "compiling the train step ... done in",
    "compiling the eval step ... done in",
    "evaluating on validation:",
  ):
    assert line in result.stderr, line
  # Validation and test reports, as dclf.evaluate writes them.
  for split in ("validation", "test"):
    report = json.loads((tmp_path / "eval" / split / "report.json").read_text())
    assert report["split"] == split and report["step"] == 10 and report["num_examples"] == 256
  assert 0 <= summary["input_wait_fraction"] <= 1
  assert (summary["data_format"], summary["data_workers"]) == ("synthetic", 0)
  rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows if "train/loss" in r] == [4, 8, 10]
  assert all(0 <= r["train/input_wait"] <= 1 for r in rows if "train/loss" in r)
  assert "input wait" in result.stderr
  assert any("eval/accuracy" in r for r in rows)
  assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
  assert sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == [4, 8, 10]
  config = json.loads((tmp_path / "config.json").read_text())
  assert config["class_names"] == ["reference", "blur", "noise"]

  # Rerunning the finished run says so in one line and changes nothing; more steps continue it.
  before = _snapshot(tmp_path)
  again = run_module(
    "dclf.main", *_main_args(tmp_path, "small_cnn", "--config.num_train_steps=10", "--config.parallelism=jit")
  )
  assert again.returncode == 0, again.stderr
  assert again.stderr.count("\n") == 1 and "this run finished at step 10 (summary.json)" in again.stderr, again.stderr
  assert _snapshot(tmp_path) == before
  more = run_module(
    "dclf.main", *_main_args(tmp_path, "small_cnn", "--config.num_train_steps=12", "--config.parallelism=jit")
  )
  assert more.returncode == 0, more.stderr
  assert "resuming from checkpoint at step 10" in more.stderr
  assert json.loads((tmp_path / "summary.json").read_text())["step"] == 12


def _snapshot(workdir) -> dict:
  """Every file of a workdir with its contents and modification time."""
  return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(workdir.rglob("*")) if p.is_file()}


def test_sigkill_then_rerun_equals_an_uninterrupted_run(tmp_path):
  steps = ["--config.num_train_steps=40", "--config.checkpoint_every_steps=4"]
  reference = run_module("dclf.main", *_main_args(tmp_path / "a", "small_cnn", *steps))
  assert reference.returncode == 0, reference.stderr

  proc = start_module("dclf.main", *_main_args(tmp_path / "b", "small_cnn", *steps))
  deadline = time.time() + 240
  while not (tmp_path / "b" / "checkpoints" / "8").exists():
    assert proc.poll() is None and time.time() < deadline, "run ended before its second checkpoint"
    time.sleep(0.01)
  proc.send_signal(signal.SIGKILL)
  assert proc.wait() == -signal.SIGKILL
  assert not (tmp_path / "b" / "summary.json").exists()

  resumed = run_module("dclf.main", *_main_args(tmp_path / "b", "small_cnn", *steps))
  assert resumed.returncode == 0, resumed.stderr
  assert "resuming from checkpoint at step" in resumed.stderr
  (summary_a, vars_a), (summary_b, vars_b) = _final(tmp_path / "a"), _final(tmp_path / "b")
  assert summary_a["step"] == summary_b["step"] == 40
  assert summary_a["train_loss"] == pytest.approx(summary_b["train_loss"], rel=1e-6)
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7), vars_a, vars_b)
  rows = [json.loads(line)["step"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
  assert rows == sorted(rows), "a resumed run drops the killed run's metrics past its checkpoint"


def test_sigterm_saves_the_current_step_and_exits_zero(tmp_path):
  proc = start_module(
    "dclf.main",
    *_main_args(tmp_path, "softmax", "--config.num_train_steps=100000", "--config.checkpoint_every_steps=100000"),
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )
  deadline = time.time() + 240
  while not (tmp_path / "metrics.jsonl").exists():
    assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.poll() is not None else ""
    time.sleep(0.05)
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == 0, err
  assert "Traceback" not in err
  summary = json.loads((tmp_path / "summary.json").read_text())
  assert summary["preempted"] is True
  saved = [int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()]
  assert saved == [summary["step"]] and 0 < summary["step"] < 100000


@pytest.mark.parametrize(
  "args,message",
  [
    (["--config.model=resnet18"], "unknown model 'resnet18'"),
    (["--config.batch_size=7"], "does not divide by the 2 devices"),
    (["--config.optimizer=lamb"], "unknown optimizer"),
    (["--config.parallelism=pjit"], "unknown parallelism"),
    (["--config.batch_sizee=8"], "batch_sizee"),
    (["--config.batch_size=eight"], "batch_size"),
    (["--config.dataset=imagenet"], "imagenet"),
    (["--config.dataset=distortions/blur_noise_sample", "--config.data_format=npy"], "unknown data format 'npy'"),
    (["--config.data_workers=-2"], "data_workers must be -1"),
    (["--config.prefetch_batches=0"], "prefetch_batches must be positive"),
  ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, message):
  result = run_module("dclf.main", *_main_args(tmp_path / "w", "softmax", *args))
  assert result.returncode == 2, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
  assert not (tmp_path / "w" / "checkpoints").exists()


def test_every_missing_prerequisite_is_listed_at_once(tmp_path):
  """configs/sgdnet.py without its dataset and its weights: one error names both, each with what
  provides it, and the workdir is not created."""
  result = run_module(
    "dclf.main", "--config", "configs/sgdnet.py", "--workdir", tmp_path / "w", f"--config.data_dir={tmp_path / 'tfds'}"
  )
  line = assert_one_line_error(result.returncode, result.stderr)
  assert line == (
    "error: 2 prerequisites missing: dataset distortions/blur_noise is not built (python -m dclf.data build "
    f"distortions/blur_noise --data_dir {tmp_path / 'tfds'} --manual_dir M; docs/data.md); config.init_from "
    "weights/sgdnet_koniq10k.h5 not found (docs/weights.md; --config.init_from='' starts from random weights)\n"
  )
  assert not (tmp_path / "w").exists()


def test_missing_config_file_and_unwritable_workdir(tmp_path):
  result = run_module("dclf.main", "--config", tmp_path / "nope.py", "--workdir", tmp_path / "w")
  assert result.returncode == 2 and result.stderr.startswith("error: ") and "nope.py" in result.stderr
  assert len(result.stderr.strip().splitlines()) == 1
  blocker = tmp_path / "file"
  blocker.write_text("")
  result = run_module("dclf.main", *_main_args(blocker / "w", "softmax"))
  assert result.returncode == 2 and "is not writable" in result.stderr, result.stderr
  assert len(result.stderr.strip().splitlines()) == 1


class SlowSource(input_pipeline.SyntheticSource):
  """Synthetic examples that take 10 ms each to read: 80 ms per batch of 8, many times a tiny step."""

  def __getitem__(self, index):
    time.sleep(0.01)
    return super().__getitem__(index)


def test_an_input_bound_run_warns_once_naming_the_remedies(tmp_path, tiny_config, monkeypatch, caplog):
  monkeypatch.setattr(datasets, "SyntheticSource", SlowSource)
  caplog.set_level(logging.INFO, logger="dclf")
  # One batch read ahead, and more steps than it and the first step's compilation hide.
  tiny_config.update(num_train_steps=12, log_every_steps=4, checkpoint_every_steps=12, prefetch_batches=1)
  summary = train.train_and_evaluate(tiny_config, tmp_path)
  warnings = [r.getMessage() for r in caplog.records if "input-bound" in r.getMessage()]
  assert len(warnings) == 1 and "more data workers (--config.data_workers, 0 now" in warnings[0]
  assert 0.1 < summary["input_wait_fraction"] <= 1
  rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [r["train/input_wait"] > 0.1 for r in rows if "train/loss" in r] == [True, True, True]


@pytest.fixture(scope="module")
def raw_sample(tmp_path_factory) -> Iterator[str]:
  """An 18-window blur_noise_sample with its raw copy."""
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  dclf.data.get_source(SAMPLE, "train", data_dir, build_if_missing=True, data_format="raw")
  yield data_dir
  shutil.rmtree(data_dir)  # the dataset and its raw copy


def test_a_run_on_the_raw_copy_resumes_mid_epoch_like_an_uninterrupted_run(tmp_path, raw_sample):
  """Killed after its step-3 checkpoint (the later checkpoint and summary gone), the rerun resumes at
  batch 3 of 42 examples (mid-epoch) and ends with the uninterrupted run's weights."""
  config = eval_fixtures.few_steps(
    "quickstart",
    dataset=SAMPLE,
    distort_on_device="",
    data_dir=raw_sample,
    data_format="raw",
    num_train_steps=6,
    checkpoint_every_steps=3,
  )
  summary = train.train_and_evaluate(config, tmp_path)
  assert (summary["data_format"], summary["data_workers"]) == ("raw", 0)
  _, finished = checkpoint.load_variables(tmp_path)
  shutil.rmtree(tmp_path / "checkpoints" / "6")
  (tmp_path / "summary.json").unlink()
  resumed = train.train_and_evaluate(config, tmp_path)
  assert resumed["step"] == 6
  jax.tree.map(np.testing.assert_array_equal, finished, checkpoint.load_variables(tmp_path)[1])


@pytest.fixture(scope="module")
def clean_sample(tmp_path_factory) -> str:
  """An 18-window blur_noise_clean_sample: 14 clean train windows, the sample's validation and test."""
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  dclf.data.build(CLEAN_SAMPLE, data_dir=data_dir, num_sources=18, workers=1)
  return data_dir


CLEAN_SAMPLE = "distortions/blur_noise_clean_sample"


def _train_losses(workdir) -> dict[int, float]:
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  return {row["step"]: row["train/loss"] for row in rows if "train/loss" in row}


def test_a_run_that_distorts_on_device_resumes_like_an_uninterrupted_run(tmp_path, clean_sample):
  """config.distort_on_device draws from the seed and the step: killed after its step-3 checkpoint,
  the rerun redraws steps 4-6 as the uninterrupted run did (same losses, same weights)."""
  config = eval_fixtures.few_steps(
    "quickstart",
    dataset=CLEAN_SAMPLE,
    distort_on_device="blur_noise",
    data_dir=clean_sample,
    num_train_steps=6,
    checkpoint_every_steps=3,
    log_every_steps=1,
  )
  train.train_and_evaluate(config, tmp_path / "a")
  losses, (_, finished) = _train_losses(tmp_path / "a"), checkpoint.load_variables(tmp_path / "a")
  shutil.rmtree(tmp_path / "a" / "checkpoints" / "6")
  (tmp_path / "a" / "summary.json").unlink()
  resumed = train.train_and_evaluate(config, tmp_path / "a")
  assert resumed["step"] == 6
  assert _train_losses(tmp_path / "a") == losses
  jax.tree.map(np.testing.assert_array_equal, finished, checkpoint.load_variables(tmp_path / "a")[1])


def test_distorting_on_device_and_a_clean_train_split_go_together(tmp_path, tiny_config, clean_sample):
  tiny_config.update(distort_on_device="blur_noise")  # synthetic data: not clean photos
  with pytest.raises(UsageError, match="train split of synthetic is not clean"):
    train.train_and_evaluate(tiny_config, tmp_path)
  tiny_config.update(distort_on_device="six_distortions")
  with pytest.raises(UsageError, match="unknown distort_on_device 'six_distortions'; known: blur_noise"):
    train.train_and_evaluate(tiny_config, tmp_path)
  tiny_config.update(distort_on_device="", dataset=CLEAN_SAMPLE, data_dir=clean_sample)
  with pytest.raises(UsageError, match="holds clean photos only: set --config.distort_on_device=blur_noise"):
    train.train_and_evaluate(tiny_config, tmp_path)
  assert not (tmp_path / "checkpoints").exists()
