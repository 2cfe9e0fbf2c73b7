"""PyTorch reference run for `python -m dclf.benchmark --framework torch|both`.

    python benchmarks/torch_reference.py --config configs/sgdnet.py [dclf.benchmark flags]

(the same as `python -m dclf.benchmark --framework torch ...`). A reference, not a product: the
same graphs and parameter counts (`torch_models`), frozen parts frozen the same way, the same
optimizer with Keras semantics (RMSprop alpha 0.9 and eps 1e-7 outside the square root, Adam eps
1e-7, inverse-time decay per step), batch, preprocessing (on the device, inside the step) and
precision (bf16 autocast over float32 parameters), timed by the loop the JAX runs use. One
device; no DistributedDataParallel.

Like-for-like with XLA's defaults on NVIDIA GPUs: TF32 matmuls and convolutions, and cuDNN
autotuning (`cudnn.benchmark`, done during the warm-up). FLOPs are the analytic ones of
`dclf.flops`, the count the JAX records' MFU uses too.
"""

import itertools
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

if __name__ == "__main__":  # run as a script: make `dclf` and `benchmarks` importable
  sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import torch_models
from dclf import flops
from dclf.bench import data, records
from dclf.bench.timing import time_steps
from dclf.optim import KERAS_EPSILON
from dclf.preprocess import CAFFE_BGR_MEAN

MODELS = torch_models.MODELS
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
    return (torch.from_numpy(np.asarray(batch["image"])).to(device, non_blocking=True),
            torch.from_numpy(np.asarray(batch["label"], np.int64)).to(device, non_blocking=True))
  if real_data:
    return map(to_device, data.real_loader(config))
  return itertools.repeat(to_device(data.synthetic_batch(config, num_classes)))


def versions() -> dict:
  return {"torch": torch.__version__}


def run(config, *, mode: str, real_data: bool, num_steps: int, warmup: int, model_flops: flops.ModelFlops,
        channels_last: bool = False, compile_model: bool = False, num_classes: int = 3) -> dict:
  """Benchmarks `mode` of `config.model` at `config.half_precision` on one device."""
  device = _device()
  torch.manual_seed(config.seed)
  torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
  torch.backends.cudnn.benchmark = True
  memory_format = torch.channels_last if channels_last else torch.contiguous_format
  model = torch_models.create_model(config.model, num_classes, config.image_size)
  model = model.to(device, memory_format=memory_format)
  precision = "bf16" if config.half_precision else "fp32"
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
  per_step = (model_flops.train if mode == "train" else model_flops.forward) * config.batch_size
  return records.record(
      framework="torch", versions=versions(),
      device_kind=torch.cuda.get_device_name() if device.type == "cuda" else "cpu", devices=1, config=config,
      mode=mode, parallelism="single", precision=precision, data=data.describe(config, real_data), timings=timings,
      compile_s=max(timings.first_call_s - timings.median_s, 0.0), flops_per_step=per_step, flops_source="analytic",
      model_flops_per_step=per_step,
      peak_memory_bytes=torch.cuda.max_memory_allocated() if device.type == "cuda" else None,
      options={"channels_last": channels_last, "compile": compile_model})


if __name__ == "__main__":
  from absl import app  # pylint: disable=g-import-not-at-top

  from dclf import benchmark, cli  # pylint: disable=g-import-not-at-top
  app.run(benchmark.main, argv=sys.argv + ["--framework=torch"], flags_parser=cli.parse_flags_or_fail)
