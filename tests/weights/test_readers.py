"""Every Keras HDF5 layout reads into the same view: layer name -> arrays in Keras weight order."""

import h5py
import keras
import numpy as np
import pytest

from dclf.weights import h5file

import keras_refs

L = keras.layers


@pytest.fixture(scope="module")
def small_model():
  return build_small_model()


@keras_refs.built_cheaply
def build_small_model():
  """Conv (kernel, bias), BatchNorm (4 arrays), weightless layers and auto-named dense layers."""
  image = keras.Input((8, 8, 3))
  x = L.Conv2D(4, 3, name="block1_conv1")(image)
  x = L.BatchNormalization(name="bn_conv1")(x)
  x = L.Flatten()(L.Activation("relu")(x))
  x = L.Dense(5)(x)
  return keras_refs.randomize(keras.Model(image, L.Dense(2)(x)), seed=7)


def expected_view(model):
  return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


LAYOUTS = {  # written by Keras itself
  "keras3_full.h5": (lambda m, p: m.save(p), "Keras 3.15.1 full-model .h5"),
  "keras3_weights.h5": (lambda m, p: keras_refs.save_legacy_h5(m, p, full_model=False), "Keras 3.15.1 weights .h5"),
  "keras3.weights.h5": (lambda m, p: m.save_weights(p), "Keras 3 .weights.h5"),
}
HAND_WRITTEN = {  # what Keras 3 cannot write
  "keras2_full.h5": (lambda m, p: keras_refs.write_keras2_h5(m, p, full_model=True), "Keras 2.1.2 full-model .h5"),
  "keras2_weights.h5": (lambda m, p: keras_refs.write_keras2_h5(m, p, full_model=False), "Keras 2.1.2 weights .h5"),
  "fchollet.h5": (lambda m, p: keras_refs.write_fchollet_h5(m, p), "Keras 1 (fchollet release) weights .h5"),
}
LAYOUTS.update(HAND_WRITTEN)


@pytest.mark.parametrize("file", sorted(LAYOUTS))
def test_every_layout_gives_the_same_view(small_model, tmp_path, file):
  write, layout = LAYOUTS[file]
  write(small_model, tmp_path / file)
  view = h5file.read(tmp_path / file)
  assert view.layout == layout.replace("3.15.1", keras.__version__)
  expected = expected_view(small_model)
  if file.endswith(".weights.h5"):  # model order within each layer class only (checked below)
    assert sorted(view.layers) == sorted(expected)
  else:
    assert list(view.layers) == list(expected)
  for name, arrays in expected.items():
    assert len(view.layers[name]) == len(arrays)
    for got, want in zip(view.layers[name], arrays):
      np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("file", sorted(HAND_WRITTEN))
def test_keras_reads_the_hand_written_layouts_back(small_model, tmp_path, file):
  """Keras' own loader of the `layer_names` layout gives every weight back from the files this
  suite writes by hand: the writers lay them out as Keras does, not as dclf's reader expects."""
  HAND_WRITTEN[file][0](small_model, tmp_path / file)
  fresh = keras_refs.randomize(keras_refs.built_cheaply(keras.models.clone_model)(small_model), seed=8)
  assert any(not np.array_equal(a, b) for a, b in zip(fresh.get_weights(), small_model.get_weights()))
  fresh.load_weights(tmp_path / file)
  for got, want in zip(fresh.get_weights(), small_model.get_weights(), strict=True):
    np.testing.assert_array_equal(got, want)


def test_weights_h5_lists_layers_in_model_order_not_lexicographic(tmp_path):
  """Keras 3 names the groups `dense`, `dense_1`, ..., `dense_11`: sorted as text, dense_10 would
  come before dense_2."""
  widths = list(range(4, 16))
  model = keras_refs.built_cheaply(dense_chain)(widths)
  model.save_weights(tmp_path / "chain.weights.h5")
  view = h5file.read(tmp_path / "chain.weights.h5")
  assert [arrays[1].shape[0] for arrays in view.layers.values()] == widths
  assert list(view.layers) == [layer.name for layer in model.layers if layer.weights]


def dense_chain(widths):
  x = image = keras.Input((3,))
  for width in widths:
    x = L.Dense(width)(x)
  return keras.Model(image, x)


def test_long_attributes_split_in_chunks_are_joined(tmp_path):
  """Keras writes attributes over 64 KiB as `layer_names0`, `layer_names1`, ..."""
  with h5py.File(tmp_path / "chunked.h5", "w") as f:
    f.attrs["layer_names0"] = np.array([b"dense_1"])
    f.attrs["layer_names1"] = np.array([b"dense_2"])
    for name in ("dense_1", "dense_2"):
      f.create_group(name).attrs["weight_names"] = np.array([f"{name}/kernel:0".encode()])
      f[name][f"{name}/kernel:0"] = np.ones((2, 2))
  assert list(h5file.read(tmp_path / "chunked.h5").layers) == ["dense_1", "dense_2"]
