"""Classification objectives: what a model's outputs mean, from the training loss on the devices to
the decision and its scores on the host. One registry, `OBJECTIVES`, keyed by name; a config picks
its objective with its `multilabel` field (`of_config`).

- `single_label`: one class per image, softmax cross-entropy; the prediction is the most probable
  class; scored by a confusion matrix and per-class precision / recall / F1.
- `multilabel`: one yes/no per label (e.g. blur and noise at once: the poster's future work),
  a sigmoid and binary cross-entropy per output; every label whose probability reaches THRESHOLD
  is predicted; accuracy is the exact match, and each label is scored as its own yes/no problem.

The device side (`loss`, `hits`, `probabilities`) runs inside the compiled steps (`dclf.steps`); the
host side (`targets`, `decide`, `correct`, `summarize`, `describe`) in plain NumPy, so the scores
are tested on hand-computed cases.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dclf.errors import UsageError

THRESHOLD = 0.5  # a label is predicted when its sigmoid reaches it (logit >= 0)


def confusion_matrix(targets, predictions, num_classes: int) -> np.ndarray:
  """counts[true, predicted] (rows: true class, columns: predicted class)."""
  counts = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(counts, (np.asarray(targets, np.int64), np.asarray(predictions, np.int64)), 1)
  return counts


def accuracy(confusion: np.ndarray) -> float:
  total = confusion.sum()
  return float(np.trace(confusion) / total) if total else 0.0


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
  """numerator / denominator, 0 where the denominator is 0 (as scikit-learn's zero_division=0)."""
  return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def per_class(confusion: np.ndarray, names: Sequence[str]) -> dict:
  """{name: {precision, recall, f1, support}}; support = true examples of the class."""
  hits = np.diag(confusion).astype(np.float64)
  predicted, support = confusion.sum(0), confusion.sum(1)
  precision, recall = _ratio(hits, predicted), _ratio(hits, support)
  f1 = _ratio(2 * precision * recall, precision + recall)
  return {
    name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(support[i])}
    for i, name in enumerate(names)
  }


def per_label(targets, predictions, names: Sequence[str]) -> dict:
  """Multi-label: each label as its own yes/no problem. {name: {precision, recall, f1, support,
  accuracy, confusion_matrix}}: scores of the `yes` class, support = examples carrying the label,
  confusion rows/columns (no, yes)."""
  targets, predictions = np.asarray(targets, bool), np.asarray(predictions, bool)
  result = {}
  for i, name in enumerate(names):
    confusion = confusion_matrix(targets[:, i], predictions[:, i], 2)
    yes = per_class(confusion, ("no", "yes"))["yes"]
    result[name] = {**yes, "accuracy": accuracy(confusion), "confusion_matrix": confusion.tolist()}
  return result


def model_index(model_names, dataset_names, what: str) -> np.ndarray:
  """The model output of each dataset class (or label), matched by name: a foreign dataset with
  the same names in another order maps; other names are an error."""
  model_names, dataset_names = list(model_names), list(dataset_names)
  if sorted(model_names) != sorted(dataset_names):
    raise UsageError(
      f"the model's {what} ({', '.join(model_names)}) are not the dataset's ({', '.join(dataset_names)})"
    )
  return np.array([model_names.index(name) for name in dataset_names], np.int64)


class SingleLabel:
  """Softmax outputs: the prediction is the most probable class."""

  name = "single_label"
  label_key = "label"  # the batch feature holding the targets
  unit, what = "class", "classes"
  breakdown = "per_class"  # the report's per-output metrics
  exclusive = True  # the outputs are one distribution (sum to 1)

  def output_names(self, dataset) -> tuple[str, ...]:
    """What a model trained on `dataset` (a `dclf.datasets.Dataset`) predicts."""
    return dataset.class_names

  # On the devices: float32 logits and the batch's targets.
  def loss(self, logits, labels):
    """Per-example loss."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)

  def hits(self, logits, labels) -> dict:
    """Per-example scores in [0, 1] whose means are the reported metrics."""
    return {"accuracy": jnp.argmax(logits, -1) == labels}

  def probabilities(self, logits):
    return jax.nn.softmax(logits, axis=-1)

  # On the host.
  def targets(self, dataset_targets, index):
    return index[np.asarray(dataset_targets, np.int64)]

  def decide(self, probabilities):
    return np.argmax(probabilities, -1)

  def votes(self, probabilities):
    """The decisions as 0/1 per output, (n, outputs): one-hot."""
    probabilities = np.asarray(probabilities)
    return np.eye(probabilities.shape[-1], dtype=bool)[self.decide(probabilities)]

  def correct(self, predictions, targets):
    return predictions == targets

  def summarize(self, predictions, targets, names) -> dict:
    confusion = confusion_matrix(targets, predictions, len(names))
    return {
      "accuracy": accuracy(confusion),
      "confusion_matrix": confusion.tolist(),
      "per_class": per_class(confusion, names),
    }

  def confusion_tables(self, report) -> list:
    """(title, matrix, names) of each confusion matrix in `report`."""
    return [("", report["confusion_matrix"], report["class_names"])]

  def describe(self, probabilities, names) -> dict:
    return {"label": names[int(np.argmax(probabilities))]}


class MultiLabel:
  """Sigmoid outputs: every label whose probability reaches THRESHOLD is predicted."""

  name = "multilabel"
  label_key = "labels"  # the multi-hot vector
  unit, what = "label", "labels"
  breakdown = "per_label"
  exclusive = False

  def output_names(self, dataset) -> tuple[str, ...]:
    if not dataset.label_names:
      raise UsageError(
        f"{dataset.name} has no multi-hot `labels` for a multilabel model; "
        "use e.g. distortions/blur_noise_multilabel_sample"
      )
    return dataset.label_names

  def loss(self, logits, labels):
    return optax.sigmoid_binary_cross_entropy(logits, labels.astype(logits.dtype)).mean(-1)

  def hits(self, logits, labels) -> dict:
    """Exact match (all labels right) and the share of labels right."""
    right = (logits > 0) == (labels > 0)
    return {"accuracy": jnp.all(right, -1), "label_accuracy": jnp.mean(right, -1)}

  def probabilities(self, logits):
    return jax.nn.sigmoid(logits)

  def targets(self, dataset_targets, index):
    dataset_targets = np.asarray(dataset_targets) > 0
    targets = np.empty_like(dataset_targets)
    targets[:, index] = dataset_targets
    return targets

  def decide(self, probabilities):
    return np.asarray(probabilities) >= THRESHOLD

  def votes(self, probabilities):
    return self.decide(probabilities)

  def correct(self, predictions, targets):
    return np.all(predictions == targets, -1)

  def summarize(self, predictions, targets, names) -> dict:
    labels = per_label(targets, predictions, names)
    exact_match = float(np.mean(self.correct(predictions, targets))) if len(targets) else 0.0
    return {
      "accuracy": exact_match,
      "exact_match": exact_match,
      "label_accuracy": float(np.mean([row["accuracy"] for row in labels.values()])),
      "per_label": labels,
    }

  def confusion_tables(self, report) -> list:
    return [(name, row["confusion_matrix"], ("no", "yes")) for name, row in report["per_label"].items()]

  def describe(self, probabilities, names) -> dict:
    labels = [name for name, p in zip(names, probabilities) if p >= THRESHOLD]
    return {"label": "+".join(labels) or "none", "labels": labels}


OBJECTIVES = {objective.name: objective for objective in (SingleLabel(), MultiLabel())}


def of_config(config):
  """The objective of a run's config (workdirs written before the `multilabel` field: single-label)."""
  return OBJECTIVES["multilabel" if config.get("multilabel", False) else "single_label"]
