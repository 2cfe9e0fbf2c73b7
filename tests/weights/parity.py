"""Helpers for comparing dclf models with their Keras references."""

import functools

import flax.linen as nn
import jax
import numpy as np

from dclf import models
from dclf.models.network import Network
from dclf.models.resnet import ResNet50V1

TOLERANCE = 1e-4  # relative, float32


def zero_variables(model, image_size):
  """Variables of the right shapes without running initialisers (slow to compile on a CPU); what
  a test does not load stays zero."""
  return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), models.init_shapes(model, image_size))


def random_images(n, image_size, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (n, image_size, image_size, 3)).astype(np.uint8)


def relative_error(ours, reference) -> float:
  """max |ours - reference| / max |reference|: relative to the output's scale, stable near zero."""
  ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
  assert ours.shape == reference.shape, (ours.shape, reference.shape)
  assert np.abs(reference).max() > 0, "an all-zero reference proves nothing"
  return float(np.abs(ours - reference).max() / np.abs(reference).max())


def assert_parity(label, ours, reference, tolerance=TOLERANCE):
  """Asserts and prints the measured error (`pytest -s ... | grep PARITY` lists them)."""
  error = relative_error(ours, reference)
  print(f"PARITY {label}: {error:.1e}")
  assert error <= tolerance, f"{label}: relative error {error:.2e} > {tolerance:.0e}"


class _Backbone(nn.Module):
  bn_epsilon: float

  @nn.compact
  def __call__(self, x, train=False):
    return ResNet50V1(bn_epsilon=self.bn_epsilon, name="backbone")(x, train=train)


class _NoHead(nn.Module):
  @nn.compact
  def __call__(self, x, train=False):
    return x


@functools.cache
def compiled(name, bn_epsilon=1e-3):
  """(model, jitted `(variables, x) -> (outputs, features)`) for a registry model, or for
  `resnet50`: a bare ResNet50V1 under `features/backbone`, where SGDNet keeps it. Cached: each
  compilation of a ResNet50 takes seconds on a CPU."""
  if name == "resnet50":
    model = Network(features=_Backbone(bn_epsilon), head=_NoHead())
  else:
    model = models.create_model(name, num_classes=3, bn_epsilon=bn_epsilon)

  def run(variables, x):
    outputs, state = model.apply(
      variables, x, capture_intermediates=lambda m, _: m.name == "features", mutable=["intermediates"]
    )
    captured = state.get("intermediates", {})
    return outputs, captured["features"]["__call__"][0] if "features" in captured else None

  return model, jax.jit(run)
