"""The distortions dataset's configs: which recipe, which photos, how many, which split."""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds

from dclf.data.distortions import recipes
from dclf.labels import MULTILABEL_AXES

TRANSFER_SPLIT = (0.85, 0.075, 0.075)  # the poster's transfer models (vgg16_transfer, sgdnet)
SCRATCH_SPLIT = (0.95, 0.025, 0.025)  # the poster's scratch and softmax models
POSTER_IMAGES_PER_DATASET = 200_000


@dataclasses.dataclass(eq=False, kw_only=True)
class DistortionsConfig(tfds.core.BuilderConfig):
  """One dataset variant.

  recipe: what each source becomes (see recipes.py). photos: "manual" (ImageNet train tar
  or a folder in manual_dir, split by split_fractions) or a set of scikit-image's bundled
  photos ("sample", "sample_plus": `sample_photos.PHOTO_SETS`, split by photo). num_sources: source photos used (for "sample": windows), so
  examples = num_sources x classes. seed: severities,
  noise and sample windows. jpeg_quality: the JPEG round trip every output went through in
  the original (Java ImageIO, quality 0.75); None keeps the filters' exact output.
  clean_train: the train split holds each source once, as its clean reference crop, for training
  with `config.distort_on_device` (the train step distorts it on the device); validation and test
  hold the recipe's examples made as the train step makes them: the JPEG round trip on the clean
  crop, then the filters (the same sources, severities and noise seeds as the config without it).
  native_share: for sample photos, the share of the train windows cut at 224, the photo's own
  pixels, instead of a random size shrunk to 224 (`sample_photos.windows_by_split`): a model that
  predicts in windows at a photo's own scale (`dclf.photos`) then trains at that scale too.
  """

  recipe: str
  photos: str = "manual"
  split_fractions: tuple[float, float, float] = TRANSFER_SPLIT
  num_sources: int
  seed: int = 0
  jpeg_quality: int | None = 75
  clean_train: bool = False
  native_share: float = 0.0

  @property
  def class_names(self) -> tuple[str, ...]:
    return recipes.RECIPE_CLASSES[self.recipe]

  @property
  def label_names(self) -> tuple[str, ...]:
    """The axes of the multi-hot `labels` feature (multi-label recipes only)."""
    return MULTILABEL_AXES if self.recipe == "blur_noise_multilabel" else ()

  @property
  def needs_manual_dir(self) -> bool:
    return self.photos == "manual"


def _poster_size(recipe: str) -> int:
  """Sources giving the poster's 200k images: 200000 / number of classes."""
  return POSTER_IMAGES_PER_DATASET // len(recipes.RECIPE_CLASSES[recipe])


CONFIGS = (
  DistortionsConfig(
    name="blur_noise",
    description="reference / blur / noise from ImageNet photos; 85/7.5/7.5 split (the poster's transfer models).",
    recipe="blur_noise",
    num_sources=_poster_size("blur_noise"),
  ),
  DistortionsConfig(
    name="blur_noise_split95",
    description="blur_noise with the 95/2.5/2.5 split of the poster's scratch and softmax "
    "models (same examples, other split).",
    recipe="blur_noise",
    split_fractions=SCRATCH_SPLIT,
    num_sources=_poster_size("blur_noise"),
  ),
  DistortionsConfig(
    name="blur_noise_clean",
    description="blur_noise with a clean train split (each photo once, its reference crop) for "
    "config.distort_on_device; validation and test as blur_noise, JPEG round trip before the filters.",
    recipe="blur_noise",
    num_sources=_poster_size("blur_noise"),
    clean_train=True,
  ),
  DistortionsConfig(
    name="six_distortions",
    description="reference + six JH Labs distortions with fixed parameters, from ImageNet.",
    recipe="six_distortions",
    num_sources=_poster_size("six_distortions"),
  ),
  DistortionsConfig(
    name="blur_noise_multilabel",
    description="reference, blur, noise and blur+noise (either order) with a multi-hot "
    "(blur, noise) label, from ImageNet.",
    recipe="blur_noise_multilabel",
    num_sources=_poster_size("blur_noise_multilabel"),
  ),
  DistortionsConfig(
    name="blur_noise_sample",
    description="blur_noise on windows of scikit-image's bundled colour photos; builds "
    "offline in about a minute. Split by photo.",
    recipe="blur_noise",
    photos="sample",
    num_sources=1080,
  ),
  DistortionsConfig(
    name="blur_noise_clean_sample",
    description="blur_noise_sample with a clean train split (each window once, its reference crop) "
    "for config.distort_on_device; validation and test as blur_noise_sample, JPEG round trip before the filters.",
    recipe="blur_noise",
    photos="sample",
    num_sources=1080,
    clean_train=True,
  ),
  DistortionsConfig(
    name="blur_noise_clean_sample_plus",
    description="blur_noise_clean_sample with two grey textures (grass, brick) added to the train "
    "split and half of its windows cut at 224, the photos' own pixels (the scale dclf.predict looks "
    "at): the quickstart's photos (configs/quickstart.py); validation and test as blur_noise_clean_sample.",
    recipe="blur_noise",
    photos="sample_plus",
    num_sources=1320,
    clean_train=True,
    native_share=0.5,
  ),
  DistortionsConfig(
    name="six_distortions_sample",
    description="six_distortions on windows of scikit-image's bundled colour photos.",
    recipe="six_distortions",
    photos="sample",
    num_sources=450,
  ),
  DistortionsConfig(
    name="blur_noise_multilabel_sample",
    description="blur_noise_multilabel on windows of scikit-image's bundled colour photos.",
    recipe="blur_noise_multilabel",
    photos="sample",
    num_sources=630,
  ),
)
