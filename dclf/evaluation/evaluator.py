"""A model on every example of a split, scored against the split's labels: the evaluation report.

`evaluate_split` predicts data-parallel (`dclf.inference`) and writes `W/eval/<name>/` (report.json,
report.md, PNG plots; see `dclf.evaluation.report_files`). The target is a split of the run's own dataset
(`validation`, `test`, `train[:10%]`) or another dataset, `DATASET/CONFIG` (its `test` split) or
`DATASET/CONFIG:SPLIT`; a foreign dataset's classes (or labels) must have the model's names, and
are matched to the model's outputs by name (LIVE's reference/blur/noise are blur_noise's).
"""

import re
from pathlib import Path

import jax
import numpy as np

from dclf import datasets, inference, models, objectives, state
from dclf.errors import UsageError
from dclf.evaluation import report_files, severity
from dclf.progress import log

TEST_SPLIT = "test"


def parse_target(target: str, own_dataset: str) -> tuple[str, str]:
  """(dataset, split): 'test' -> (own_dataset, 'test'); 'live_iqa/blur_noise' -> (it, 'test');
  'DATASET:SPLIT' -> (DATASET, SPLIT). A slice such as 'train[:10]' stays a split."""
  head, colon, tail = target.partition(":")
  if "/" in head or (colon and "[" not in head):
    return head, tail or TEST_SPLIT
  return own_dataset, target


def output_dir(workdir, target: str, own_dataset: str) -> Path:
  """W/eval/<name>: the split's name for the run's own dataset, else DATASET:SPLIT, made safe."""
  dataset, split = parse_target(target, own_dataset)
  name = split if dataset == own_dataset else f"{dataset}:{split}"
  return Path(workdir) / "eval" / (re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "split")


def _load_split(config, dataset_name: str, split: str, data_dir):
  dataset_config = config.copy_and_resolve_references()
  with dataset_config.unlocked():
    dataset_config.dataset = dataset_name
    dataset_config.data_dir = data_dir or config.data_dir
  return datasets.load(dataset_config, (split,))


def check_image_size(config, image_shape) -> None:
  """A model with a flatten head takes only the image size it was made for: UsageError if the
  dataset's images (`image_shape`) are another size."""
  height, width = image_shape[:2]
  if (height, width) == (config.image_size, config.image_size):
    return
  model = state.build_model(config, len(config.class_names))
  if height != width or not models.takes_any_size(model, config.image_size, height):
    raise UsageError(
      f"{config.model} takes {config.image_size}x{config.image_size} images (config.image_size) and no other size; "
      f"the dataset's are {height}x{width}"
    )


def evaluate_split(
  predict: inference.BatchPredictor, config, target: str, workdir, step: int, *, data_dir=None, batch_size=None
) -> dict:
  """Evaluates on `target`, writes W/eval/<name>/ (process 0) and returns the report.

  batch_size: global, over all processes (default config.batch_size).
  """
  batch_size = batch_size or config.batch_size
  if batch_size <= 0 or batch_size % (predict.num_devices * jax.process_count()):
    raise UsageError(
      f"batch size {batch_size} must be a positive multiple of the {predict.num_devices * jax.process_count()} devices"
    )
  dataset_name, split = parse_target(target, config.dataset)
  data = _load_split(config, dataset_name, split, data_dir)
  source = data.splits[split]
  if not len(source):
    raise UsageError(f"{data.name} {split} has no examples")
  objective = objectives.of_config(config)
  index = objectives.model_index(config.class_names, objective.output_names(data), objective.what)
  first = source[0]
  check_image_size(config, first["image"].shape)
  keys = tuple(key for key in dict.fromkeys((objective.label_key, "label", *severity.SEVERITY_BINS)) if key in first)
  outputs = inference.predict_source(
    predict,
    source,
    batch_size=batch_size // jax.process_count(),
    workers=config.data_workers,
    keys=keys,
    desc=f"evaluating on {data.name} {split}",
  )
  report = build_report(outputs, objective, index, data, config, split, step)
  directory = output_dir(workdir, target, config.dataset)
  if jax.process_index() == 0:
    report_files.write(report, objective, directory)
  log(
    "%s %s: accuracy %.4f on %d examples; report in %s",
    data.name,
    split,
    report["accuracy"],
    report["num_examples"],
    directory,
  )
  return report


def build_report(outputs: dict, objective, index: np.ndarray, data, config, split: str, step: int) -> dict:
  """The report of `inference.predict_source`'s outputs (see docs/evaluation.md for its fields)."""
  names = list(config.class_names)
  targets = objective.targets(outputs[objective.label_key], index)
  predictions = objective.decide(outputs["probabilities"])
  correct = objective.correct(predictions, targets)
  severities = {key: outputs[key] for key in severity.SEVERITY_BINS if key in outputs}
  return {
    "model": config.model,
    "dataset": data.name,
    "split": split,
    "step": int(step),
    "multilabel": objective.name == "multilabel",
    "num_examples": int(len(correct)),
    "class_names": names,
    **objective.summarize(predictions, targets, names),
    "by_severity": severity.by_severity(severities, outputs["label"], data.class_names, correct),
  }
