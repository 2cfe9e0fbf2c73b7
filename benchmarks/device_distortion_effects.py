"""What the on-device distortions change against the pre-built datasets, measured on trained runs.

    PYTHONPATH=. python benchmarks/device_distortion_effects.py W1 [W2 ...] [--num_sources 1080]

Rebuilds the test split of `distortions/blur_noise_sample` (the same windows, severities and noise
seeds as the build) in four ways and prints each workdir's accuracy (and recall per class) on each:

- `prebuilt`: the NumPy port of the JH Labs filters, then the JPEG round trip at quality 75 (the
  original's save): blur_noise_sample's test split.
- `no_jpeg`: the same filters, no JPEG round trip after them.
- `jpeg_first`: the JPEG round trip on the clean crop, then the filters: what a run with
  `config.distort_on_device` trains on (its clean train split holds the JPEG'd reference crops),
  and blur_noise_clean_sample's test split.
- `jax_first`: as `jpeg_first` with the JAX filters (`dclf.distort.jax_ops`, the train step's);
  the noise draws come from a JAX key, so they are other draws of the same distribution.

It also prints how far the JAX blur is from the NumPy port on these images (grey levels).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from dclf.data import imaging, sample_photos
from dclf.data.distortions import configs, examples, recipes
from dclf.distort import jax_ops
from dclf.inference import Predictor
from dclf.labels import BLUR_NOISE_CLASSES

JPEG_QUALITY = 75


def _jax_render(plan: recipes.ExamplePlan, crop: np.ndarray, key) -> np.ndarray:
  image = jnp.asarray(crop)
  for step in plan.steps:
    if step.filter == "gaussian_blur":
      image = jax_ops.gaussian_blur(image, step.params["radius"])
    else:
      image = jax_ops.noise(image, jax.random.fold_in(key, step.seed), step.params["amount"], step.params["density"])
  return np.asarray(image)


def test_variants(num_sources: int) -> tuple[dict[str, np.ndarray], np.ndarray, dict]:
  """{variant: uint8 images}, labels, and the JAX blur's distance to the NumPy port."""
  config = next(c for c in configs.CONFIGS if c.name == "blur_noise_sample")
  variants = {name: [] for name in ("prebuilt", "no_jpeg", "jpeg_first", "jax_first")}
  labels, blur_diffs = [], []
  key = jax.random.key(0, impl="threefry2x32")
  for window in sample_photos.windows_by_split(num_sources, config.seed)["test"]:
    crop = imaging.resize_shorter_and_centre_crop(sample_photos.load_window(window))
    jpeg_crop = imaging.jpeg_roundtrip(crop, JPEG_QUALITY)
    for plan in recipes.plan_source(config.recipe, config.seed, window.source_id):
      variants["prebuilt"].append(examples.render(plan, crop, JPEG_QUALITY))
      variants["no_jpeg"].append(examples.render(plan, crop, None))
      numpy_first = examples.render(plan, jpeg_crop, None)
      variants["jpeg_first"].append(numpy_first)
      variants["jax_first"].append(_jax_render(plan, jpeg_crop, key))
      if plan.class_name == "blur":
        blur_diffs.append(np.abs(variants["jax_first"][-1].astype(int) - numpy_first.astype(int)))
      labels.append(BLUR_NOISE_CLASSES.index(plan.class_name))
  diffs = np.stack(blur_diffs)
  distance = {"max": int(diffs.max()), "share_differing": float((diffs > 0).mean())}
  return {name: np.stack(images) for name, images in variants.items()}, np.array(labels), distance


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("workdirs", nargs="+")
  parser.add_argument("--num_sources", type=int, default=1080, help="windows of the sample (the build's default)")
  args = parser.parse_args(argv)
  variants, labels, distance = test_variants(args.num_sources)
  print(
    f"JAX blur vs the NumPy port on the {int((labels == 1).sum())} blur images: max {distance['max']} grey level(s), "
    f"{100 * distance['share_differing']:.4f} % of values differ"
  )
  print("| workdir | test variant | accuracy | " + " | ".join(f"{c} recall" for c in BLUR_NOISE_CLASSES) + " |")
  print("|---|---|---:|" + "---:|" * len(BLUR_NOISE_CLASSES))
  for workdir in args.workdirs:
    predictor = Predictor(workdir)
    order = np.array([predictor.names.index(c) for c in BLUR_NOISE_CLASSES])
    for name, images in variants.items():
      predicted = order.argsort()[predictor.predict(images).argmax(axis=1)]
      recall = [float((predicted[labels == c] == c).mean()) for c in range(len(BLUR_NOISE_CLASSES))]
      accuracy = float((predicted == labels).mean())
      print(f"| {workdir} | {name} | {accuracy:.3f} | " + " | ".join(f"{r:.3f}" for r in recall) + " |")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
