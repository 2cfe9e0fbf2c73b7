"""Datasets of dclf as tensorflow-datasets builders, built and read without TensorFlow.

`dclf.data.catalog` registers the tfds builders `distortions` and `live_iqa`, so
`tfds.data_source("distortions/blur_noise_sample", data_dir=D)` works once it is imported. Build
with `python -m dclf.data build NAME --data_dir D`; read with `get_source`.

`build`, `get_source`, `all_names` and `class_names` are imported on first use: tfds takes
seconds to import, and `dclf.data.imaging` (photo decoding, for `dclf.predict`) needs none of it.
"""

import importlib

_EXPORTS = {"build": "building", "get_source": "building", "all_names": "catalog", "class_names": "catalog"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
  if name not in _EXPORTS:
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
  return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
