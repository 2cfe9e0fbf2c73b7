"""The PyTorch reference of `python -m dclf.benchmark --framework torch|both`: the poster's four
classifiers in PyTorch and their timed steps. Optional: `pip install -e '.[torch]'`; only
`dclf.bench.suite` imports this module, when PyTorch runs are asked for.

A reference, not a product (no weights, no training loop): the graphs, parameter counts and
frozen parts of `dclf.models` (NCHW tensors; a flattened VGG feature map is channel-height-width
ordered here and height-width-channel ordered in Flax, which changes no count or FLOP), the same
optimizer with Keras semantics (RMSprop alpha 0.9 and eps 1e-7 outside the square root, Adam eps
1e-7, inverse-time decay per step), batch, preprocessing (on the device, inside the step) and
precision (bf16 autocast over float32 parameters), timed by the loop the JAX runs use
(`dclf.bench.timing`). One device; no DistributedDataParallel.

Like-for-like with XLA's defaults on NVIDIA GPUs: TF32 matmuls and convolutions, and cuDNN
autotuning (`cudnn.benchmark`, done during the warm-up). FLOPs are the analytic ones of
`dclf.bench.flops`, the count the JAX records' MFU uses too.
"""

import itertools
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dclf.bench import data, flops, records
from dclf.bench.timing import time_steps
from dclf.models.resnet import RESNET50_STAGES
from dclf.models.vgg import VGG16_BLOCKS
from dclf.optim import KERAS_EPSILON
from dclf.preprocess import CAFFE_BGR_MEAN

VGG16_BLOCKS_1_TO_4 = VGG16_BLOCKS[:4]  # the poster's models keep blocks 1-4
KERAS_BN_EPSILON = 1e-3
KERAS_BN_MOMENTUM = 0.01  # PyTorch's momentum weighs the new batch: 1 - Keras' 0.99


class Network(nn.Module):
  """`head(features(x))`. Frozen features get no gradients, stay in eval mode (BatchNorm uses its
  moving statistics) and run under `torch.no_grad()`, so autograd records nothing below the head."""

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
    if self.features is not None:
      with torch.no_grad() if self.freeze_features else torch.enable_grad():
        x = self.features(x)
    return self.head(x)


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


def _preprocessor(mode: str, device):
  """NCHW float32 RGB 0..255 -> model input, as `dclf.preprocess` (constants made on the device once)."""
  caffe_mean = torch.tensor(CAFFE_BGR_MEAN, device=device).view(1, 3, 1, 1)
  return {"raw": lambda x: x, "caffe": lambda x: x.flip(1) - caffe_mean}[mode]


def _device() -> torch.device:
  return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _train_step(model, config, autocast):
  """One optimizer step; returns the loss without reading it back (no host sync)."""
  model.train()
  optimizer = OPTIMIZERS[config.optimizer]([p for p in model.parameters() if p.requires_grad], config)
  schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1.0 + config.lr_decay * step))

  def step(images, labels):
    with autocast():
      logits = model(images)
    loss = F.cross_entropy(logits.float(), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    schedule.step()
    return loss.detach()

  return step


def _predict_step(model, config, autocast):
  """Class probabilities, as `dclf.steps.predict_step`."""
  del config
  model.eval()

  def step(images, labels):
    del labels
    with torch.inference_mode(), autocast():
      return torch.softmax(model(images).float(), dim=-1)

  return step


MODES = {"train": _train_step, "eval": _predict_step}


def _device_batches(config, num_classes, real_data, device):
  """The same device batch forever (synthetic), or the trainer's grain loader copied over each step."""

  def to_device(batch):
    return (
      torch.from_numpy(np.asarray(batch["image"])).to(device, non_blocking=True),
      torch.from_numpy(np.asarray(batch["label"], np.int64)).to(device, non_blocking=True),
    )

  if real_data:
    return map(to_device, data.real_loader(config))
  return itertools.repeat(to_device(data.synthetic_batch(config, num_classes)))


def versions() -> dict:
  return {"torch": torch.__version__}


def run(
  config,
  *,
  mode: str,
  real_data: bool,
  num_steps: int,
  warmup: int,
  model_flops: flops.ModelFlops,
  channels_last: bool = False,
  compile_model: bool = False,
  num_classes: int = 3,
) -> dict:
  """Benchmarks `mode` of `config.model` at `config.half_precision` on one device."""
  device = _device()
  torch.manual_seed(config.seed)
  torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
  torch.backends.cudnn.benchmark = True
  memory_format = torch.channels_last if channels_last else torch.contiguous_format
  model = create_model(config.model, num_classes, config.image_size)
  model = model.to(device, memory_format=memory_format)
  autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.half_precision)
  run_step = MODES[mode](model, config, autocast)
  if compile_model:
    model.compile()

  batches = _device_batches(config, num_classes, real_data, device)
  preprocess = _preprocessor(config.preprocess, device)

  def step():
    images, labels = next(batches)
    x = preprocess(images.permute(0, 3, 1, 2).float())
    return run_step(x.contiguous(memory_format=memory_format), labels)

  sync = (lambda _: torch.cuda.synchronize()) if device.type == "cuda" else (lambda _: None)  # CPU ops are synchronous
  if device.type == "cuda":
    torch.cuda.reset_peak_memory_stats()
  timings = time_steps(step, sync, steps=num_steps, warmup=warmup)
  return records.reference_record(
    framework="torch",
    versions=versions(),
    device_kind=torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
    config=config,
    mode=mode,
    data=data.describe(config, real_data),
    timings=timings,
    model_flops=model_flops,
    peak_memory_bytes=torch.cuda.max_memory_allocated() if device.type == "cuda" else None,
    options={"channels_last": channels_last, "compile": compile_model},
  )
