"""Which Keras model a weight file holds, and the dclf module each of its layers fills (a `Source`).

A family describes the layers one Keras model writes. `named` maps its stable layer names to dclf
module paths (None: a layer dclf has no place for, such as VGG16's ImageNet top, reported as
unused). `auto` lists, per auto-named layer class (`conv2d_N`, `dense_N`: the numbers depend on
what else the Keras session had built), the dclf modules those layers fill in model order; the
shape check in `fill` catches a wrong order.

A family also says which pixels its weights were trained on (`Preprocessing`): a pretrained
backbone (Keras' ImageNet VGG16 / ResNet50, SGDNet's release) on its publisher's `caffe` input, a
classifier trained by the poster's code on raw 0..255 RGB (the data generators of
d-roland/distortionClassfication, data/environment*.py, feed every model `imageio.imread`'s pixels
as read). A model fed other pixels than it was trained on computes something else entirely, so
`python -m dclf.weights import` sets `config.preprocess` from here.
"""

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dclf.errors import WeightsError
from dclf.models.resnet import RESNET50_STAGES
from dclf.models.vgg import VGG16_BLOCKS

AUTO_NAME = re.compile(r"(conv2d|dense)(?:_\d+)?")
OLD_KERAS_BN_EPSILON = 1e-3  # BatchNormalization default up to Keras 2 (keras_applications' ResNet50, SGDNet)
KERAS3_RESNET_BN_EPSILON = 1.001e-5  # keras.applications.ResNet50 since keras_applications 1.0.7


@dataclass(frozen=True)
class Preprocessing:
  """The `config.preprocess` mode a source's weights were trained with, and why (for messages)."""

  mode: str
  why: str


PUBLISHER_INPUT = Preprocessing(
  "caffe", "pretrained weights, fed as their publisher fed them: BGR minus ImageNet means"
)
ORIGINAL_INPUT = Preprocessing("raw", "a classifier trained by the original code, which fed it raw 0..255 RGB")


@dataclass(frozen=True)
class Source:
  """What a weight source (a Keras file, a dclf workdir) provides, in dclf's module paths."""

  description: str  # what the source holds, for messages
  modules: dict[str, list[Any]]  # dclf module path -> arrays in Keras weight order
  names: dict[str, str]  # dclf module path -> the source's own name for it (the Keras layer name)
  unused: list[str]  # source layers known to have no place in dclf (VGG16's ImageNet top)
  extra: list[str]  # source layers nobody knows: an error
  bn_epsilon: float | None  # the epsilon its BatchNorm statistics were computed with
  preprocessing: Preprocessing | None  # the pixels its weights were trained on (None: unknown)


@dataclass(frozen=True)
class Family:
  description: str
  signature: str | None  # a layer only this family's files hold; None: recognised by auto layers
  named: Mapping[str, str | None]
  auto: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
  bn_epsilon: float | None = None  # what the file's BatchNorm statistics were trained with
  preprocessing: Preprocessing = PUBLISHER_INPUT  # what the file's weights were trained on


def _vgg16_names():
  return {
    f"block{b}_conv{i}": f"features/block{b}_conv{i}"
    for b, (convs, _) in enumerate(VGG16_BLOCKS, start=1)
    for i in range(1, convs + 1)
  }


def _resnet50_branches():
  """(stage, block letter, block number from 1, branch) of every conv, as resnet.py names them."""
  yield 1, "", 1, ""
  for stage, (blocks, _) in enumerate(RESNET50_STAGES, start=2):
    for i in range(blocks):
      for branch in ("2a", "2b", "2c") + (("1",) if i == 0 else ()):
        yield stage, string.ascii_lowercase[i], i + 1, branch


def _old_resnet50_names(stage, letter, _, branch):
  if stage == 1:
    return "conv1", "bn_conv1"
  return f"res{stage}{letter}_branch{branch}", f"bn{stage}{letter}_branch{branch}"


_KERAS3_BRANCH = {"1": 0, "2a": 1, "2b": 2, "2c": 3}  # shortcut, then the three main-path convs


def _keras3_resnet50_names(stage, _, number, branch):
  if stage == 1:
    return "conv1_conv", "conv1_bn"
  prefix = f"conv{stage}_block{number}_{_KERAS3_BRANCH[branch]}"
  return f"{prefix}_conv", f"{prefix}_bn"


def _resnet50_names(keras_names):
  names = {}
  for branch in _resnet50_branches():
    for keras, old in zip(keras_names(*branch), _old_resnet50_names(*branch)):
      names[keras] = f"features/backbone/{old}"
  return names


_VGG16 = _vgg16_names()
_RESNET50 = _resnet50_names(_old_resnet50_names)
_FRAW = {"conv2d": ("features/fraw",)}

# Order matters: the first family whose signature the file holds and whose auto-named layer classes
# cover the file's wins, so plain backbones come before the models built on them.
FAMILIES = (
  Family(
    "SGDNet quality model",
    "saliency",
    {**_RESNET50, "saliency": "head/saliency", "fc1": "head/fc1", "fc2": "head/fc2", "predictions": "head/predictions"},
    {**_FRAW, "dense": ("head/attention_squeeze", "head/attention_excite")},
    OLD_KERAS_BN_EPSILON,
  ),
  Family("ResNet50 (old Keras names)", "bn_conv1", {**_RESNET50, "fc1000": None}, bn_epsilon=OLD_KERAS_BN_EPSILON),
  Family(
    "SGDNet classifier (the poster's sgdnet)",
    "bn_conv1",
    _RESNET50,
    {**_FRAW, "dense": ("head/predictions",)},
    OLD_KERAS_BN_EPSILON,
    ORIGINAL_INPUT,
  ),
  Family(
    "ResNet50 (Keras 3 names)",
    "conv1_bn",
    {**_resnet50_names(_keras3_resnet50_names), "predictions": None},
    bn_epsilon=KERAS3_RESNET_BN_EPSILON,
  ),
  Family("VGG16 (ImageNet layout)", "block1_conv1", {**_VGG16, "fc1": None, "fc2": None, "predictions": None}),
  Family(
    "VGG16 classifier (the poster's vgg16_transfer / vgg16_scratch)",
    "block1_conv1",
    _VGG16,
    {"conv2d": ("head/conv",), "dense": ("head/fc", "head/predictions")},
    preprocessing=ORIGINAL_INPUT,
  ),
  Family("softmax classifier", None, {}, {"dense": ("head/predictions",)}, preprocessing=ORIGINAL_INPUT),
)


def _auto_class(name: str) -> str | None:
  match = AUTO_NAME.fullmatch(name)
  return match.group(1) if match else None


def detect(layer_names) -> Family:
  """The family of a file holding `layer_names` (in model order); unknown files raise WeightsError."""
  names = set(layer_names)
  auto_classes = {c for c in map(_auto_class, layer_names) if c}
  for family in FAMILIES:
    known = family.signature in names if family.signature else bool(auto_classes)
    if known and auto_classes <= set(family.auto):
      return family
  shown = ", ".join(list(layer_names)[:8]) + (", ..." if len(names) > 8 else "")
  raise WeightsError(f"not a Keras model dclf knows (layers: {shown or 'none'})")


def translate(layers: Mapping[str, list[np.ndarray]], layout: str) -> Source:
  """Moves `layers` (name -> arrays, in model order) of a file in `layout` to dclf module paths."""
  family = detect(layers)
  modules, keras_names, unused, extra = {}, {}, [], []
  auto_slots = {cls: list(paths) for cls, paths in family.auto.items()}
  for name, arrays in layers.items():
    if name in family.named:
      path = family.named[name]
    elif _auto_class(name) in auto_slots and auto_slots[_auto_class(name)]:
      path = auto_slots[_auto_class(name)].pop(0)
    else:
      extra.append(name)
      continue
    if path is None:
      unused.append(name)
    else:
      modules[path], keras_names[path] = arrays, name
  return Source(
    f"{family.description}, {layout}", modules, keras_names, unused, extra, family.bn_epsilon, family.preprocessing
  )
