"""Files that do not fit: one WeightsError listing every problem; nothing is ever unpickled."""

import pickle

import h5py
import numpy as np
import pytest

from dclf import weights
from dclf.weights.conversion import module_arrays

from parity import compiled, zero_variables


def write_layers(path, layers):
  """A minimal `layer_names` file: {layer name: [arrays]} in order."""
  with h5py.File(path, "w") as f:
    f.attrs["layer_names"] = np.array([name.encode() for name in layers])
    for name, arrays in layers.items():
      group = f.create_group(name)
      names = [f"{name}/w{i}:0" for i in range(len(arrays))]
      group.attrs["weight_names"] = np.array([n.encode() for n in names])
      for n, array in zip(names, arrays):
        group.create_dataset(n, data=array)


VGG_AUTO = {"head/conv": "conv2d_3", "head/fc": "dense_7", "head/predictions": "dense_8"}
SGDNET_AUTO = {"features/fraw": "conv2d_1", "head/predictions": "dense_3"}


def keras_layers(model_name="vgg16_transfer", auto=VGG_AUTO, size=32):
  """{Keras name: zero arrays} of everything `model_name` holds, named as the poster's Keras code
  named them: stable names for the pretrained layers, `auto` (dclf path -> name) for the rest."""
  modules = module_arrays(zero_variables(compiled(model_name)[0], size))
  return {auto.get(path, path.split("/")[-1]): arrays for path, arrays in modules.items()}


@pytest.fixture()
def init():
  return zero_variables(compiled("vgg16_transfer")[0], 32)


def test_not_hdf5_is_an_error_and_nothing_is_unpickled(tmp_path, init, monkeypatch):
  def refuse(*_, **__):
    raise AssertionError("unpickled")

  path = tmp_path / "weights.pkl"
  path.write_bytes(pickle.dumps({"conv1": np.zeros(3)}))
  monkeypatch.setattr(pickle, "load", refuse)
  monkeypatch.setattr(pickle, "loads", refuse)
  with pytest.raises(weights.WeightsError, match=r"weights.pkl: not an HDF5 file"):
    weights.load(path, "vgg16_transfer", init)


def test_hdf5_without_keras_weights(tmp_path, init):
  with h5py.File(tmp_path / "data.h5", "w") as f:
    f["images"] = np.zeros(3)
  with pytest.raises(weights.WeightsError, match="HDF5 file without Keras weights"):
    weights.load(tmp_path / "data.h5", "vgg16_transfer", init)
  with pytest.raises(weights.WeightsError, match="no such file"):
    weights.load(tmp_path / "absent.h5", "vgg16_transfer", init)


def test_unknown_layers(tmp_path, init):
  write_layers(tmp_path / "other.h5", {"encoder": [np.zeros(3)], "decoder": [np.zeros(3)]})
  with pytest.raises(weights.WeightsError, match=r"not a Keras model dclf knows \(layers: encoder, decoder\)"):
    weights.load(tmp_path / "other.h5", "vgg16_transfer", init)


def test_wrong_model_for_the_file(tmp_path):
  write_layers(tmp_path / "vgg.h5", keras_layers())
  init = zero_variables(compiled("sgdnet")[0], 32)
  with pytest.raises(weights.WeightsError) as error:
    weights.load(tmp_path / "vgg.h5", "sgdnet", init)
  message = str(error.value)
  assert "(VGG16 classifier (the poster's vgg16_transfer / vgg16_scratch), Keras 1" in message
  assert "does not fit sgdnet: missing: features/backbone/bn2a_branch1, features/backbone/bn2a_branch2a," in message
  assert message.endswith("features/backbone/res5c_branch2c, features/fraw") and "\n" not in message
  assert message.count("features/") == 107  # the whole trunk, listed once


def test_missing_extra_and_misshaped_in_one_message(tmp_path, init):
  layers = keras_layers()
  del layers["block3_conv2"]
  layers["block1_conv2"] = [np.zeros((3, 3, 64, 32)), np.zeros(32)]
  layers["dense_8"] = [np.zeros((4096, 7)), np.zeros(7)]
  layers["block6_conv1"] = [np.zeros((3, 3, 512, 512)), np.zeros(512)]
  layers["dense_9"] = [np.zeros((3, 3)), np.zeros(3)]
  write_layers(tmp_path / "bad.h5", layers)
  with pytest.raises(weights.WeightsError) as error:
    weights.load(tmp_path / "bad.h5", "vgg16_transfer", init)
  assert str(error.value).endswith(
    "does not fit vgg16_transfer: missing: features/block3_conv2; extra: block6_conv1, dense_9; "
    "mis-shaped: features/block1_conv2 (3,3,64,32) (32) vs (3,3,64,64) (64), "
    "head/predictions [dense_8] (4096,7) (7) vs (4096,3) (3)"
  )


def test_a_head_must_come_complete(tmp_path, init):
  layers = keras_layers()
  del layers["dense_8"]
  write_layers(tmp_path / "no_predictions.h5", layers)
  with pytest.raises(weights.WeightsError, match=r"does not fit vgg16_transfer: missing: head/predictions$"):
    weights.load(tmp_path / "no_predictions.h5", "vgg16_transfer", init)


def test_features_must_come_complete_the_head_may_stay(tmp_path, init):
  layers = {name: arrays for name, arrays in keras_layers().items() if name.startswith("block")}
  write_layers(tmp_path / "features.h5", layers)
  result = weights.convert(tmp_path / "features.h5", init)
  assert result.kept == ["head"] and len(result.loaded) == 10
  del layers["block4_conv3"]
  write_layers(tmp_path / "partial.h5", layers)
  with pytest.raises(weights.WeightsError, match="missing: features/block4_conv3$"):
    weights.convert(tmp_path / "partial.h5", init)


def test_softmax_needs_its_head(tmp_path):
  write_layers(tmp_path / "vgg.h5", keras_layers())
  init = zero_variables(compiled("softmax")[0], 224)
  with pytest.raises(
    weights.WeightsError, match=r"mis-shaped: head/predictions \[dense_8\] \(4096,3\) \(3\) vs \(150528,3\) \(3\)"
  ):
    weights.load(tmp_path / "vgg.h5", "softmax", init)


def test_bn_epsilon_mismatch_and_unknown_model(tmp_path):
  write_layers(tmp_path / "sgdnet.h5", keras_layers("sgdnet", SGDNET_AUTO))
  init = zero_variables(compiled("sgdnet")[0], 32)
  assert weights.convert(tmp_path / "sgdnet.h5", init).bn_epsilon == 1e-3
  with pytest.raises(
    weights.WeightsError, match=r"for epsilon 0.001 but sgdnet uses 1.001e-05: set config.bn_epsilon=0.001"
  ):
    weights.load(tmp_path / "sgdnet.h5", "sgdnet", init, bn_epsilon=1.001e-5)
  with pytest.raises(weights.WeightsError, match="unknown model 'resnet18'"):
    weights.load(tmp_path / "sgdnet.h5", "resnet18", init)


def test_loaded_values_land_where_they_belong(tmp_path, init):
  layers = keras_layers()
  layers["block2_conv1"] = [np.full((3, 3, 64, 128), 2.0), np.full(128, 3.0)]
  layers["dense_7"] = [np.full((512, 4096), 4.0), np.full(4096, 5.0)]
  write_layers(tmp_path / "values.h5", layers)
  params = weights.load(tmp_path / "values.h5", "vgg16_transfer", init)["params"]
  assert (params["features"]["block2_conv1"]["kernel"] == 2).all() and (
    params["features"]["block2_conv1"]["bias"] == 3
  ).all()
  assert (params["head"]["fc"]["kernel"] == 4).all() and (params["head"]["fc"]["bias"] == 5).all()
  assert params["head"]["fc"]["kernel"].dtype == np.float32
