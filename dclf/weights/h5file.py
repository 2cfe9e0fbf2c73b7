"""Reads every Keras HDF5 weight layout into one view: layer name -> arrays in Keras weight order.

- `layer_names` layouts, one reader for all: the old fchollet releases (Keras 1 names such as
  `block1_conv1_W_1:0`, `bn_conv1_running_std:0`), Keras 2 weights-only and full-model files
  (`model_weights/<layer>/<layer>/kernel:0`) and Keras 3 legacy `.h5`. Each layer group lists its
  datasets in the attribute `weight_names`, in the order Keras' own loader assigns them.
- Keras 3 `.weights.h5`: `layers/<class key>/vars/<i>`, the layer's real name in the `name`
  attribute of `vars`. Class keys number the layers of one class in model order (`conv2d`,
  `conv2d_1`, ..., `conv2d_10`), so layers are listed in that numeric order, never lexicographically.

Only h5py touches the file, whatever its extension (SGDNet's full model is an HDF5 file named
`.pkl`): nothing is ever unpickled.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from dclf.errors import WeightsError


@dataclass(frozen=True)
class KerasWeights:
  """The layers that hold weights, in model order (per layer class for `.weights.h5`)."""

  layout: str
  layers: dict[str, list[np.ndarray]]


def _strings(values) -> list[str]:
  return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in np.atleast_1d(values)]


def _attr_strings(group, name: str) -> list[str]:
  """Keras splits attributes over 64 KiB into `name0`, `name1`, ...; this joins them back."""
  if name in group.attrs:
    return _strings(group.attrs[name])
  chunks, i = [], 0
  while f"{name}{i}" in group.attrs:
    chunks += _strings(group.attrs[f"{name}{i}"])
    i += 1
  return chunks


def _read_layer_names(group, layout: str) -> KerasWeights:
  layers = {}
  for name in _attr_strings(group, "layer_names"):
    weight_names = _attr_strings(group[name], "weight_names")
    if weight_names:
      layers[name] = [np.asarray(group[name][w]) for w in weight_names]
  return KerasWeights(layout, layers)


def _class_key_order(key: str):
  prefix, number = re.fullmatch(r"(.*?)(?:_(\d+))?", key).groups()
  return prefix, int(number or 0)


def _read_saving_lib(group) -> KerasWeights:
  layers = {}
  for key in sorted(group["layers"], key=_class_key_order):
    variables = group["layers"][key].get("vars")
    if variables is not None and len(variables):
      name = _strings(variables.attrs.get("name", key))[0]
      layers[name] = [np.asarray(variables[str(i)]) for i in range(len(variables))]
  return KerasWeights("Keras 3 .weights.h5", layers)


def _keras_version(group) -> str:
  version = group.attrs.get("keras_version")
  return f"Keras {_strings(version)[0]}" if version is not None else "Keras 1 (fchollet release)"


def read(path) -> KerasWeights:
  """Reads `path`; anything that is not a Keras HDF5 weight file raises WeightsError."""
  path = Path(path)
  if not path.is_file():
    raise WeightsError(f"{path}: no such file")
  if not h5py.is_hdf5(path):
    raise WeightsError(f"{path}: not an HDF5 file (expected a Keras .h5 or .weights.h5 file)")
  try:
    with h5py.File(path, "r") as f:
      if "model_weights" in f:
        return _read_layer_names(f["model_weights"], f"{_keras_version(f['model_weights'])} full-model .h5")
      if _attr_strings(f, "layer_names"):
        return _read_layer_names(f, f"{_keras_version(f)} weights .h5")
      if "layers" in f:
        return _read_saving_lib(f)
  except (OSError, KeyError, ValueError) as e:
    raise WeightsError(f"{path}: unreadable Keras weight file ({e})") from None
  raise WeightsError(f"{path}: HDF5 file without Keras weights (no layer_names, model_weights or layers)")
