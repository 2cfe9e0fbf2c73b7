"""Keras weight file (or dclf workdir) + a model's variables -> the model's variables filled from it."""

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from dclf import models
from dclf.weights import families, h5file
from dclf.weights.errors import Problems, WeightsError
from dclf.weights.fill import fill
from dclf.weights.source import Source
from dclf.weights.tree import module_slots
from dclf.weights.workdir import read_workdir

log = logging.getLogger("dclf.weights")


@dataclass(frozen=True)
class Conversion:
  """The filled variables and what the conversion found out on the way."""

  variables: dict
  source: str  # what the file holds, and its layout
  bn_epsilon: Optional[float]  # epsilon the loaded BatchNorm statistics need (None: no BatchNorm loaded)
  loaded: list[str]  # dclf module paths filled from the file
  kept: list[str]  # model parts the file does not cover, left as given
  unused: list[str]  # file layers the model has no place for


def _read(path) -> Source:
  if Path(path).is_dir():
    return read_workdir(path)
  weights = h5file.read(path)
  try:
    return families.translate(weights.layers, weights.layout)
  except WeightsError as e:
    raise WeightsError(f"{path}: {e}") from None


def convert(path, variables, model_label: str = "the model") -> Conversion:
  """Fills `variables` from `path`; every problem is reported at once in one WeightsError."""
  found = _read(path)
  problems = Problems(extra=list(found.extra))
  new_variables, loaded, kept, unplaced = fill(variables, found.modules, found.names, problems)
  problems.raise_if_any(f"{path} ({found.description}) does not fit {model_label}")
  slots = module_slots(variables)
  loaded_batch_norm = any(key[0] == "batch_stats" for path in loaded for key in slots[path])
  return Conversion(new_variables, found.description, found.bn_epsilon if loaded_batch_norm else None,
                    loaded, kept, sorted(found.unused + unplaced))


def load(path, model_name: str, variables, *, bn_epsilon: Optional[float] = None) -> dict:
  """`variables` of model `model_name` with what `path` provides (a Keras .h5 / .weights.h5 file
  or a dclf workdir); parts the file does not cover stay as given. With `bn_epsilon` (the model's),
  a file whose BatchNorm statistics need another epsilon is an error, not a silent mismatch."""
  if model_name not in models.MODELS:
    raise WeightsError(f"unknown model {model_name!r}; known: {', '.join(sorted(models.MODELS))}")
  result = convert(path, variables, model_name)
  if bn_epsilon is not None and result.bn_epsilon is not None and not math.isclose(bn_epsilon, result.bn_epsilon):
    raise WeightsError(f"{path} holds BatchNorm statistics for epsilon {result.bn_epsilon:g} but {model_name} "
                       f"uses {bn_epsilon:g}: set config.bn_epsilon={result.bn_epsilon:g}")
  log.info("%s: loaded %d layers into %s from %s", path, len(result.loaded), model_name, result.source)
  if result.kept:
    log.info("%s: not in the file, kept as given: %s", path, ", ".join(result.kept))
  if result.unused:
    log.info("%s: unused: %s", path, ", ".join(result.unused))
  return result.variables
