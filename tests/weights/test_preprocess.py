"""dclf.preprocess against Keras' own preprocess_input, which the pretrained weights expect."""

import keras
import numpy as np
import pytest

from dclf import preprocess

from parity import random_images


@pytest.mark.parametrize(
  "keras_preprocess", [keras.applications.vgg16.preprocess_input, keras.applications.resnet50.preprocess_input]
)
def test_caffe_is_keras_preprocess_input(keras_preprocess):
  images = random_images(4, 32, seed=3)
  expected = keras_preprocess(images.astype(np.float32).copy())
  np.testing.assert_allclose(preprocess.preprocess(images, "caffe"), expected, rtol=0, atol=1e-5)


def test_raw_is_the_pixel_values():
  """What the poster fed every model: no Keras function to compare with, the values themselves."""
  images = random_images(2, 16, seed=4)
  out = preprocess.preprocess(images, "raw")
  assert out.dtype == np.float32
  np.testing.assert_array_equal(out, images.astype(np.float32))
