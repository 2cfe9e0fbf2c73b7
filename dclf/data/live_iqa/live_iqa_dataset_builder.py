"""tfds builder `live_iqa`: LIVE Release 2 as a 3-class (reference / blur / noise) test set."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from dclf.data import imaging
from dclf.data.builder_base import ArrayRecordBuilder, OrderedPool, manual_dir
from dclf.data.live_iqa import layout
from dclf.errors import DataError
from dclf.labels import BLUR_NOISE_CLASSES

MANUAL_INSTRUCTIONS = """\
LIVE Image Quality Assessment Database Release 2 is distributed by request only:
  1. Fill in the request form linked from https://live.ece.utexas.edu/research/quality/subjective.htm
     (Laboratory for Image and Video Engineering, The University of Texas at Austin); the lab
     emails a download link and password.
  2. Unpack it so that manual_dir holds databaserelease2/ (or is that folder): refimgs/, wn/,
     gblur/ (jp2k/, jpeg/, fastfading/ are not used), dmos.mat, refnames_all.mat.
Then: python -m dclf.data build live_iqa/blur_noise --data_dir D --manual_dir M
"""

PREPROCESSORS = {
  "centre_crop": imaging.resize_shorter_and_centre_crop,
  "pad_resize": imaging.pad_to_square_and_resize,
}


@dataclasses.dataclass(eq=False, kw_only=True)
class LiveConfig(tfds.core.BuilderConfig):
  """preprocessing: 'centre_crop' (the poster's recipe) or 'pad_resize' (the original code's)."""

  preprocessing: str

  class_names = BLUR_NOISE_CLASSES
  label_names = ()  # single-label only
  needs_manual_dir = True


class Builder(ArrayRecordBuilder):
  """The 29 references, 145 Gaussian-blur and 145 white-noise images of LIVE, at 224x224."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = [
    LiveConfig(
      name="blur_noise",
      description="shorter side to 224 (bicubic), central 224x224 crop.",
      preprocessing="centre_crop",
    ),
    LiveConfig(
      name="blur_noise_pad_resize",
      description="zero-pad to a centred square, bilinear resize to 224x224 (the original evaluation script).",
      preprocessing="pad_resize",
    ),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_INSTRUCTIONS

  def _info(self) -> tfds.core.DatasetInfo:
    size = imaging.CROP_SIZE
    return self.dataset_info_from_configs(
      features=tfds.features.FeaturesDict(
        {
          "image": tfds.features.Image(shape=(size, size, 3), encoding_format="png"),
          "label": tfds.features.ClassLabel(names=BLUR_NOISE_CLASSES),
          "distortion": tfds.features.Text(),
          "sigma": tfds.features.Scalar(
            np.float32,
            doc="info.txt parameter: blur std in px (gblur), noise std on a 0..1 scale (wn); 0 for references",
          ),
          "dmos": tfds.features.Scalar(np.float32, doc="dmos.mat score; 0 for references"),
          "reference": tfds.features.Text(doc="reference image name, e.g. bikes.bmp"),
          "filename": tfds.features.Text(doc="path inside databaserelease2/"),
        }
      ),
      supervised_keys=("image", "label"),
      homepage="https://live.ece.utexas.edu/research/quality/subjective.htm",
    )

  def _split_generators(self, dl_manager):
    root = manual_dir(dl_manager, self.name, MANUAL_INSTRUCTIONS)
    release = layout.find_release(root)
    return {"test": self._generate_examples(release, layout.list_images(release))}

  def _generate_examples(self, release: Path, images: list[layout.LiveImage]):
    preprocess = PREPROCESSORS[self.builder_config.preprocessing]
    encode = functools.partial(_encode, release, preprocess)
    with OrderedPool(self.workers) as pool:
      for image, encoded in zip(images, pool.map(encode, images, desc=self.name)):
        yield (
          image.filename,
          {
            "image": encoded,
            "label": image.label,
            "distortion": image.label,
            "sigma": np.float32(image.sigma),
            "dmos": np.float32(image.dmos),
            "reference": image.reference,
            "filename": image.filename,
          },
        )


def _encode(release: Path, preprocess, image: layout.LiveImage) -> bytes:
  """Decode one BMP, preprocess it to 224x224, PNG-encode it (runs in a worker)."""
  try:
    rgb, _ = imaging.decode_photo((release / image.filename).read_bytes())
  except (OSError, imaging.UnreadableSource) as error:
    raise DataError(f"LIVE: cannot read {release / image.filename}: {error}") from None
  return imaging.encode_png(preprocess(rgb))
