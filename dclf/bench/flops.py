"""FLOPs per image of a Flax model, counted analytically, and XLA's count for a compiled program.

The analytic count is a layer walk: the model is traced once under `jax.eval_shape` (nothing is
computed or allocated) with a method interceptor that records every `nn.Conv` and `nn.Dense`
call's input and output shapes. A layer's multiply-adds per image are its output elements times
its kernel's input taps (kernel height x width x input channels / groups; input features for a
dense layer); one multiply-add is 2 FLOPs.

- Forward: every conv and dense layer.
- Training step: the forward, plus for each trainable layer the gradient of its kernel (as many
  multiply-adds as its forward) and, when a trainable layer ran before it, the gradient of its
  input (as many again). The first trainable layer, fed by the image or by frozen features behind
  `stop_gradient`, gets no input gradient; frozen layers cost their forward only.

Not counted: bias adds, BatchNorm, activations, pooling, the loss and the optimizer update. They
are a few FLOPs per activation or parameter, a few per cent of these models' conv and dense
work; XLA's cost analysis of a compiled step (`xla_flops`) counts them too.
"""

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

FLOPS_PER_MAC = 2


@dataclasses.dataclass(frozen=True)
class Layer:
  """One conv or dense call, per image."""

  path: tuple[str, ...]
  macs: int
  trainable: bool
  input_grad: bool  # a trainable layer ran before it, so its input needs a gradient


@dataclasses.dataclass(frozen=True)
class ModelFlops:
  """FLOPs per image: `forward` for inference, `train` for forward + backward."""

  forward: int
  train: int


def _macs_per_image(module: nn.Module, x, y) -> int:
  taps = x.shape[-1] // getattr(module, "feature_group_count", 1)
  kernel_size = getattr(module, "kernel_size", ())
  return math.prod(y.shape[1:]) * taps * math.prod(kernel_size)


def layers(model: nn.Module, image_size: int) -> list[Layer]:
  """The conv and dense layers of `model` in call order, for one (image_size, image_size, 3) image.

  A layer is trainable when its top-level parameter key is in `model.trainable_keys`.
  """
  trainable_keys = tuple(getattr(model, "trainable_keys", ()))
  found: list[Layer] = []

  def record(next_fun, args, kwargs, context):
    y = next_fun(*args, **kwargs)
    if context.method_name == "__call__" and isinstance(context.module, (nn.Conv, nn.Dense)):
      path = tuple(context.module.path)
      trainable = bool(path) and path[0] in trainable_keys
      input_grad = trainable and any(layer.trainable for layer in found)
      found.append(Layer(path, _macs_per_image(context.module, args[0], y), trainable, input_grad))
    return y

  x = jnp.zeros((1, image_size, image_size, 3), jnp.float32)
  with nn.intercept_methods(record):
    jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
  return found


def model_flops(model: nn.Module, image_size: int) -> ModelFlops:
  """Analytic forward and training-step FLOPs per image (see the module docstring)."""
  walked = layers(model, image_size)
  forward = sum(layer.macs for layer in walked)
  backward = sum(layer.macs * (1 + layer.input_grad) for layer in walked if layer.trainable)
  return ModelFlops(forward=FLOPS_PER_MAC * forward, train=FLOPS_PER_MAC * (forward + backward))


def xla_flops(compiled) -> float | None:
  """FLOPs of one run of a compiled (or lowered) program by XLA's cost analysis; None when the
  backend gives none. Under pmap and shard_map the program, so the count, is one device's."""
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):  # older jax: one dict per program
    analysis = analysis[0] if analysis else None
  flops = (analysis or {}).get("flops")
  return float(flops) if flops and flops > 0 else None
