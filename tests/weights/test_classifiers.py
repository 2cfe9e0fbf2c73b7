"""The poster's trained classifiers in the layouts its Keras code saved them in (full model and
weights-only .h5, auto-named head layers: written by Keras' own legacy HDF5 writer) and as Keras 3
.weights.h5 -> dclf, compared on logits and probabilities; and through the user's path,
`python -m dclf.weights import` then `dclf.predict`. The VGG16 classifier runs at 224: its head
flattens 7x7x512.

Every Keras reference is fed raw 0..255 RGB, as the poster's code fed every model (its data
generators pass `imageio.imread`'s pixels on as read): a converted classifier that sees other
pixels than it was trained on is wrong, however exact its weights.
"""

import json
import shutil

import jax
import numpy as np
import pytest
from PIL import Image

from dclf import checkpoint, predict, preprocess, weights
from dclf.weights.__main__ import main as weights_main

import keras_refs
from _runs import run_main
from parity import assert_parity, compiled, random_images, zero_variables

# Keras reference -> (builder, image size, the dclf models its file is imported into below). The
# poster's vgg16_transfer and vgg16_scratch classifiers are one Keras graph (one trained with the
# features frozen): the file imports into either model.
CLASSIFIERS = {
  "vgg16_transfer": (keras_refs.vgg16_classifier, 224, ("vgg16_transfer", "vgg16_scratch")),
  "softmax": (keras_refs.softmax_classifier, 224, ("softmax",)),
  "sgdnet": (keras_refs.sgdnet_classifier, 64, ("sgdnet",)),
}
FILES = ("keras_full.h5", "keras_weights.h5", "keras3.weights.h5")


@pytest.fixture(scope="module", params=sorted(CLASSIFIERS))
def classifier(request, tmp_path_factory):
  name = request.param
  build, size, _ = CLASSIFIERS[name]
  folder = tmp_path_factory.mktemp(name)
  keras_model = build(size)
  images = random_images(1 if size == 224 else 2, size)
  x = preprocess.preprocess(images, "raw")
  logits, probabilities = keras_refs.calibrated_outputs(keras_model, x)
  keras_refs.save_legacy_h5(keras_model, folder / FILES[0], full_model=True)
  keras_refs.save_legacy_h5(keras_model, folder / FILES[1], full_model=False)
  keras_model.save_weights(folder / FILES[2])
  model, run = compiled(name)
  yield name, folder, run, zero_variables(model, size), images, logits, probabilities
  shutil.rmtree(folder)  # VGG16 three times over (1.3 GB): gone before the next model's files


@pytest.mark.parametrize("file", FILES)
def test_classifier_matches_keras(classifier, file):
  name, folder, run, init, images, keras_logits, keras_probabilities = classifier
  result = weights.convert(folder / file, init, name)
  assert result.kept == [] and result.unused == []
  assert result.preprocessing.mode == "raw"
  logits = run(result.variables, preprocess.preprocess(images, "raw"))[0]
  assert_parity(f"{name} {file} logits", logits, keras_logits)
  assert_parity(f"{name} {file} probabilities", jax.nn.softmax(logits), keras_probabilities)


def test_import_then_predict_matches_keras(classifier, tmp_path):
  """A user's path with the poster's full-model file: the import feeds the model the raw pixels it
  was trained on, whatever configs/MODEL.py's default (caffe for vgg16_transfer and sgdnet). A
  second model of the same file (vgg16_scratch) imports the same arrays into the same modules
  (`models._vgg16`, frozen or not): predicting with it again would only compile VGG16 twice."""
  name, folder, _, _, images, _, keras_probabilities = classifier
  size = images.shape[1]
  photos = []
  for i, image in enumerate(images):
    photos.append(tmp_path / f"photo{i}.png")
    Image.fromarray(image).save(photos[-1])
  first, *others = CLASSIFIERS[name][2]
  for model in CLASSIFIERS[name][2]:
    code, out, err = run_main(
      weights_main, "import", model, folder / FILES[0], "--workdir", tmp_path / model, f"--config.image_size={size}"
    )
    assert code == 0, err
    assert "; preprocess raw: a classifier trained by the original code, which fed it raw 0..255 RGB" in out
    assert checkpoint.load_config(tmp_path / model).preprocess == "raw"
  code, out, err = run_main(
    predict.main, "--workdir", tmp_path / first, "--view", "crop", "--device-batch", "1", *photos
  )
  assert code == 0, err
  probabilities = [list(json.loads(line)["probabilities"].values()) for line in out.splitlines()]
  assert_parity(f"{first} import + predict probabilities", np.array(probabilities), keras_probabilities)
  for model in others:
    assert checkpoint.load_config(tmp_path / model).model == model
    jax.tree.map(
      np.testing.assert_array_equal,
      checkpoint.load_variables(tmp_path / model)[1],
      checkpoint.load_variables(tmp_path / first)[1],
    )
