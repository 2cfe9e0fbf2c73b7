"""Keras weight files (HDF5) -> dclf variables, checked; and the `python -m dclf.weights` CLI.

  variables = dclf.weights.load("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                                "vgg16_transfer", init_variables)

See docs/weights.md for the supported files and the mapping rules.
"""

import importlib

from dclf.errors import WeightsError

__all__ = ["Conversion", "WeightsError", "convert", "load"]
_CONVERSION = ("Conversion", "convert", "load")


def __getattr__(name: str):
  """`convert`, `load` and `Conversion` (dclf.weights.conversion) import flax and orbax: they load
  when first asked for, so that `python -m dclf.weights --help` answers at once."""
  if name in _CONVERSION:
    return getattr(importlib.import_module("dclf.weights.conversion"), name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
