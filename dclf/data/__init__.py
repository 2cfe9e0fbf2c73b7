"""Datasets of dclf as tensorflow-datasets builders, built and read without TensorFlow.

Importing this package registers the tfds builders `distortions` and `live_iqa`, so
`tfds.data_source("distortions/blur_noise_sample", data_dir=D)` works. Build with
`python -m dclf.data build NAME --data_dir D`; read with `get_source`.
"""

from dclf.data import tfds_compat

tfds_compat.install()

from dclf.data.building import build, get_source  # noqa: E402
from dclf.data.catalog import all_names, class_names  # noqa: E402  (registers the builders)

__all__ = ["all_names", "build", "class_names", "get_source"]
