"""Metric math on hand-computed cases: confusion matrix, per-class and per-label scores, severity
bins, label mapping by name, evaluation target names."""

import numpy as np
import pytest

from dclf import objectives
from dclf.errors import UsageError
from dclf.evaluation import evaluator, severity

NAMES = ("reference", "blur", "noise")
# 9 examples: reference 3 (2 right, 1 -> blur), blur 2 (1 right, 1 -> noise), noise 4 (3 right, 1 -> reference).
TARGETS = [0, 0, 0, 1, 1, 2, 2, 2, 2]
PREDICTIONS = [0, 1, 0, 1, 2, 2, 2, 0, 2]


def test_confusion_matrix_rows_are_true_classes():
  confusion = objectives.confusion_matrix(TARGETS, PREDICTIONS, 3)
  np.testing.assert_array_equal(confusion, [[2, 1, 0], [0, 1, 1], [1, 0, 3]])
  assert objectives.accuracy(confusion) == pytest.approx(6 / 9)


def test_per_class_precision_recall_f1():
  scores = objectives.per_class(objectives.confusion_matrix(TARGETS, PREDICTIONS, 3), NAMES)
  # reference: 2 of 3 predicted are right, 2 of 3 true found; blur: 1/2, 1/2; noise: 3/4, 3/4.
  expected = {"reference": (2 / 3, 2 / 3, 3), "blur": (1 / 2, 1 / 2, 2), "noise": (3 / 4, 3 / 4, 4)}
  for name, (precision, recall, support) in expected.items():
    f1 = 2 * precision * recall / (precision + recall)
    assert scores[name] == pytest.approx({"precision": precision, "recall": recall, "f1": f1, "support": support})


def test_a_class_never_predicted_scores_zero_not_nan():
  scores = objectives.per_class(objectives.confusion_matrix([0, 1, 2], [0, 0, 0], 3), NAMES)
  assert scores["blur"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
  assert scores["reference"]["precision"] == pytest.approx(1 / 3) and scores["reference"]["recall"] == 1.0


def test_per_label_and_exact_match():
  targets = np.array([[1, 0], [1, 1], [0, 0], [0, 1]], bool)  # (blur, noise)
  predictions = np.array([[1, 0], [0, 1], [0, 1], [0, 1]], bool)
  summary = objectives.MultiLabel().summarize(predictions, targets, ("blur", "noise"))
  # blur: tp 1, fn 1, tn 2; noise: tp 2, fp 1, tn 1. Rows 0 and 3 are exactly right.
  expected = {"blur": (1.0, 0.5, 2 / 3, [[2, 0], [1, 1]]), "noise": (2 / 3, 1.0, 0.8, [[1, 1], [0, 2]])}
  for name, (precision, recall, f1, confusion) in expected.items():
    row = summary["per_label"][name]
    assert row.pop("confusion_matrix") == confusion
    assert row == pytest.approx({"precision": precision, "recall": recall, "f1": f1, "support": 2, "accuracy": 0.75})
  assert summary["accuracy"] == summary["exact_match"] == 0.5 and summary["label_accuracy"] == 0.75


def test_binned_accuracy_counts_every_value_once():
  # Bins [1, 2) and [2, 3]; 0.5 and 7 fall in the open-ended outer bins.
  bins = severity.binned_accuracy([0.5, 1.5, 2.0, 3.0, 7.0], [1, 0, 1, 1, 0], [1, 2, 3])
  assert bins == [
    {"low": 1.0, "high": 2.0, "count": 2, "accuracy": 0.5},
    {"low": 2.0, "high": 3.0, "count": 3, "accuracy": pytest.approx(2 / 3)},
  ]
  assert severity.binned_accuracy([1.0], [1], [1, 2, 3])[1] == {"low": 2.0, "high": 3.0, "count": 0, "accuracy": None}
  assert [severity.bin_label(bins, i) for i in range(2)] == ["[1, 2)", "[2, 3]"]


def test_quantile_edges_merge_ties():
  np.testing.assert_allclose(severity.quantile_edges([1, 2, 3, 4, 5], 4), [1, 2, 3, 4, 5])
  np.testing.assert_allclose(severity.quantile_edges([2, 2, 2], 5), [2])
  assert severity.binned_accuracy([2, 2, 2], [1, 0, 1], [2])[0]["count"] == 3


def test_by_severity_bins_each_distorted_class_by_its_own_features():
  classes = np.array([0, 1, 1, 2, 2])
  features = {
    "radius": np.array([0, 1.5, 9.2, 0, 0]),
    "amount": np.array([0, 0, 0, 3, 25]),
    "density": np.array([0, 0, 0, 0.2, 1.05]),
  }
  result = severity.by_severity(features, classes, NAMES, np.array([1, 0, 1, 1, 0]))
  assert set(result) == {"blur", "noise"} and set(result["blur"]) == {"radius"}
  assert set(result["noise"]) == {"amount", "density"}
  radius = {b["low"]: (b["count"], b["accuracy"]) for b in result["blur"]["radius"] if b["count"]}
  assert radius == {1.0: (1, 0.0), 9.0: (1, 1.0)}
  assert [b["count"] for b in result["noise"]["amount"]] == [1, 0, 0, 0, 1]  # 25 is in [21, 26]


def test_classes_map_by_name_and_other_names_are_an_error():
  index = objectives.model_index(("reference", "blur", "noise"), ("blur", "noise", "reference"), "classes")
  np.testing.assert_array_equal(index, [1, 2, 0])
  np.testing.assert_array_equal(objectives.SingleLabel().targets([0, 1, 2], index), [1, 2, 0])
  np.testing.assert_array_equal(objectives.MultiLabel().targets([[1, 0]], np.array([1, 0])), [[False, True]])
  with pytest.raises(
    UsageError,
    match=r"^the model's classes \(reference, blur, noise\) are not the dataset's "
    r"\(reference, blur, noise, blur_and_noise\)$",
  ):
    objectives.model_index(NAMES, NAMES + ("blur_and_noise",), "classes")


@pytest.mark.parametrize(
  "target,dataset,split,folder",
  [
    ("test", "own/ds", "test", "test"),
    ("train[:10%]", "own/ds", "train[:10%]", "train_10"),
    ("live_iqa/blur_noise", "live_iqa/blur_noise", "test", "live_iqa_blur_noise_test"),
    ("live_iqa/blur_noise:test[:5]", "live_iqa/blur_noise", "test[:5]", "live_iqa_blur_noise_test_5"),
    ("synthetic:validation", "synthetic", "validation", "synthetic_validation"),
  ],
)
def test_evaluation_targets(tmp_path, target, dataset, split, folder):
  assert evaluator.parse_target(target, "own/ds") == (dataset, split)
  assert evaluator.output_dir(tmp_path, target, "own/ds") == tmp_path / "eval" / folder
