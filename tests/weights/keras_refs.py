"""Keras 3 reference models with random weights, Keras' own writer of the `layer_names` HDF5
layout, and hand writers for what Keras 3 can no longer write.

Test-only (keras is a test dependency). The references are built in Keras itself
(KERAS_BACKEND=jax, `weights=None`) and every weight is randomised, BatchNorm moving statistics
included, so a converter that drops, swaps or mis-orders anything shows up in the outputs.
Files of the Keras 2 layout (full model and weights-only `.h5`, as the poster's code and SGDNet
saved them) are written by Keras' own legacy HDF5 writer (`save_legacy_h5`), so that no
misunderstanding shared by a test writer and dclf's reader can pass. The hand writers cover only
what Keras 3 cannot write: Keras 2.1.2's weight names (`conv1/kernel:0`; Keras 3 writes
`conv1/kernel`) and the old fchollet releases (Keras 1 names); `test_readers` checks that Keras'
own loader reads their files back.
"""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import functools  # noqa: E402

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras.src.initializers import random_initializers  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

from dclf.bench.keras_models import sgdnet_resnet50, vgg16_head  # noqa: E402


def built_cheaply(builder):
  """Builds with zero kernels, `randomize` sets the values anyway: on a CPU Keras' JAX random
  initialisers compile once per shape (about 2 s each, a minute for VGG16 and ResNet50)."""

  @functools.wraps(builder)
  def build(*args, **kwargs):
    original = random_initializers.VarianceScaling.__call__
    random_initializers.VarianceScaling.__call__ = lambda self, shape, dtype=None: np.zeros(shape, dtype or "float32")
    try:
      return builder(*args, **kwargs)
    finally:
      random_initializers.VarianceScaling.__call__ = original

  return build


_BLOCK = 1_000_003  # prime: a repeated block never lines up with a kernel's rows


def _normal(rng, shape, std):
  """Normal values; an array over a million values repeats a fresh random block (drawing 100M
  normals takes seconds on a slow CPU), with a prime period so that no two rows coincide."""
  return std * np.resize(rng.standard_normal(min(int(np.prod(shape)), _BLOCK), dtype=np.float32), shape)


def randomize(model, seed: int = 0):
  """He-scaled kernels, small random biases, random BatchNorm scale, offset, mean and (positive)
  variance: every array differs from its initialiser, so nothing passes by accident."""
  rng = np.random.default_rng(seed)
  for layer in model.layers:
    weights = layer.get_weights()
    if not weights:
      continue
    normal = lambda shape, std: _normal(rng, shape, std)
    uniform = lambda shape, low, high: rng.uniform(low, high, shape).astype(np.float32)
    if isinstance(layer, keras.layers.BatchNormalization):
      c = weights[0].shape
      new = [uniform(c, 0.5, 1.5), normal(c, 0.1), normal(c, 0.1), uniform(c, 0.5, 2.0)]
    else:
      kernel, *rest = weights
      fan_in = int(np.prod(kernel.shape[:-1]))
      new = [normal(kernel.shape, np.sqrt(2.0 / fan_in))] + [normal(b.shape, 0.1) for b in rest]
    layer.set_weights(new)
  return model


def _weighted(model):
  return [layer for layer in model.layers if layer.weights]


def _names(values):
  return np.array([v.encode("utf8") for v in values])


def save_legacy_h5(model, path, full_model: bool):
  """Keras' own writer of the HDF5 layout of Keras 2: `model.save("x.h5")` (any file name: SGDNet's
  is `.pkl`), or, weights only, what `save_weights("x.h5")` wrote before Keras 3."""
  if full_model:
    legacy_h5_format.save_model_to_hdf5(model, str(path))
    return
  with h5py.File(path, "w") as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, model)


def write_keras2_h5(model, path, full_model: bool):
  """The layout as Keras 2.1.2 itself wrote it, names included, which Keras 3 cannot: `layer_names`,
  and per layer `weight_names` such as `conv1/kernel:0` pointing at nested datasets
  `<layer>/<layer>/kernel:0`."""
  with h5py.File(path, "w") as f:
    group = f
    if full_model:
      f.attrs["keras_version"] = b"2.1.2"
      f.attrs["backend"] = b"tensorflow"
      f.attrs["model_config"] = json.dumps({"class_name": "Model", "config": {"name": model.name}}).encode()
      f.attrs["training_config"] = json.dumps({"optimizer_config": {"class_name": "Adam"}}).encode()
      f.create_dataset("optimizer_weights/Adam/iterations:0", data=np.int64(7))
      group = f.create_group("model_weights")
    group.attrs["keras_version"] = b"2.1.2"
    group.attrs["backend"] = b"tensorflow"
    group.attrs["layer_names"] = _names(layer.name for layer in model.layers)
    for layer in model.layers:
      g = group.create_group(layer.name)
      names = [f"{layer.name}/{w.name}:0" for w in layer.weights]
      g.attrs["weight_names"] = _names(names)
      for name, value in zip(names, layer.get_weights()):
        g.create_dataset(name, data=value)


# Keras 1 weight suffixes of the old releases (BatchNorm's `running_std` holds the variance).
_KERAS1_SUFFIXES = {
  "kernel": "W",
  "bias": "b",
  "gamma": "gamma",
  "beta": "beta",
  "moving_mean": "running_mean",
  "moving_variance": "running_std",
}


def write_fchollet_h5(model, path, tf_suffix: str = "", layers=None):
  """The old fchollet release layout: root `layer_names`, flat datasets such as
  `block1_conv1_W_1:0` (VGG16, `tf_suffix='_1'`) or `bn_conv1_running_std:0` (ResNet50)."""
  layers = model.layers if layers is None else layers
  with h5py.File(path, "w") as f:
    f.attrs["layer_names"] = _names(layer.name for layer in layers)
    for layer in layers:
      g = f.create_group(layer.name)
      names = [f"{layer.name}_{_KERAS1_SUFFIXES[w.name]}{tf_suffix}:0" for w in layer.weights]
      g.attrs["weight_names"] = _names(names) if names else np.zeros((0,))
      for name, value in zip(names, layer.get_weights()):
        g.create_dataset(name, data=value)


@built_cheaply
def vgg16_notop(image_size: int):
  return randomize(
    keras.applications.VGG16(weights=None, include_top=False, input_shape=(image_size, image_size, 3)), 1
  )


@built_cheaply
def resnet50(image_size: int, include_top: bool):
  shape = (image_size, image_size, 3)
  return randomize(keras.applications.ResNet50(weights=None, include_top=include_top, input_shape=shape), 2)


# SGDNet (ysyscool/SGDNet modelfinal.py) rebuilt in Keras 3 with its old layer names, on the
# benchmark's Keras reference of its ResNet50 (`kerasResnet`).
L = keras.layers


def sgdnet_tensors(image_size: int):
  """The input and named tensors of SGDNet's quality model (Keras 3 BatchNorm defaults: epsilon
  1e-3, momentum 0.99, as old Keras)."""
  image = keras.Input((image_size, image_size, 3))
  conv5 = sgdnet_resnet50(image)
  fraw = L.Conv2D(512, 1, activation="relu", padding="same", use_bias=False)(conv5)
  squeeze = L.GlobalAveragePooling2D()(fraw)
  attention = L.Dense(128, activation="relu")(squeeze)
  attention = L.Dense(512, activation="sigmoid")(attention)
  # Keras 2's multiply() expanded the (N, 512) attention at axis 1 to (N, 1, 1, 512): channel-wise.
  fca = L.multiply([fraw, L.Reshape((1, 1, 512))(attention)])
  saliency = L.Conv2D(1, 1, activation="relu", padding="same", use_bias=False, name="saliency")(fraw)
  fv = L.GlobalAveragePooling2D()(L.multiply([fca, saliency]))
  x = L.Dense(1024, activation="relu", name="fc1")(fv)
  x = L.Dropout(0.5)(x)
  x = L.Dense(1024, activation="relu", name="fc2")(x)
  quality = L.Dense(1, name="predictions")(x)
  return image, {"conv5": conv5, "fraw": fraw, "gap": squeeze, "fv": fv, "quality": quality, "saliency": saliency}


@built_cheaply
def sgdnet_quality(image_size: int):
  """SGDNet's quality model, and a model of the same layers that outputs the named tensors."""
  image, t = sgdnet_tensors(image_size)
  model = randomize(keras.Model(image, [t["quality"], t["saliency"]], name="sgdnet"), 3)
  saliency = model.get_layer("saliency")
  saliency.set_weights([np.abs(w) for w in saliency.get_weights()])  # a ReLU map that is not all zero
  return model, keras.Model(image, t)


def _classifier(inputs, features, num_classes, seed):
  """Dense(num_classes) + softmax on `features`; outputs [logits, probabilities]. The poster wrote
  Dense(n, activation='softmax'): the same weights, the softmax apart only to expose the logits."""
  logits = L.Dense(num_classes)(features)
  return randomize(keras.Model(inputs, [logits, L.Activation("softmax")(logits)]), seed)


def calibrated_outputs(model, x):
  """Rescales the last Dense so that the logits on `x` have a spread of about 2 (random weights
  give huge logits and saturated one-hot probabilities, which would compare too easily), and
  returns the model's [logits, probabilities] on `x`."""
  logits, _ = model.predict(x, verbose=0)
  last = [layer for layer in model.layers if layer.weights][-1]
  kernel, bias = last.get_weights()
  last.set_weights([kernel * (2.0 / max(float(np.std(logits - bias)), 1e-12)), bias])
  return model.predict(x, verbose=0)


@built_cheaply
def sgdnet_classifier(image_size: int, num_classes: int = 3):
  """The poster's sgdnet: SGDNet's graph up to `global_average_pooling2d_1` + Dense(num_classes)."""
  image, t = sgdnet_tensors(image_size)
  return _classifier(image, t["gap"], num_classes, seed=4)


@built_cheaply
def vgg16_classifier(image_size: int, num_classes: int = 3):
  """The poster's vgg16_transfer / vgg16_scratch: VGG16 up to block4_pool, then its head."""
  vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(image_size, image_size, 3))
  return _classifier(vgg.input, vgg16_head(vgg.get_layer("block4_pool").output), num_classes, seed=5)


@built_cheaply
def softmax_classifier(image_size: int, num_classes: int = 3):
  image = keras.Input((image_size, image_size, 3))
  return _classifier(image, L.Flatten()(image), num_classes, seed=6)
