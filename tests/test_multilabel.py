"""Multi-label (blur and noise at once): the objective, a few training steps, the report's
per-label metrics, predict's per-label output, and the errors of mismatched label sets."""

import json

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from dclf import checkpoint, datasets, evaluate, objectives, predict
from dclf.errors import UsageError

from _runs import assert_one_line_error, run_main
from eval_fixtures import LIVE, MULTILABEL_SAMPLE


def test_sigmoid_cross_entropy_and_exact_match():
  objective = objectives.OBJECTIVES["multilabel"]
  logits, labels = jnp.array([[2.0, -1.0], [0.5, 3.0]]), jnp.array([[1, 0], [0, 1]], jnp.uint8)
  expected = [
    np.mean([np.log1p(np.exp(-2.0)), np.log1p(np.exp(-1.0))]),
    np.mean([np.log1p(np.exp(0.5)), np.log1p(np.exp(-3.0))]),
  ]
  np.testing.assert_allclose(objective.loss(logits, labels), expected, rtol=1e-6)
  hits = objective.hits(logits, labels)
  np.testing.assert_array_equal(hits["accuracy"], [True, False])
  np.testing.assert_allclose(hits["label_accuracy"], [1.0, 0.5])
  assert objective.label_key == "labels"


def test_a_dataset_without_multi_hot_labels_cannot_train_a_multilabel_model(tiny_config):
  with pytest.raises(UsageError, match="synthetic has no multi-hot `labels`"):
    objectives.OBJECTIVES["multilabel"].output_names(datasets.load(tiny_config, ("train",)))


def test_a_multilabel_run_and_its_report(multilabel_run):
  summary = json.loads((multilabel_run / "summary.json").read_text())
  assert np.isfinite(summary["train_loss"]) and np.isfinite(summary["eval_loss"])
  config, variables = checkpoint.load_variables(multilabel_run)
  assert config.multilabel and list(config.class_names) == ["blur", "noise"]
  assert variables["params"]["head"]["predictions"]["kernel"].shape == (224 * 224 * 3, 2)
  rows = [json.loads(line) for line in (multilabel_run / "metrics.jsonl").read_text().splitlines()]
  assert any("train/label_accuracy" in row for row in rows) and any("eval/label_accuracy" in row for row in rows)

  report = json.loads((multilabel_run / "eval" / "test" / "report.json").read_text())
  assert report["multilabel"] and report["num_examples"] == 4 and summary["test_accuracy"] == report["accuracy"]
  assert report["accuracy"] == report["exact_match"]
  assert set(report["per_label"]) == {"blur", "noise"}
  for row in report["per_label"].values():
    assert set(row) == {"precision", "recall", "f1", "support", "accuracy", "confusion_matrix"}
    assert np.sum(row["confusion_matrix"]) == 4 and row["support"] == 2  # blur: blur + blur_and_noise
  assert set(report["by_severity"]["blur_and_noise"]) == {"radius", "amount", "density"}
  markdown = (multilabel_run / "eval" / "test" / "report.md").read_text()
  assert "## Labels" in markdown and "## Confusion matrix: noise" in markdown


def test_predict_prints_per_label_probabilities(tmp_path, capsys, multilabel_run):
  Image.fromarray(np.full((50, 70, 3), 128, np.uint8)).save(tmp_path / "grey.png")
  assert predict.main(["--workdir", str(multilabel_run), str(tmp_path / "grey.png")]) == 0
  result = json.loads(capsys.readouterr().out)
  assert list(result["probabilities"]) == ["blur", "noise"]
  assert result["labels"] == [name for name, p in result["probabilities"].items() if p >= 0.5]
  assert result["label"] == ("+".join(result["labels"]) or "none")


def _evaluate_fails(workdir, split, data_dir) -> str:
  code, _, err = run_main(evaluate.main, "--workdir", workdir, "--split", split, "--data_dir", data_dir)
  return assert_one_line_error(code, err)


def test_label_sets_that_do_not_match_are_one_line_errors(multilabel_run, sample_run, live_data_dir):
  assert "live_iqa/blur_noise has no multi-hot `labels`" in _evaluate_fails(multilabel_run, LIVE, live_data_dir)
  assert (
    "the model's classes (reference, blur, noise) are not the dataset's (reference, blur, noise, blur_and_noise)"
  ) in _evaluate_fails(sample_run, MULTILABEL_SAMPLE, live_data_dir)


def test_labelled_photos_for_a_multilabel_model_carry_labels_joined_by_plus(tmp_path, multilabel_run):
  """Folders `none`, `blur`, `blur+noise` (what predict prints as `label`); windows combined by vote."""
  rng = np.random.default_rng(3)
  for name in ("none", "blur", "blur+noise"):
    (tmp_path / "photos" / name).mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (240, 300, 3), dtype=np.uint8)).save(tmp_path / "photos" / name / "a.png")
  args = ["--workdir", multilabel_run, "--images", tmp_path / "photos", "--combine", "vote"]
  code, out, err = run_main(evaluate.main, *args, "--out", tmp_path / "report")
  assert code == 0, err
  report = json.loads((tmp_path / "report" / "report.json").read_text())
  assert report["multilabel"] and report["num_examples"] == 3
  assert [report["per_label"][name]["support"] for name in ("blur", "noise")] == [2, 1]
  predicted = [json.loads(line) for line in _predict_lines(multilabel_run, tmp_path / "photos")]
  wanted = {"none": set(), "blur": {"blur"}, "blur+noise": {"blur", "noise"}}
  exact = np.mean([set(r["labels"]) == wanted[r["path"].split("/")[-2]] for r in predicted])
  assert report["accuracy"] == pytest.approx(exact)
  (tmp_path / "photos" / "sharp+blur").mkdir()
  Image.new("RGB", (8, 8)).save(tmp_path / "photos" / "sharp+blur" / "b.png")
  code, _, err = run_main(evaluate.main, *args)
  assert "unknown label(s) sharp+blur in" in assert_one_line_error(code, err)
  assert "the model's labels: blur, noise (joined with +, or none)" in err


def _predict_lines(workdir, folder) -> list[str]:
  """dclf.predict's JSON lines for the photos of `folder`, with the same view."""
  code, out, err = run_main(predict.main, "--workdir", workdir, "--combine", "vote", folder)
  assert code == 0, err
  return out.splitlines()
