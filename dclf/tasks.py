"""How a model's outputs read on the host, keyed by `config.multilabel` like `steps.OBJECTIVES`:
one class per image (the most probable), or a set of labels (each with probability >= 0.5).

Each task turns probabilities into predictions, scores them against targets for the evaluation
report, and describes one image's prediction for `dclf.predict`.
"""

import numpy as np

from dclf import metrics
from dclf.errors import UsageError

THRESHOLD = 0.5  # a label is predicted when its sigmoid reaches it (logit >= 0)


def model_index(model_names, dataset_names, what: str) -> np.ndarray:
  """The model output of each dataset class (or label), matched by name: a foreign dataset with
  the same names in another order maps; other names are an error."""
  model_names, dataset_names = list(model_names), list(dataset_names)
  if sorted(model_names) != sorted(dataset_names):
    raise UsageError(f"the model's {what} ({', '.join(model_names)}) are not the dataset's "
                     f"({', '.join(dataset_names)})")
  return np.array([model_names.index(name) for name in dataset_names], np.int64)


class SingleLabel:
  """Softmax outputs: the prediction is the most probable class."""

  unit, what = "class", "classes"
  breakdown = "per_class"  # the report's per-output metrics

  def targets(self, dataset_targets, index):
    return index[np.asarray(dataset_targets, np.int64)]

  def decide(self, probabilities):
    return np.argmax(probabilities, -1)

  def correct(self, predictions, targets):
    return predictions == targets

  def summarize(self, predictions, targets, names) -> dict:
    confusion = metrics.confusion_matrix(targets, predictions, len(names))
    return {"accuracy": metrics.accuracy(confusion), "confusion_matrix": confusion.tolist(),
            "per_class": metrics.per_class(confusion, names)}

  def confusion_tables(self, report) -> list:
    """(title, matrix, names) of each confusion matrix in `report`."""
    return [("", report["confusion_matrix"], report["class_names"])]

  def describe(self, probabilities, names) -> dict:
    return {"label": names[int(np.argmax(probabilities))]}


class MultiLabel:
  """Sigmoid outputs: every label whose probability reaches THRESHOLD is predicted."""

  unit, what = "label", "labels"
  breakdown = "per_label"

  def targets(self, dataset_targets, index):
    dataset_targets = np.asarray(dataset_targets) > 0
    targets = np.empty_like(dataset_targets)
    targets[:, index] = dataset_targets
    return targets

  def decide(self, probabilities):
    return np.asarray(probabilities) >= THRESHOLD

  def correct(self, predictions, targets):
    return np.all(predictions == targets, -1)

  def summarize(self, predictions, targets, names) -> dict:
    per_label = metrics.per_label(targets, predictions, names)
    exact_match = float(np.mean(self.correct(predictions, targets))) if len(targets) else 0.0
    return {"accuracy": exact_match, "exact_match": exact_match,
            "label_accuracy": float(np.mean([row["accuracy"] for row in per_label.values()])), "per_label": per_label}

  def confusion_tables(self, report) -> list:
    return [(name, row["confusion_matrix"], ("no", "yes")) for name, row in report["per_label"].items()]

  def describe(self, probabilities, names) -> dict:
    labels = [name for name, p in zip(names, probabilities) if p >= THRESHOLD]
    return {"label": "+".join(labels) or "none", "labels": labels}


TASKS = {False: SingleLabel(), True: MultiLabel()}


def is_multilabel(config) -> bool:
  """Workdirs written before the option existed are single-label."""
  return bool(config.get("multilabel", False))


def task_of(config):
  return TASKS[is_multilabel(config)]
