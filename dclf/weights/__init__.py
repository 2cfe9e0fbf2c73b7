"""Keras weight files (HDF5) -> dclf variables, checked; and the `python -m dclf.weights` CLI.

  variables = dclf.weights.load("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                                "vgg16_transfer", init_variables)

See docs/weights.md for the supported files and the mapping rules.
"""

from dclf.errors import WeightsError
from dclf.weights.convert import Conversion, convert, load

__all__ = ["Conversion", "WeightsError", "convert", "load"]
