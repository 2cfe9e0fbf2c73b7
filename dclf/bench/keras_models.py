"""The models of the benchmark's Keras rows (`dclf.bench.keras_runner`): the poster's four
classifiers built as the original Keras code builds them, compiled as it compiles them. Optional
(`pip install -e '.[keras]'`); imported only after `keras_runner.load` has chosen Keras' backend
(Keras fixes it when first imported: one backend per process).

The graphs are the original's (github.com/d-roland/distortionClassfication: softmaxRegression/
softmax.py, vgg16/vgg16_baseline.py, transferLearning/transfer_vgg16.py, sgdnet_transfer/
transfer_sgdnet.py, the last on SGDNet's `kerasResnet`, github.com/ysyscool/SGDNet
acmmm_release/modelfinal.py), with the parameter counts of `dclf.models` (BatchNorm moving
statistics in the totals, as Keras' summary counts) and their frozen parts frozen
(`layer.trainable = False`: no gradients, frozen BatchNorm in inference mode, dclf's default).
Keras 3 differs from the original's Keras 2.3 in two places, both kept equal to what 2.3 computed:
- no `decay` argument: RMSprop(decay=2e-5) is `InverseTimeDecay(lr, 1, 2e-5)` = lr / (1 + 2e-5 step),
  evaluated at the step count before the update; RMSprop rho 0.9 and Adam with epsilon 1e-7
  (`dclf.optim.KERAS_EPSILON`), Keras 3 adding it outside the square root as 2.3 did;
- the last layer outputs logits under `from_logits=True`: the original's Dense(n, 'softmax') under
  categorical cross-entropy was computed from the logits behind the softmax by Keras 2.3 on
  TensorFlow (and by Keras 3 on TensorFlow), but as log(clip(p)) by Keras 3 on JAX and PyTorch,
  which saturates on raw 0..255 pixels and leaves zero gradients. Inference adds the softmax.
Preprocessing (uint8 in; `raw` or `caffe`) is a float32 layer inside the model, so it runs in the
compiled step; bf16 is Keras' `mixed_bfloat16` policy (bfloat16 compute, float32 variables).
Weights are Keras' random initialisation: values change no step's speed.
"""

import contextlib
import importlib

import keras
import numpy as np

from dclf.models.resnet import RESNET50_STAGES
from dclf.optim import KERAS_EPSILON
from dclf.preprocess import CAFFE_BGR_MEAN

L = keras.layers
MODELS = ("softmax", "vgg16_scratch", "vgg16_transfer", "sgdnet")
HEAD = ("predictions", "probabilities")  # the layers the poster added on SGDNet's frozen trunk


class Preprocess(L.Layer):
  """uint8 RGB -> float32 as `dclf.preprocess` does (`raw`: 0..255; `caffe`: BGR minus the ImageNet
  means), in float32 whatever the precision policy."""

  def __init__(self, mode: str, **kwargs):
    super().__init__(dtype="float32", **kwargs)
    if mode not in ("raw", "caffe"):
      raise ValueError(f"unknown preprocess {mode!r}; known: raw, caffe")
    self.mode = mode

  def call(self, x):
    x = keras.ops.cast(x, "float32")
    if self.mode == "caffe":
      x = keras.ops.flip(x, axis=-1) - keras.ops.convert_to_tensor(CAFFE_BGR_MEAN, "float32")
    return x


def _resnet_block(x, filters, stage: int, block: str, strides: int):
  """keras_applications' conv_block (block 'a': projection shortcut) / identity_block, as SGDNet's
  modelfinal.py has them: biased convs, the stride on the first 1x1 conv."""
  f1, f2, f3 = filters
  conv, bn = f"res{stage}{block}_branch", f"bn{stage}{block}_branch"
  y = L.Conv2D(f1, 1, strides=strides, name=conv + "2a")(x)
  y = L.Activation("relu")(L.BatchNormalization(name=bn + "2a")(y))
  y = L.Conv2D(f2, 3, padding="same", name=conv + "2b")(y)
  y = L.Activation("relu")(L.BatchNormalization(name=bn + "2b")(y))
  y = L.BatchNormalization(name=bn + "2c")(L.Conv2D(f3, 1, name=conv + "2c")(y))
  if block == "a":
    x = L.BatchNormalization(name=bn + "1")(L.Conv2D(f3, 1, strides=strides, name=conv + "1")(x))
  return L.Activation("relu")(L.add([y, x]))


def sgdnet_resnet50(x):
  """SGDNet's `kerasResnet`: ResNet50 v1 of the old keras_applications with its layer names (not
  today's keras.applications.ResNet50), BatchNorm epsilon 1e-3 and momentum 0.99 (Keras' defaults,
  then and now); returns the last block's output."""
  x = L.ZeroPadding2D(3, name="conv1_pad")(x)
  x = L.Conv2D(64, 7, strides=2, padding="valid", name="conv1")(x)
  x = L.Activation("relu")(L.BatchNormalization(name="bn_conv1")(x))
  x = L.MaxPooling2D(3, strides=2)(L.ZeroPadding2D(1, name="pool1_pad")(x))
  for stage, (blocks, filters) in enumerate(RESNET50_STAGES, start=2):
    for i in range(blocks):
      x = _resnet_block(x, filters, stage, "abcdef"[i], strides=2 if (i == 0 and stage > 2) else 1)
  return x


def vgg16_head(block4_pool):
  """What the poster stacked on VGG16's `block4_pool`: Conv 512 3x3 -> MaxPool -> Flatten -> Dense 4096."""
  x = L.Conv2D(512, 3, padding="same", activation="relu")(block4_pool)
  x = L.Flatten()(L.MaxPooling2D(2)(x))
  return L.Dense(4096, activation="relu")(x)


def _features(name: str, x):
  if name == "softmax":  # the original flattened on the host and fed Dense(3, input_dim=150528)
    return L.Flatten()(x)
  if name == "sgdnet":  # transfer_sgdnet.py cuts at `global_average_pooling2d_1`: GAP of `fraw`
    fraw = L.Conv2D(512, 1, activation="relu", padding="same", use_bias=False, name="fraw")(sgdnet_resnet50(x))
    return L.GlobalAveragePooling2D(name="global_average_pooling2d_1")(fraw)
  # vgg16_baseline.py / transfer_vgg16.py: applications.VGG16 cut at block4_pool (include_top
  # only adds layers above the cut).
  vgg = keras.applications.VGG16(weights=None, include_top=False, input_tensor=x)
  return vgg16_head(vgg.get_layer("block4_pool").output)


def build_model(
  name: str, *, num_classes: int = 3, image_size: int = 224, preprocess: str = "raw", probabilities: bool = False
) -> keras.Model:
  """The poster's model `name` on uint8 images: preprocessing, the original's layers, its last
  Dense(num_classes) as logits (a float32 softmax on top with `probabilities`), frozen layers
  marked `trainable = False`: transfer_vgg16.py's `layers[:15]` (blocks 1-4), transfer_sgdnet.py's
  `layers[:182]` (everything below the new Dense), here chosen by name."""
  if name not in MODELS:
    raise ValueError(f"the Keras reference has no model {name!r}; it has: {', '.join(MODELS)}")
  image = keras.Input((image_size, image_size, 3), dtype="uint8", name="image")
  outputs = L.Dense(num_classes, name="predictions")(_features(name, Preprocess(preprocess, name="preprocess")(image)))
  if probabilities:
    outputs = L.Activation("softmax", dtype="float32", name="probabilities")(outputs)
  model = keras.Model(image, outputs, name=name)
  for layer in model.layers:
    if (name == "vgg16_transfer" and layer.name.startswith("block")) or (name == "sgdnet" and layer.name not in HEAD):
      layer.trainable = False
  return model


def count_params(model: keras.Model) -> tuple[int, int]:
  """(total, trainable) as Keras' summary counts them (BatchNorm moving statistics in the total)."""
  return model.count_params(), int(sum(np.prod(w.shape) for w in model.trainable_weights))


def optimizer(config) -> keras.optimizers.Optimizer:
  """The config's optimizer as Keras builds it, the old `decay` as a per-step inverse-time decay."""
  lr = config.learning_rate
  if config.lr_decay:
    lr = keras.optimizers.schedules.InverseTimeDecay(lr, decay_steps=1, decay_rate=config.lr_decay)
  optimizers = {
    "rmsprop": lambda: keras.optimizers.RMSprop(lr, rho=0.9, epsilon=KERAS_EPSILON),
    "adam": lambda: keras.optimizers.Adam(lr, beta_1=0.9, beta_2=0.999, epsilon=KERAS_EPSILON),
    "sgd": lambda: keras.optimizers.SGD(lr, momentum=config.momentum),
  }
  if config.optimizer not in optimizers:
    raise ValueError(f"unknown optimizer {config.optimizer!r}; known: {', '.join(optimizers)}")
  return optimizers[config.optimizer]()


def _keras_keys():
  """Keras' JAX backend draws its initial weights with raw threefry keys: JAX's default, which a
  process may have changed (JAX_DEFAULT_PRNG_IMPL=rbg, as dclf's tests set it)."""
  if keras.backend.backend() != "jax":
    return contextlib.nullcontext()
  return importlib.import_module("jax").default_prng_impl("threefry2x32")


def precision_policy(config) -> str:
  """Keras' mixed-precision policy for `config.half_precision`: bfloat16 compute, float32 variables."""
  return "mixed_bfloat16" if config.half_precision else "float32"


def compiled_model(config, *, jit_compile: bool, num_classes: int = 3, mode: str = "train") -> keras.Model:
  """`build_model` under the config's precision, compiled as the original compiles it (cross-entropy,
  here from logits on integer labels; metrics=['accuracy']) with `jit_compile`. Call it under the
  distribution's scope: the variables are created here."""
  keras.utils.set_random_seed(config.seed)
  keras.mixed_precision.set_global_policy(precision_policy(config))
  try:
    with _keras_keys():
      model = build_model(
        config.model,
        num_classes=num_classes,
        image_size=config.image_size,
        preprocess=config.preprocess,
        probabilities=mode == "eval",
      )
  finally:
    keras.mixed_precision.set_global_policy("float32")
  model.compile(
    optimizer=optimizer(config),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
    jit_compile=jit_compile,
  )
  return model
