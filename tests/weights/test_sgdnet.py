"""SGDNet (rebuilt in Keras with its old layer names) -> sgdnet_quality, the sgdnet classifier's
features, and its ResNet50 part in the old fchollet layout -> ResNet50V1."""

import shutil

import numpy as np
import pytest

from dclf import preprocess, weights

import keras_refs
from parity import assert_parity, compiled, random_images, zero_variables

SIZE = 64


@pytest.fixture(scope="module")
def sgdnet(tmp_path_factory):
  """SGDNet with random weights (BatchNorm statistics included) in the layout SGDNet's release was
  saved in (a full-model HDF5 file named .pkl, by Keras' own writer), as Keras 3 .weights.h5, and
  its ResNet50 part as the old fchollet notop release; plus Keras' outputs and intermediate tensors."""
  folder = tmp_path_factory.mktemp("sgdnet")
  model, tensors = keras_refs.sgdnet_quality(SIZE)
  keras_refs.save_legacy_h5(model, folder / "keras_full.pkl", full_model=True)
  model.save_weights(folder / "keras3.weights.h5")
  resnet_layers = model.layers[: model.layers.index(model.get_layer("res5c_branch2c")) + 3]
  keras_refs.write_fchollet_h5(model, folder / "fchollet_resnet50_notop.h5", layers=resnet_layers)
  x = preprocess.preprocess(random_images(2, SIZE), "caffe")
  yield folder, x, tensors.predict(x, verbose=0)
  shutil.rmtree(folder)


@pytest.mark.parametrize("file", ["keras_full.pkl", "keras3.weights.h5"])
def test_sgdnet_quality_matches_keras(sgdnet, file):
  folder, x, reference = sgdnet
  model, run = compiled("sgdnet_quality")
  result = weights.convert(folder / file, zero_variables(model, SIZE))
  assert result.bn_epsilon == 1e-3 and result.kept == [] and result.unused == []
  assert result.preprocessing.mode == "caffe"  # SGDNet's own input, not the poster's raw pixels
  (quality, saliency), fraw = run(result.variables, x)
  assert_parity(f"sgdnet {file} -> sgdnet_quality quality", quality, reference["quality"])
  assert_parity(f"sgdnet {file} -> sgdnet_quality saliency", saliency, reference["saliency"])
  assert_parity(f"sgdnet {file} -> sgdnet_quality fraw", fraw, reference["fraw"])
  assert_parity(f"sgdnet {file} -> sgdnet_quality GAP", np.mean(fraw, axis=(1, 2)), reference["gap"])


def test_sgdnet_release_fills_the_classifier_features(sgdnet):
  folder, x, reference = sgdnet
  model, run = compiled("sgdnet")
  result = weights.convert(folder / "keras_full.pkl", zero_variables(model, SIZE))
  assert result.kept == ["head"]
  # The quality head (two auto-named dense layers, saliency, fc1, fc2, predictions) is another kind.
  assert {"fc1", "fc2", "predictions", "saliency"} < set(result.unused) and len(result.unused) == 6
  fraw = run(result.variables, x)[1]
  assert_parity("sgdnet keras_full.pkl -> sgdnet features (fraw)", fraw, reference["fraw"])
  assert_parity("sgdnet keras_full.pkl -> sgdnet GAP", np.mean(fraw, axis=(1, 2)), reference["gap"])


def test_old_fchollet_resnet50_matches_keras(sgdnet):
  """`running_std` holds the variance; old Keras epsilon 1e-3."""
  folder, x, reference = sgdnet
  model, run = compiled("resnet50", 1e-3)
  result = weights.convert(folder / "fchollet_resnet50_notop.h5", zero_variables(model, SIZE))
  assert result.bn_epsilon == 1e-3 and result.unused == []
  assert result.source == "ResNet50 (old Keras names), Keras 1 (fchollet release) weights .h5"
  conv5 = run(result.variables, x)[1]
  assert_parity("resnet50 fchollet_notop.h5 -> ResNet50V1 conv5", conv5, reference["conv5"])
