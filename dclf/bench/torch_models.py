"""The PyTorch graphs of the benchmark's torch rows, in one place for both PyTorch runners
(`dclf.bench.torch_ddp` on CPUs and GPUs, `dclf.bench.torch_xla_spmd` on TPUs): the poster's four
classifiers, their optimizer, preprocessing and precision policy, and one train or predict step.

A reference, not a product (no weights, no training loop): the graphs, parameter counts and
frozen parts of `dclf.models` (NCHW tensors; a flattened VGG feature map is channel-height-width
ordered here and height-width-channel ordered in Flax, which changes no count or FLOP), the same
optimizer with Keras semantics (RMSprop alpha 0.9 and eps 1e-7 outside the square root, Adam eps
1e-7, inverse-time decay per step), preprocessing on the device inside the step, and bf16 autocast
over float32 parameters (`config.half_precision`). FLOPs are the analytic ones of `dclf.bench.flops`.
"""

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dclf.models.resnet import RESNET50_STAGES
from dclf.models.vgg import VGG16_BLOCKS
from dclf.optim import KERAS_EPSILON
from dclf.preprocess import CAFFE_BGR_MEAN

VGG16_BLOCKS_1_TO_4 = VGG16_BLOCKS[:4]  # the poster's models keep blocks 1-4
KERAS_BN_EPSILON = 1e-3
KERAS_BN_MOMENTUM = 0.01  # PyTorch's momentum weighs the new batch: 1 - Keras' 0.99


class Network(nn.Module):
  """`head(features(x))`. Frozen features get no gradients and stay in eval mode (BatchNorm uses its
  moving statistics). Autograd records nothing below the head without a `torch.no_grad()` block:
  neither the image nor a frozen parameter requires a gradient. (Such a block inside `forward` is
  where torch.compile broke the graph in two.)"""

  def __init__(self, features: nn.Module | None, head: nn.Module, freeze_features: bool = False):
    super().__init__()
    self.features, self.head, self.freeze_features = features, head, freeze_features
    if features is not None and freeze_features:
      features.requires_grad_(False)

  def train(self, mode: bool = True):
    super().train(mode)
    if self.features is not None and self.freeze_features:
      self.features.eval()
    return self

  def forward(self, x):
    return self.head(x if self.features is None else self.features(x))


def _vgg_features() -> nn.Sequential:
  layers, channels = [], 3
  for convs, width in VGG16_BLOCKS_1_TO_4:
    for _ in range(convs):
      layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
      channels = width
    layers.append(nn.MaxPool2d(2))
  return nn.Sequential(*layers)


def _vgg_head(num_classes: int, image_size: int) -> nn.Sequential:
  """Conv 512 3x3 -> MaxPool -> Flatten -> Dense 4096 -> Dense(num_classes), on block4_pool."""
  side = image_size // 32
  return nn.Sequential(
    nn.Conv2d(512, 512, 3, padding=1),
    nn.ReLU(inplace=True),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Linear(side * side * 512, 4096),
    nn.ReLU(inplace=True),
    nn.Linear(4096, num_classes),
  )


def _bn(channels: int) -> nn.BatchNorm2d:
  return nn.BatchNorm2d(channels, eps=KERAS_BN_EPSILON, momentum=KERAS_BN_MOMENTUM)


class Bottleneck(nn.Module):
  """Keras ResNet50 v1 block: biased convs, the stride on the first 1x1 (and the shortcut)."""

  def __init__(self, in_channels: int, filters, stride: int, projection: bool):
    super().__init__()
    f1, f2, f3 = filters
    self.branch = nn.Sequential(
      nn.Conv2d(in_channels, f1, 1, stride=stride),
      _bn(f1),
      nn.ReLU(inplace=True),
      nn.Conv2d(f1, f2, 3, padding=1),
      _bn(f2),
      nn.ReLU(inplace=True),
      nn.Conv2d(f2, f3, 1),
      _bn(f3),
    )
    self.shortcut = nn.Sequential(nn.Conv2d(in_channels, f3, 1, stride=stride), _bn(f3)) if projection else None

  def forward(self, x):
    shortcut = x if self.shortcut is None else self.shortcut(x)
    return torch.relu(self.branch(x) + shortcut)


def _sgdnet_trunk() -> nn.Sequential:
  """ResNet50 v1 (conv1 pad 3, pool pad 1) then `fraw` = ReLU(Conv 1x1 2048 -> 512, no bias)."""
  layers = [nn.Conv2d(3, 64, 7, stride=2, padding=3), _bn(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, padding=1)]
  channels = 64
  for stage, (blocks, filters) in enumerate(RESNET50_STAGES):
    for i in range(blocks):
      stride = 2 if (i == 0 and stage > 0) else 1
      layers.append(Bottleneck(channels, filters, stride, projection=i == 0))
      channels = filters[2]
  layers += [nn.Conv2d(channels, 512, 1, bias=False), nn.ReLU(inplace=True)]
  return nn.Sequential(*layers)


def _global_average_head(num_classes: int) -> nn.Sequential:
  return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes))


MODELS: dict[str, Callable[[int, int], Network]] = {
  "softmax": lambda n, size: Network(None, nn.Sequential(nn.Flatten(), nn.Linear(size * size * 3, n))),
  "vgg16_scratch": lambda n, size: Network(_vgg_features(), _vgg_head(n, size)),
  "vgg16_transfer": lambda n, size: Network(_vgg_features(), _vgg_head(n, size), freeze_features=True),
  "sgdnet": lambda n, size: Network(_sgdnet_trunk(), _global_average_head(n), freeze_features=True),
}


def create_model(name: str, num_classes: int = 3, image_size: int = 224) -> Network:
  if name not in MODELS:
    raise ValueError(f"the PyTorch reference has no model {name!r}; it has: {', '.join(MODELS)}")
  return MODELS[name](num_classes, image_size)


def count_params(model: nn.Module) -> tuple[int, int]:
  """(total, trainable) as `dclf.models.count_params` counts: BatchNorm moving statistics are in
  the total (PyTorch's `num_batches_tracked` counter is not a Keras variable)."""
  total = sum(p.numel() for p in model.parameters())
  total += sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))
  trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
  return total, trainable


OPTIMIZERS = {
  "rmsprop": lambda params, c: torch.optim.RMSprop(params, lr=c.learning_rate, alpha=0.9, eps=KERAS_EPSILON),
  "adam": lambda params, c: torch.optim.Adam(params, lr=c.learning_rate, betas=(0.9, 0.999), eps=KERAS_EPSILON),
  "sgd": lambda params, c: torch.optim.SGD(params, lr=c.learning_rate, momentum=c.momentum),
}


def precision_policy(config) -> str:
  return "bf16 autocast, fp32 parameters" if config.half_precision else "fp32"


def preprocessor(config, device, memory_format=torch.contiguous_format) -> Callable:
  """NHWC uint8 RGB images -> the NCHW float32 model input of `config.preprocess`, as
  `dclf.preprocess` (the Caffe mean made on the device once)."""
  caffe_mean = torch.tensor(CAFFE_BGR_MEAN, device=device).view(1, 3, 1, 1)
  mode = {"raw": lambda x: x, "caffe": lambda x: x.flip(1) - caffe_mean}[config.preprocess]
  return lambda images: mode(images.permute(0, 3, 1, 2).float()).contiguous(memory_format=memory_format)


def _train_step(net, model, config, preprocess, autocast):
  """One optimizer step of `net` (`model`, or a wrapper of it: DDP, torch.compile); returns the
  loss without reading it back (no host sync)."""
  model.train()
  optimizer = OPTIMIZERS[config.optimizer]([p for p in model.parameters() if p.requires_grad], config)
  schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1.0 + config.lr_decay * step))

  def step(images, labels):
    with autocast():
      logits = net(preprocess(images))
    loss = F.cross_entropy(logits.float(), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    schedule.step()
    return loss.detach()

  return step


def _predict_step(net, model, config, preprocess, autocast):
  """Class probabilities, as `dclf.steps.predict_step`."""
  del config
  model.eval()

  def step(images, labels):
    del labels
    with torch.no_grad(), autocast():
      return torch.softmax(net(preprocess(images)).float(), dim=-1)

  return step


# mode -> (net, model, config, preprocess, autocast) -> step(images, labels).
MODES = {"train": _train_step, "eval": _predict_step}


def host_batch(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
  """A host batch of `dclf.bench.data.device_batches` (uint8 NHWC images, int labels) as CPU tensors."""
  return torch.from_numpy(np.ascontiguousarray(batch["image"])), torch.from_numpy(np.asarray(batch["label"], np.int64))
