"""Model graphs: parameter counts, Keras layer names and shapes, all without computing."""

import jax
import jax.numpy as jnp
import pytest

from dclf import models

# The Keras originals' counts (the poster; d-roland/distortionClassfication; ysyscool/SGDNet):
# (total incl. BatchNorm statistics, trainable).
EXPECTED_COUNTS = {
  "softmax": (451_587, 451_587),
  "vgg16_scratch": (112_771_907, 112_771_907),
  "vgg16_transfer": (112_771_907, 105_136_643),
  "sgdnet": (24_637_827, 1_539),
  "sgdnet_quality": (26_344_449, 26_291_329),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_parameter_counts(name):
  model = models.create_model(name, num_classes=3)
  variables = models.init_shapes(model)
  assert models.count_params(variables, model.trainable_keys) == EXPECTED_COUNTS[name]


def test_vgg16_blocks_1_to_4_have_keras_names_and_count():
  variables = models.init_shapes(models.create_model("vgg16_transfer", num_classes=3))
  features = variables["params"]["features"]
  assert sorted(features) == sorted(f"block{b}_conv{i}" for b, n in enumerate((2, 2, 3, 3), 1) for i in range(1, n + 1))
  assert features["block4_conv3"]["kernel"].shape == (3, 3, 512, 512)
  assert models.count_params({"params": features}, []) == (7_635_264, 0)
  head = variables["params"]["head"]
  assert head["fc"]["kernel"].shape == (7 * 7 * 512, 4096)
  assert head["predictions"]["kernel"].shape == (4096, 3)


def test_resnet50_v1_keras_layout():
  variables = models.init_shapes(models.create_model("sgdnet", num_classes=3))
  backbone = variables["params"]["features"]["backbone"]
  stats = variables["batch_stats"]["features"]["backbone"]
  # Every conv has a bias; the stride sits on the first 1x1 conv of a downsampling block.
  assert backbone["conv1"]["kernel"].shape == (7, 7, 3, 64) and "bias" in backbone["conv1"]
  assert backbone["res3a_branch2a"]["kernel"].shape == (1, 1, 256, 128)
  assert backbone["res3a_branch1"]["kernel"].shape == (1, 1, 256, 512)
  assert "bias" in backbone["res5c_branch2c"]
  assert sorted(stats["bn_conv1"]) == ["mean", "var"]
  blocks = {k[3:5] for k in backbone if k.startswith("res")}
  assert blocks == {f"{s}{b}" for s, n in ((2, 3), (3, 4), (4, 6), (5, 3)) for b in "abcdef"[:n]}
  total, _ = models.count_params({"params": {"b": backbone}, "batch_stats": stats}, ["b"])
  assert total == 23_587_712
  assert models.count_params({"batch_stats": stats, "params": {}}, []) == (53_120, 0)


def test_output_shapes_and_bn_epsilon():
  model = models.create_model("sgdnet", num_classes=5, bn_epsilon=1e-3)
  x = jnp.zeros((2, 224, 224, 3))
  out = jax.eval_shape(lambda: model.init_with_output(jax.random.key(0), x)[0])
  assert out.shape == (2, 5)
  trunk = models.SGDNetTrunk()
  fraw = jax.eval_shape(lambda: trunk.init_with_output(jax.random.key(0), x)[0])
  assert fraw.shape == (2, 7, 7, 512)
  bn = models.ResNet50V1(bn_epsilon=1e-5).bind({}).bn_epsilon
  assert bn == 1e-5


def test_sgdnet_quality_model_outputs_score_and_saliency():
  model = models.create_model("sgdnet_quality", num_classes=1)
  x = jnp.zeros((1, 384, 512, 3))
  (quality, saliency) = jax.eval_shape(lambda: model.init_with_output(jax.random.key(0), x)[0])
  assert quality.shape == (1, 1)
  assert saliency.shape == (1, 12, 16, 1)


def test_unknown_model_is_a_clear_error():
  with pytest.raises(ValueError, match="unknown model 'resnet18'.*softmax"):
    models.create_model("resnet18", num_classes=3)
