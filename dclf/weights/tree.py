"""dclf variables seen as modules: module path -> arrays in Keras weight order, and back.

Flax keeps a conv or dense layer as `params/<path>/{kernel, bias}` and a BatchNorm layer as
`params/<path>/{scale, bias}` plus `batch_stats/<path>/{mean, var}`; Keras keeps the same arrays
as [kernel, bias] and [gamma, beta, moving_mean, moving_variance] with the same shapes (HWIO
conv kernels, (in, out) dense kernels). Listing each module's leaves in `KERAS_ORDER` makes the
two lists line up, so no layer type needs its own converter.
"""

from typing import Any

import flax
import numpy as np

KERAS_ORDER = (("params", "kernel"), ("params", "scale"), ("params", "bias"),
               ("batch_stats", "mean"), ("batch_stats", "var"))


def _leaves(variables) -> dict[tuple[str, ...], Any]:
  return {(collection, *path): leaf for collection in ("params", "batch_stats")
          for path, leaf in flax.traverse_util.flatten_dict(dict(variables.get(collection, {}))).items()}


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
