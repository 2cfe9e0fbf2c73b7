"""What each source photo turns into: one example plan per class, with its severities.

Plans are pure functions of (config seed, source id), so any process, in any order, on any
machine draws the same severities and noise seeds for a photo.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from dclf.distort.severities import BLUR_RADIUS, NOISE_AMOUNT, NOISE_DENSITY
from dclf.labels import BLUR_NOISE_CLASSES, MULTILABEL_AXES, MULTILABEL_CLASSES, SIX_DISTORTIONS_CLASSES

# The six_distortions parameters, fixed for every image: those the original generator passes to the
# JH Labs filters (d-roland/distortionClassfication, java/DistortImage/src/image/DistortImage.java),
# in JH Labs units: radians for angles, 0..255 for noise amounts.
SIX_DISTORTIONS_PARAMS = {
  "gaussian_blur": {"radius": 10.0},
  "motion_blur": {"distance": 50.0, "angle": 90.0, "rotation": 0.0, "zoom": 0.0},
  "color_noise": {"amount": 25, "density": 1.0},
  "mono_noise": {"amount": 25, "density": 1.0},
  "marble": {"x_scale": 20.0, "y_scale": 20.0, "amount": 100.0, "turbulence": 5.0},
  "twirl": {"angle": 3.0, "centre_x": 0.5, "centre_y": 0.5, "radius": 250.0},
}

RECIPE_CLASSES = {
  "blur_noise": BLUR_NOISE_CLASSES,
  "six_distortions": SIX_DISTORTIONS_CLASSES,
  "blur_noise_multilabel": MULTILABEL_CLASSES,
}


@dataclasses.dataclass(frozen=True)
class Step:
  """One call `dclf.distort.apply(filter, image, seed=seed, **params)`."""

  filter: str
  params: dict
  seed: int = 0


@dataclasses.dataclass(frozen=True)
class ExamplePlan:
  """One output image: its class, the filters applied in order, and the severity features."""

  class_name: str
  steps: tuple[Step, ...] = ()
  radius: float = 0.0
  amount: float = 0.0
  density: float = 0.0

  @property
  def order(self) -> str:
    """Comma-separated blur/noise application order ('' for a reference)."""
    return ",".join("blur" if step.filter == "gaussian_blur" else "noise" for step in self.steps)

  @property
  def multi_hot(self) -> np.ndarray:
    """1 per axis of MULTILABEL_AXES that this image carries."""
    carried = self.order.split(",")
    return np.array([axis in carried for axis in MULTILABEL_AXES], np.uint8)


def source_rng(seed: int, source_id: str) -> np.random.Generator:
  """A generator owned by one (config seed, source) pair."""
  digest = hashlib.sha256(source_id.encode()).digest()
  words = np.frombuffer(digest, dtype="<u4").tolist()
  return np.random.default_rng(np.random.SeedSequence([seed, *words]))


def plan_source(recipe: str, seed: int, source_id: str) -> list[ExamplePlan]:
  """The example plans of one source photo for a recipe (one per class, reference first)."""
  rng = source_rng(seed, source_id)
  if recipe == "blur_noise":
    return [ExamplePlan("reference"), _blur(rng), _noise(rng)]
  if recipe == "six_distortions":
    return _six_distortions(rng, seed)
  if recipe == "blur_noise_multilabel":
    singles = [ExamplePlan("reference"), _blur(rng), _noise(rng)]
    return singles + [_blur_and_noise(rng)]
  raise ValueError(f"unknown recipe {recipe!r}; known: {sorted(RECIPE_CLASSES)}")


def _blur(rng: np.random.Generator) -> ExamplePlan:
  """GaussianFilter radius ~ U[1, 11)."""
  radius = float(rng.uniform(*BLUR_RADIUS))
  return ExamplePlan("blur", (Step("gaussian_blur", {"radius": radius}),), radius=radius)


def _noise(rng: np.random.Generator) -> ExamplePlan:
  """Colour gaussian NoiseFilter, amount ~ integer U[1, 26], density ~ U[0.1, 1.1)."""
  amount = int(rng.integers(NOISE_AMOUNT[0], NOISE_AMOUNT[1] + 1))
  density = float(rng.uniform(*NOISE_DENSITY))
  noise_seed = int(rng.integers(2**31))
  step = Step("color_noise", {"amount": amount, "density": density}, noise_seed)
  return ExamplePlan("noise", (step,), amount=amount, density=density)


def _blur_and_noise(rng: np.random.Generator) -> ExamplePlan:
  """Both distortions, fresh severities, applied in a random order."""
  blur, noise = _blur(rng), _noise(rng)
  steps = blur.steps + noise.steps if rng.random() < 0.5 else noise.steps + blur.steps
  return ExamplePlan("blur_and_noise", steps, radius=blur.radius, amount=noise.amount, density=noise.density)


def _six_distortions(rng: np.random.Generator, seed: int) -> list[ExamplePlan]:
  """Fixed parameters. Noise draws per image; one marble field per build, as in the original.

  The Java generator's marble Perlin table was drawn once per JVM run, so all marble images
  of a run shared one displacement field; seeding marble with the config seed does the same.
  """
  seeds = {name: seed for name in SIX_DISTORTIONS_PARAMS}
  seeds["color_noise"] = int(rng.integers(2**31))
  seeds["mono_noise"] = int(rng.integers(2**31))
  plans = [ExamplePlan("reference")]
  for name, params in SIX_DISTORTIONS_PARAMS.items():
    is_noise = name.endswith("_noise")
    plans.append(
      ExamplePlan(
        name,
        (Step(name, dict(params), seeds[name]),),
        radius=params["radius"] if name == "gaussian_blur" else 0.0,
        amount=params["amount"] if is_noise else 0.0,
        density=params["density"] if is_noise else 0.0,
      )
    )
  return plans
