"""Keras' VGG16 in every layout -> vgg16_transfer's features, compared with Keras at block4_pool."""

import logging

import keras
import pytest

from dclf import preprocess, weights

import keras_refs
from parity import assert_parity, compiled, random_images, zero_variables

SIZE = 64


@pytest.fixture(scope="module")
def vgg16(tmp_path_factory):
  """Keras VGG16 (no top) with random weights, saved as Keras 3 legacy .h5, .weights.h5 and the
  old fchollet release layout; and its block4_pool output on caffe-preprocessed random images."""
  folder = tmp_path_factory.mktemp("vgg16")
  model = keras_refs.vgg16_notop(SIZE)
  model.save(folder / "keras3.h5")
  model.save_weights(folder / "keras3.weights.h5")
  keras_refs.write_fchollet_h5(model, folder / "fchollet.h5", tf_suffix="_1")
  x = preprocess.preprocess(random_images(2, SIZE), "caffe")
  block4 = keras.Model(model.input, model.get_layer("block4_pool").output).predict(x, verbose=0)
  return folder, x, block4


@pytest.mark.parametrize("file", ["keras3.h5", "keras3.weights.h5", "fchollet.h5"])
@pytest.mark.parametrize("name", ["vgg16_transfer", "vgg16_scratch"])
def test_vgg16_features_match_keras(vgg16, file, name, caplog):
  folder, x, block4 = vgg16
  model, run = compiled(name)
  init = zero_variables(model, SIZE)
  with caplog.at_level(logging.INFO, logger="dclf.weights"):
    variables = weights.load(folder / file, name, init, preprocess="raw")
  assert_parity(f"vgg16 {file} -> {name} block4_pool", run(variables, x)[1], block4)
  assert "unused: block5_conv1, block5_conv2, block5_conv3" in caplog.text
  assert "kept as given: head" in caplog.text
  # ImageNet weights fed raw pixels (the poster's way, on purpose or not) are worth a warning.
  assert "(preprocess caffe), but this run preprocesses raw; --config.preprocess=caffe" in caplog.text
  assert variables["params"]["head"]["fc"]["kernel"] is init["params"]["head"]["fc"]["kernel"]


def test_imagenet_top_is_unused_not_an_error(tmp_path):
  """The with-top release holds fc1, fc2 and predictions: reported as unused."""
  model = keras_refs.built_cheaply(keras.applications.VGG16)(weights=None, include_top=True, input_shape=(32, 32, 3))
  keras_refs.write_fchollet_h5(model, tmp_path / "top.h5", tf_suffix="_1")
  result = weights.convert(tmp_path / "top.h5", zero_variables(compiled("vgg16_transfer")[0], 32))
  assert result.unused == ["block5_conv1", "block5_conv2", "block5_conv3", "fc1", "fc2", "predictions"]
  assert result.kept == ["head"] and result.bn_epsilon is None
  assert result.source == "VGG16 (ImageNet layout), Keras 1 (fchollet release) weights .h5"
