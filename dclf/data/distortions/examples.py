"""Turns one source photo into its finished examples; runs inside the worker processes."""

from __future__ import annotations

import dataclasses

import numpy as np

from dclf import distort
from dclf.data import imaging
from dclf.data.distortions import recipes
from dclf.data.sample_photos import SampleWindow, load_window
from dclf.data.sources import SourceRef, read_bytes


@dataclasses.dataclass(frozen=True)
class Job:
  """What every source of one build shares: the recipe, its seed, the JPEG quality, whether the
  JPEG round trip comes before the filters (on the clean crop, as `config.distort_on_device` trains)
  instead of after them (as the original saved), and whether a source gives its reference example
  only (a clean train split)."""

  recipe: str
  seed: int
  jpeg_quality: int | None
  jpeg_first: bool = False
  reference_only: bool = False


@dataclasses.dataclass
class SourceOutcome:
  """The (key, features) pairs of one source, or why it was skipped; conversions applied."""

  source_id: str
  examples: list[tuple[str, dict]]
  skipped: str | None = None
  conversions: tuple[str, ...] = ()


def make_examples(job: Job, ref: SourceRef | SampleWindow) -> SourceOutcome:
  """Decode, crop to 224, then one example per class. Undecodable sources are skipped."""
  try:
    photo, conversions = load_source(ref)
  except imaging.UnreadableSource as error:
    return SourceOutcome(ref.source_id, [], skipped=error.reason)
  crop = imaging.resize_shorter_and_centre_crop(photo)
  jpeg_after = job.jpeg_quality
  if job.jpeg_first and job.jpeg_quality is not None:
    crop, jpeg_after = imaging.jpeg_roundtrip(crop, job.jpeg_quality), None
  examples = []
  plans = recipes.plan_source(job.recipe, job.seed, ref.source_id)
  for plan in plans[:1] if job.reference_only else plans:
    features = _features(job, plan, render(plan, crop, jpeg_after), ref.source_id)
    examples.append((f"{ref.source_id}:{plan.class_name}", features))
  return SourceOutcome(ref.source_id, examples, conversions=conversions)


def load_source(ref: SourceRef | SampleWindow) -> tuple[np.ndarray, tuple[str, ...]]:
  if isinstance(ref, SampleWindow):
    return load_window(ref), ()
  try:
    data = read_bytes(ref)
  except OSError as error:
    raise imaging.UnreadableSource("unreadable", str(error)) from None
  return imaging.decode_photo(data)


def render(plan: recipes.ExamplePlan, crop: np.ndarray, jpeg_quality: int | None) -> np.ndarray:
  """Applies the plan's filters in order, then the JPEG round trip the original saved with."""
  image = crop
  for step in plan.steps:
    image = distort.apply(step.filter, image, seed=step.seed, **step.params)
  if jpeg_quality is not None:
    image = imaging.jpeg_roundtrip(image, jpeg_quality)
  return image


def _features(job: Job, plan: recipes.ExamplePlan, image: np.ndarray, source_id: str) -> dict:
  features = {
    "image": imaging.encode_png(image),
    "label": plan.class_name,
    "distortion": plan.class_name,
    "radius": np.float32(plan.radius),
    "amount": np.float32(plan.amount),
    "density": np.float32(plan.density),
    "source_id": source_id,
  }
  if job.recipe == "blur_noise_multilabel":
    features["labels"] = plan.multi_hot
    features["order"] = plan.order
  return features
