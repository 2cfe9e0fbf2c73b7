"""Per-layer convolution kernels on CPU: XLA's forward and kernel gradient, dclf's kernel
gradient (dclf.models.conv), and PyTorch's (oneDNN) forward and kernel gradient.

    python benchmarks/conv_kernels.py [--batch 8] [--repeat 3] [--layers vgg16,resnet50] [--dtype float32]

One row per distinct layer shape of VGG16 (blocks 1-4 and the poster's head conv, 224x224
input) and a few of ResNet50 v1 (conv1, a 3x3 and 1x1 convs, strided ones). CPU milliseconds per
call (the process's CPU time, all threads; compile and first calls excluded): on a machine
shared with other jobs it is the cost of a kernel, where wall time also counts the time others
held the cores. Pin it to one core (`taskset -c 0`, `OMP_NUM_THREADS=1`) for per-core numbers.

Columns: `XLA dW` is the kernel gradient `jax.grad` takes of `lax.conv_general_dilated` (a
convolution XLA:CPU runs slowly for wide layers: openxla/xla#34273); `taps dW` dclf's matrix
products over the kernel taps; `dclf dW` marks which of the two `dclf.models.conv.Conv` uses on
CPU (DCLF_CONV_KERNEL_GRAD=auto); `torch dW` PyTorch's kernel gradient alone
(`aten.convolution_backward`, weight output only). PyTorch is optional: without it its columns
are left empty.
"""

import argparse
import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from dclf.models import conv as dclf_conv
from dclf.models.resnet import RESNET50_STAGES
from dclf.models.vgg import VGG16_BLOCKS

NHWC = ("NHWC", "HWIO", "NHWC")


def vgg16_layers(image_size=224):
  """(name, input size, in channels, out channels, kernel, stride, count) of VGG16 blocks 1-4 and
  the poster's head conv, equal shapes merged."""
  layers, size, cin = [], image_size, 3
  for b, (convs, width) in enumerate(VGG16_BLOCKS[:4], start=1):
    for i in range(1, convs + 1):
      layers.append((f"vgg16 block{b}_conv{i}", size, cin, width, 3, 1))
      cin = width
    size //= 2
  layers.append(("vgg16 head conv", size, cin, 512, 3, 1))
  return _merge(layers)


def resnet50_layers(image_size=224):
  (_, (f1, f2, f3)), (_, (g1, _, g3)) = RESNET50_STAGES[:2]
  s = image_size // 4
  return _merge(
    [
      ("resnet50 conv1 7x7/2", image_size, 3, 64, 7, 2),
      ("resnet50 res2a_branch2b 3x3", s, f1, f2, 3, 1),
      ("resnet50 res2b_branch2a 1x1", s, f3, f1, 1, 1),
      ("resnet50 res2a_branch2c 1x1", s, f2, f3, 1, 1),
      ("resnet50 res3a_branch2a 1x1/2", s, f3, g1, 1, 2),
      ("resnet50 res3a_branch1 1x1/2", s, f3, g3, 1, 2),
    ]
  )


def _merge(layers):
  merged = {}
  for name, *shape in layers:
    key = tuple(shape)
    first, count = merged.get(key, (name, 0))
    merged[key] = (first, count + 1)
  return [(name, *key, count) for key, (name, count) in merged.items()]


def cpu_ms(fn, repeat: int) -> float:
  fn()
  start = time.process_time()
  for _ in range(repeat):
    fn()
  return (time.process_time() - start) / repeat * 1e3


def jax_kernels(batch, size, cin, cout, k, stride, dtype):
  keys = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(keys[0], (batch, size, size, cin), jnp.float32).astype(dtype)
  w = jax.random.normal(keys[1], (k, k, cin, cout), jnp.float32).astype(dtype)
  pads = lax.padtype_to_pads((size, size), (k, k), (stride, stride), "SAME")
  if k == 7:  # ResNet50's conv1: explicit padding 3, as Keras' ZeroPadding2D
    pads = ((3, 3), (3, 3))
  conv = functools.partial(
    lax.conv_general_dilated, window_strides=(stride, stride), padding=pads, dimension_numbers=NHWC
  )
  dy = jax.random.normal(keys[2], jax.eval_shape(conv, x, w).shape, jnp.float32).astype(dtype)
  forward = jax.jit(conv).lower(x, w).compile()
  xla_dw = jax.jit(lambda x, dy: jax.vjp(lambda w: conv(x, w), w)[1](dy)[0]).lower(x, dy).compile()
  taps = functools.partial(dclf_conv.kernel_grad_taps, kernel_shape=w.shape, strides=(stride, stride), padding=pads)
  taps_dw = jax.jit(lambda x, dy: taps(x, dy).astype(dtype)).lower(x, dy).compile()
  np.testing.assert_allclose(
    np.asarray(taps_dw(x, dy), np.float32),
    np.asarray(xla_dw(x, dy), np.float32),
    rtol=0.05,
    atol=0.05 * float(jnp.max(jnp.abs(xla_dw(x, dy).astype(jnp.float32)))),
  )
  return {
    "XLA fwd": lambda: forward(x, w).block_until_ready(),
    "XLA dW": lambda: xla_dw(x, dy).block_until_ready(),
    "taps dW": lambda: taps_dw(x, dy).block_until_ready(),
  }


def torch_kernels(batch, size, cin, cout, k, stride, dtype):
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    return {}
  tdtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
  pad = 3 if k == 7 else (k - 1) // 2
  x = torch.randn(batch, cin, size, size, dtype=tdtype)
  w = torch.randn(cout, cin, k, k, dtype=tdtype)
  with torch.no_grad():
    dy = torch.randn_like(torch.nn.functional.conv2d(x, w, stride=stride, padding=pad))

  def forward():
    with torch.no_grad():
      torch.nn.functional.conv2d(x, w, stride=stride, padding=pad)

  def kernel_grad():
    torch.ops.aten.convolution_backward(
      dy, x, w, None, [stride] * 2, [pad] * 2, [1, 1], False, [0, 0], 1, [False, True, False]
    )

  return {"torch fwd": forward, "torch dW": kernel_grad}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--repeat", type=int, default=3)
  parser.add_argument("--layers", default="vgg16,resnet50", help="comma-separated: vgg16, resnet50")
  parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
  args = parser.parse_args()
  layers = [
    layer
    for family in args.layers.split(",")
    for layer in {"vgg16": vgg16_layers, "resnet50": resnet50_layers}[family]()
  ]
  columns = ["XLA fwd", "torch fwd", "XLA dW", "taps dW", "torch dW"]
  print(
    f"batch {args.batch}, {args.dtype}, CPU ms per call (all threads); {jax.devices()[0].device_kind}, "
    f"jax {jax.__version__}, load average {os.getloadavg()[0]:.1f} at start"
  )
  print(
    "| layer | input | in -> out | kernel/stride | layers | " + " | ".join(columns) + " | dclf dW | dclf / torch dW |"
  )
  print("|---|---|---|---|---:|" + "---:|" * len(columns) + "---|---:|")
  for name, size, cin, cout, k, stride, count in layers:
    shape = (args.batch, size, cin, cout, k, stride)
    ms = {
      c: cpu_ms(fn, args.repeat)
      for c, fn in {**jax_kernels(*shape, args.dtype), **torch_kernels(*shape, args.dtype)}.items()
    }
    out = -(-size // stride)
    uses_taps = dclf_conv.use_taps_on_cpu((k, k, cin, cout), (args.batch, out, out, cout))
    ours = ms["taps dW"] if uses_taps else ms["XLA dW"]
    ratio = f"{ours / ms['torch dW']:.2f}" if "torch dW" in ms else ""
    cells = " | ".join(f"{ms[c]:,.0f}" if c in ms else "" for c in columns)
    print(
      f"| {name} | {size}x{size} | {cin} -> {cout} | {k}x{k}/{stride} | {count} | {cells} | "
      f"{'taps' if uses_taps else 'XLA'} | {ratio} |",
      flush=True,
    )


if __name__ == "__main__":
  main()
