"""A weight source (a Keras file, a dclf workdir) + a model's variables -> the model's variables
filled from it, checked.

dclf variables are seen as modules: module path -> arrays in Keras weight order. Flax keeps a conv
or dense layer as `params/<path>/{kernel, bias}` and a BatchNorm layer as `params/<path>/{scale,
bias}` plus `batch_stats/<path>/{mean, var}`; Keras keeps the same arrays as [kernel, bias] and
[gamma, beta, moving_mean, moving_variance] with the same shapes (HWIO conv kernels, (in, out)
dense kernels). Listing each module's leaves in `KERAS_ORDER` makes the two lists line up, so no
layer type needs its own converter.

Coverage rule: the model's `features` (the frozen part of the transfer models; `softmax`, which
has no features, needs its head instead) must come from the source completely. The head is
optional: it comes from the source when the source's head modules are all modules of the model's
head (then all of them must be there, with the right shapes), and is left as given when the
source has no head or a head of another kind (SGDNet's quality head for the sgdnet classifier,
whose own head is new). Every problem is reported at once, in one WeightsError.
"""

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flax
import numpy as np

from dclf import checkpoint, models
from dclf.errors import WeightsError
from dclf.weights import families, h5file
from dclf.weights.families import Source

log = logging.getLogger("dclf.weights")

KERAS_ORDER = (
  ("params", "kernel"),
  ("params", "scale"),
  ("params", "bias"),
  ("batch_stats", "mean"),
  ("batch_stats", "var"),
)


def _leaves(variables) -> dict[tuple[str, ...], Any]:
  return {
    (collection, *path): leaf
    for collection in ("params", "batch_stats")
    for path, leaf in flax.traverse_util.flatten_dict(dict(variables.get(collection, {}))).items()
  }


def module_slots(variables) -> dict[str, list[tuple[str, ...]]]:
  """Module path ('features/backbone/bn_conv1') -> its leaf keys in Keras weight order."""
  by_module: dict[str, dict[tuple[str, str], tuple[str, ...]]] = {}
  for key in _leaves(variables):
    collection, *path, leaf = key
    by_module.setdefault("/".join(path), {})[(collection, leaf)] = key
  return {module: [slots[k] for k in KERAS_ORDER if k in slots] for module, slots in by_module.items()}


def module_arrays(variables) -> dict[str, list[Any]]:
  """Module path -> its arrays in Keras weight order."""
  leaves = _leaves(variables)
  return {module: [leaves[k] for k in keys] for module, keys in module_slots(variables).items()}


def replace_modules(variables, modules: dict[str, list[np.ndarray]]) -> dict:
  """A copy of `variables` with the listed modules' arrays replaced (cast to the leaves' dtypes)."""
  leaves = _leaves(variables)
  slots = module_slots(variables)
  for module, arrays in modules.items():
    for key, array in zip(slots[module], arrays):
      leaves[key] = np.asarray(array, dtype=leaves[key].dtype)
  by_collection: dict[str, dict] = {collection: {} for collection in variables}
  for (collection, *path), leaf in leaves.items():
    by_collection.setdefault(collection, {})[tuple(path)] = leaf
  return {collection: flax.traverse_util.unflatten_dict(flat) for collection, flat in by_collection.items()}


def _shape(shape) -> str:
  return "(" + ",".join(str(d) for d in shape) + ")"


@dataclass
class Problems:
  """Collects what is wrong with a conversion so that the user sees it all at once, not one by one."""

  missing: list[str] = field(default_factory=list)
  extra: list[str] = field(default_factory=list)
  misshaped: list[str] = field(default_factory=list)

  def add_misshaped(self, name: str, file_shapes, model_shapes) -> None:
    file_text = " ".join(_shape(s) for s in file_shapes) or "no arrays"
    model_text = " ".join(_shape(s) for s in model_shapes)
    self.misshaped.append(f"{name} {file_text} vs {model_text}")

  def raise_if_any(self, context: str) -> None:
    parts = [
      f"{label}: {', '.join(names)}"
      for label, names in (("missing", self.missing), ("extra", self.extra), ("mis-shaped", self.misshaped))
      if names
    ]
    if parts:
      raise WeightsError(f"{context}: {'; '.join(parts)}")


def _shapes(arrays):
  return [tuple(a.shape) for a in arrays]


def _by_part(paths) -> dict[str, set[str]]:
  parts: dict[str, set[str]] = {}
  for path in paths:
    parts.setdefault(path.split("/")[0], set()).add(path)
  return parts


def fill(variables, source: Mapping[str, list], source_names: Mapping[str, str], problems: Problems):
  """Returns (new variables, loaded module paths, parts left as given, names of the source's
  modules the model does not take), following the coverage rule; missing and mis-shaped modules
  go to `problems`. `source_names` gives the source's own layer names (Keras names) for messages."""
  target = module_arrays(variables)
  target_parts, source_parts = _by_part(target), _by_part(source)
  required = "features" if "features" in target_parts else "head"
  loaded, kept = {}, []
  for part, paths in target_parts.items():
    offered = source_parts.get(part, set())
    if part != required and not (offered and offered <= paths):
      kept.append(part)
      continue
    problems.missing += [p for p in target if p in paths and p not in source]
    for path in [p for p in target if p in paths and p in source]:
      if _shapes(source[path]) != _shapes(target[path]):
        name = source_names[path]
        label = path if name in (path, path.split("/")[-1]) else f"{path} [{name}]"
        problems.add_misshaped(label, _shapes(source[path]), _shapes(target[path]))
      else:
        loaded[path] = source[path]
  unused = [source_names[path] for path in source if path not in loaded]
  return replace_modules(variables, loaded), list(loaded), kept, unused


def read_workdir(path) -> Source:
  """A dclf workdir as a weight source (`init_from` may name one): its latest checkpoint."""
  try:
    config, variables = checkpoint.load_variables(path)
  except (FileNotFoundError, ValueError) as e:
    raise WeightsError(f"{path}: not a dclf workdir with a checkpoint ({e})") from None
  has_batch_norm = bool(variables.get("batch_stats"))
  bn_epsilon = config.get("bn_epsilon") if has_batch_norm else None
  modules = module_arrays(variables)
  mode = config.get("preprocess")
  return Source(
    f"dclf workdir of {config.get('model', 'an unknown model')}",
    modules,
    {path: path for path in modules},
    [],
    [],
    bn_epsilon,
    families.Preprocessing(mode, "what the workdir's run was fed") if mode else None,
  )


@dataclass(frozen=True)
class Conversion:
  """The filled variables and what the conversion found out on the way."""

  variables: dict
  source: str  # what the file holds, and its layout
  bn_epsilon: float | None  # epsilon the loaded BatchNorm statistics need (None: no BatchNorm loaded)
  preprocessing: families.Preprocessing | None  # the pixels the loaded weights were trained on
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


def _finite(array) -> bool:
  array = np.asarray(array)
  return not np.issubdtype(array.dtype, np.floating) or bool(np.isfinite(array).all())


def convert(path, variables, model_label: str = "the model") -> Conversion:
  """Fills `variables` from `path`; every problem is reported at once in one WeightsError."""
  found = _read(path)
  problems = Problems(extra=list(found.extra))
  new_variables, loaded, kept, unplaced = fill(variables, found.modules, found.names, problems)
  problems.raise_if_any(f"{path} ({found.description}) does not fit {model_label}")
  non_finite = [found.names[module] for module in loaded if not all(map(_finite, found.modules[module]))]
  if non_finite:
    more = f" and {len(non_finite) - 3} more" if len(non_finite) > 3 else ""
    raise WeightsError(f"{path} holds NaN or infinite weights in {', '.join(non_finite[:3])}{more}")
  slots = module_slots(variables)
  loaded_batch_norm = any(key[0] == "batch_stats" for path in loaded for key in slots[path])
  return Conversion(
    new_variables,
    found.description,
    found.bn_epsilon if loaded_batch_norm else None,
    found.preprocessing,
    loaded,
    kept,
    sorted(found.unused + unplaced),
  )


def load(path, model_name: str, variables, *, bn_epsilon: float | None = None, preprocess: str | None = None) -> dict:
  """`variables` of model `model_name` with what `path` provides (a Keras .h5 / .weights.h5 file
  or a dclf workdir); parts the file does not cover stay as given. With `bn_epsilon` (the model's),
  a file whose BatchNorm statistics need another epsilon is an error, not a silent mismatch. With
  `preprocess` (the run's), a file trained on other pixels is logged as a warning: fine-tuning on
  other pixels can be meant, but it is rarely what a user holding the original's file wants."""
  if model_name not in models.MODELS:
    raise WeightsError(f"unknown model {model_name!r}; known: {', '.join(sorted(models.MODELS))}")
  result = convert(path, variables, model_name)
  if bn_epsilon is not None and result.bn_epsilon is not None and not math.isclose(bn_epsilon, result.bn_epsilon):
    raise WeightsError(
      f"{path} holds BatchNorm statistics for epsilon {result.bn_epsilon:g} but {model_name} "
      f"uses {bn_epsilon:g}: set config.bn_epsilon={result.bn_epsilon:g}"
    )
  log.info("%s: loaded %d layers into %s from %s", path, len(result.loaded), model_name, result.source)
  trained_on = result.preprocessing
  if preprocess is not None and trained_on is not None and trained_on.mode != preprocess:
    log.warning(
      "%s: %s (preprocess %s), but this run preprocesses %s; --config.preprocess=%s feeds it what it was trained on",
      path,
      trained_on.why,
      trained_on.mode,
      preprocess,
      trained_on.mode,
    )
  if result.kept:
    log.info("%s: not in the file, kept as given: %s", path, ", ".join(result.kept))
  if result.unused:
    log.info("%s: unused: %s", path, ", ".join(result.unused))
  return result.variables
