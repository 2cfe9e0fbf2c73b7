"""The config files carry the poster's recipe (its data splits, models and training) and build their models."""

import importlib

import pytest

from dclf import models, state

# config: (model, optimizer, learning rate, Keras decay, batch, epochs, dataset, preprocess)
POSTER = {
  "softmax": ("softmax", "adam", 1e-3, 0.0, 128, 20, "distortions/blur_noise_split95", "raw"),
  "vgg16_scratch": ("vgg16_scratch", "adam", 1e-3, 0.0, 128, 20, "distortions/blur_noise_split95", "raw"),
  "vgg16_transfer": ("vgg16_transfer", "rmsprop", 1e-3, 2e-5, 128, 10, "distortions/blur_noise", "caffe"),
  "sgdnet": ("sgdnet", "rmsprop", 1e-3, 2e-5, 128, 10, "distortions/blur_noise", "caffe"),
}
COUNTS = {
  "softmax": (451_587, 451_587),
  "vgg16_scratch": (112_771_907, 112_771_907),
  "vgg16_transfer": (112_771_907, 105_136_643),
  "sgdnet": (24_637_827, 1_539),
}


def _config(name):
  return importlib.import_module(f"configs.{name}").get_config()


@pytest.mark.parametrize("name", sorted(POSTER))
def test_poster_recipe(name):
  c = _config(name)
  assert (
    c.model,
    c.optimizer,
    c.learning_rate,
    c.lr_decay,
    c.batch_size,
    c.num_epochs,
    c.dataset,
    c.preprocess,
  ) == POSTER[name]
  assert c.parallelism == "pmap" and not c.frozen_bn_batch_stats and c.image_size == 224
  assert not c.distort_on_device  # the poster trained on the pre-built datasets
  assert importlib.import_module(f"configs.{name}").__doc__.count("python -m dclf.main") == 1


@pytest.mark.parametrize("name", sorted(POSTER))
def test_config_builds_the_poster_model(name):
  config = _config(name)
  model = state.build_model(config, len(state.output_names(config)))
  assert models.count_params(models.init_shapes(model), model.trainable_keys) == COUNTS[name]


def test_transfer_configs_name_their_pretrained_files():
  assert _config("vgg16_transfer").init_from.endswith("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
  assert _config("sgdnet").init_from.endswith(".h5") and _config("sgdnet").bn_epsilon == 1e-3
  assert not _config("vgg16_scratch").init_from and not _config("softmax").init_from


@pytest.mark.parametrize("name", ["quickstart", "multilabel_quickstart"])
def test_quickstart_configs_use_the_embedded_sample(name):
  config = _config(name)
  assert "_sample" in config.dataset and config.model == "small_cnn"
