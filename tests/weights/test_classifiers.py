"""The poster's trained classifiers as its Keras code saved them (Keras 2 full model and weights-only
.h5, auto-named head layers) and as Keras 3 .weights.h5 -> dclf, compared on logits and
probabilities. The VGG16 classifier runs at 224: its head flattens 7x7x512."""

import jax
import pytest

from dclf import preprocess, weights

import keras_refs
from parity import assert_parity, compiled, random_images, zero_variables

CLASSIFIERS = {  # dclf model -> (Keras builder, image size, preprocess mode)
  "vgg16_transfer": (keras_refs.vgg16_classifier, 224, "raw"),
  "softmax": (keras_refs.softmax_classifier, 224, "raw"),
  "sgdnet": (keras_refs.sgdnet_classifier, 64, "caffe"),
}
FILES = ("keras2_full.h5", "keras2_weights.h5", "keras3.weights.h5")


@pytest.fixture(scope="module", params=sorted(CLASSIFIERS))
def classifier(request, tmp_path_factory):
  name = request.param
  build, size, mode = CLASSIFIERS[name]
  folder = tmp_path_factory.mktemp(name)
  keras_model = build(size)
  x = preprocess.preprocess(random_images(1 if size == 224 else 2, size), mode)
  logits, probabilities = keras_refs.calibrated_outputs(keras_model, x)
  keras_refs.write_keras2_h5(keras_model, folder / FILES[0], full_model=True)
  keras_refs.write_keras2_h5(keras_model, folder / FILES[1], full_model=False)
  keras_model.save_weights(folder / FILES[2])
  model, run = compiled(name)
  return name, folder, run, zero_variables(model, size), x, logits, probabilities


@pytest.mark.parametrize("file", FILES)
def test_classifier_matches_keras(classifier, file):
  name, folder, run, init, x, keras_logits, keras_probabilities = classifier
  result = weights.convert(folder / file, init, name)
  assert result.kept == [] and result.unused == []
  logits = run(result.variables, x)[0]
  assert_parity(f"{name} {file} logits", logits, keras_logits)
  assert_parity(f"{name} {file} probabilities", jax.nn.softmax(logits), keras_probabilities)
