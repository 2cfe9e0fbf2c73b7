"""Filter lookup by name, with the poster's parameters as defaults (those the original generator,
d-roland/distortionClassfication's DistortImage.java, passes to the JH Labs filters)."""

import inspect

from dclf.distort.convolve import gaussian_blur, motion_blur
from dclf.distort.noise import color_noise, mono_noise
from dclf.distort.warp import marble, ripple, twirl

FILTERS = {
  "gaussian_blur": gaussian_blur,
  "motion_blur": motion_blur,
  "color_noise": color_noise,
  "mono_noise": mono_noise,
  "marble": marble,
  "ripple": ripple,
  "twirl": twirl,
}


def _filter(name: str):
  try:
    return FILTERS[name]
  except (KeyError, TypeError):
    raise ValueError(f"unknown filter {name!r}; valid: {', '.join(FILTERS)}") from None


def defaults(name: str) -> dict:
  """The poster's parameter values of filter ``name`` (its keyword defaults, seed excluded)."""
  params = inspect.signature(_filter(name)).parameters
  return {k: p.default for k, p in params.items() if p.kind is p.KEYWORD_ONLY and k != "seed"}


def apply(name: str, image, *, seed=0, **params):
  """Run filter ``name`` on ``image``; unknown names or parameters raise ValueError."""
  fn = _filter(name)
  valid = defaults(name)
  unknown = sorted(set(params) - set(valid))
  if unknown:
    raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for {name}; valid: {', '.join(valid)}")
  return fn(image, seed=seed, **params)
