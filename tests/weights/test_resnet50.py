"""Keras 3's ResNet50 (names `conv1_conv`, `conv2_block1_1_conv`, epsilon 1.001e-5) -> ResNet50V1."""

import keras
import pytest

from dclf import preprocess, weights
from dclf.weights.families import KERAS3_RESNET_BN_EPSILON

import keras_refs
from parity import TOLERANCE, assert_parity, compiled, random_images, relative_error, zero_variables

SIZE = 64


@pytest.fixture(scope="module")
def resnet50(tmp_path_factory):
  """Keras 3 ResNet50 with its top (so `predictions` must come out unused), saved as legacy .h5
  and .weights.h5; and its conv5 output."""
  folder = tmp_path_factory.mktemp("resnet50")
  model = keras_refs.resnet50(SIZE, include_top=True)
  model.save(folder / "keras3.h5")
  model.save_weights(folder / "keras3.weights.h5")
  x = preprocess.preprocess(random_images(2, SIZE), "caffe")
  conv5 = keras.Model(model.input, model.get_layer("conv5_block3_out").output).predict(x, verbose=0)
  return folder, x, conv5


@pytest.mark.parametrize("file", ["keras3.h5", "keras3.weights.h5"])
def test_keras3_resnet50_matches_keras_with_its_epsilon(resnet50, file):
  folder, x, conv5 = resnet50
  model, run = compiled("resnet50", KERAS3_RESNET_BN_EPSILON)
  result = weights.convert(folder / file, zero_variables(model, SIZE))
  assert result.bn_epsilon == KERAS3_RESNET_BN_EPSILON == 1.001e-5
  assert result.unused == ["predictions"] and len(result.loaded) == 106
  assert result.preprocessing.mode == "caffe"
  assert_parity(f"resnet50 {file} -> ResNet50V1 conv5", run(result.variables, x)[1], conv5)


def test_the_epsilon_matters(resnet50):
  """Keras 3's statistics run through an epsilon-1e-3 model miss the tolerance: why the
  conversion reports the epsilon and `load` refuses a mismatch."""
  folder, x, conv5 = resnet50
  model, run = compiled("resnet50", 1e-3)
  wrong = run(weights.convert(folder / "keras3.h5", zero_variables(model, SIZE)).variables, x)[1]
  assert relative_error(wrong, conv5) > 10 * TOLERANCE
