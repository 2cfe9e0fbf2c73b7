"""`dclf.evaluate` and the trainer's test report: every example counted once, the report's
files, LIVE's classes mapped by name, one-line errors."""

import json

import numpy as np
import pytest

from dclf import evaluate, objectives

from _runs import assert_one_line_error, run_main
from eval_fixtures import LIVE, SAMPLE, SAMPLE_SPLITS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _report_files(folder) -> dict:
  """The parsed report.json, after checking its companions."""
  report = json.loads((folder / "report.json").read_text())
  for plot in ("confusion_matrix.png", "accuracy_by_severity.png"):
    assert (folder / plot).read_bytes().startswith(PNG_SIGNATURE), plot
  assert f"**Accuracy: {report['accuracy']:.4f}**" in (folder / "report.md").read_text()
  return report


def test_training_ends_with_a_test_report(sample_run):
  report = _report_files(sample_run / "eval" / "test")
  assert json.loads((sample_run / "summary.json").read_text())["test_accuracy"] == report["accuracy"]
  assert (report["model"], report["dataset"], report["split"], report["step"]) == ("small_cnn", SAMPLE, "test", 4)
  confusion = np.array(report["confusion_matrix"])
  assert report["num_examples"] == confusion.sum() == SAMPLE_SPLITS["test"]
  assert confusion.sum(1).tolist() == [2, 2, 2]
  assert report["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
  assert [row["support"] for row in report["per_class"].values()] == [2, 2, 2]
  assert {name: set(features) for name, features in report["by_severity"].items()} == {
    "blur": {"radius"},
    "noise": {"amount", "density"},
  }
  radius_bins = report["by_severity"]["blur"]["radius"]
  assert [b["low"] for b in radius_bins] == list(range(1, 11)) and sum(b["count"] for b in radius_bins) == 2


def test_live_counts_every_image_once_and_maps_classes_by_name(live_report, sample_run, live_data_dir):
  report = _report_files(live_report)
  assert (report["dataset"], report["split"], report["num_examples"]) == (LIVE, "test", 319)
  assert np.array(report["confusion_matrix"]).sum(1).tolist() == [29, 145, 145]
  for name in ("blur", "noise"):
    bins = report["by_severity"][name]["sigma"]  # LIVE's one severity, in quantile bins
    assert len(bins) == 5 and [b["count"] for b in bins] == [29] * 5
  assert set(report["by_severity"]) == {"blur", "noise"}

  # The same confusion matrix as predicting every LIVE image directly.
  import dclf.data  # pylint: disable=g-import-not-at-top
  from dclf.predict import Predictor  # pylint: disable=g-import-not-at-top

  source, _ = dclf.data.get_source(LIVE, "test", data_dir=str(live_data_dir))
  examples = [source[i] for i in range(len(source))]
  probabilities = Predictor(sample_run).predict(np.stack([ex["image"] for ex in examples]))
  direct = objectives.confusion_matrix([ex["label"] for ex in examples], probabilities.argmax(-1), 3)
  np.testing.assert_array_equal(direct, report["confusion_matrix"])


def _fails(*args) -> str:
  """Runs `dclf.evaluate` in-process; returns its one-line error after checking exit code 2."""
  code, _, err = run_main(evaluate.main, *args)
  return assert_one_line_error(code, err)


def test_errors_are_one_line(tmp_path, sample_run, synthetic_softmax_run, live_data_dir):
  assert "is not a dclf workdir" in _fails("--workdir", tmp_path, "--split", "test")
  assert "unknown split 'nope'" in _fails("--workdir", sample_run, "--split", "nope")
  assert "the following arguments are required: --split" in _fails("--workdir", sample_run)
  assert "positive multiple of the 2 devices" in _fails("--workdir", sample_run, "--split", "test", "--batch_size", "3")
  assert "live_iqa/blur_noise_pad_resize is not built" in _fails(
    "--workdir", sample_run, "--split", "live_iqa/blur_noise_pad_resize", "--data_dir", live_data_dir
  )
  assert "softmax takes 32x32 images (config.image_size) and no other size; the dataset's are 224x224" in _fails(
    "--workdir", synthetic_softmax_run, "--split", LIVE, "--data_dir", live_data_dir
  )
  assert not (synthetic_softmax_run / "eval" / "live_iqa_blur_noise_test").exists()
