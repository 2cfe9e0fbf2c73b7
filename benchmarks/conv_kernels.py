"""One VGG-sized 3x3 convolution, JAX against PyTorch: forward (float32, bf16) and kernel gradient.

    python benchmarks/conv_kernels.py [--batch 8] [--size 112] [--channels 64] [--repeat 3]

Prints the process's CPU time per call (compile and first calls excluded): the per-kernel view
behind the whole-step numbers of `python -m dclf.benchmark` on CPU (docs/benchmarks.md). Pin it
to one core (`taskset -c 0`, `OMP_NUM_THREADS=1`) for per-core numbers.
"""

import argparse
import time

import jax
import jax.numpy as jnp
import torch


def cpu_ms(fn, repeat: int) -> float:
  fn()
  start = time.process_time()
  for _ in range(repeat):
    fn()
  return (time.process_time() - start) / repeat * 1e3


def jax_cases(batch, size, channels):
  conv = lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  x, w = jnp.ones((batch, size, size, channels)), jnp.ones((3, 3, channels, channels))
  forward = jax.jit(conv)
  kernel_grad = jax.jit(lambda x, w, g: jax.vjp(lambda w: conv(x, w), w)[1](g)[0])
  xb, wb = x.astype(jnp.bfloat16), w.astype(jnp.bfloat16)
  return {
    "forward fp32": lambda: forward(x, w).block_until_ready(),
    "forward bf16": lambda: forward(xb, wb).block_until_ready(),
    "kernel gradient fp32": lambda: kernel_grad(x, w, x).block_until_ready(),
  }


def torch_cases(batch, size, channels):
  conv = torch.nn.Conv2d(channels, channels, 3, padding=1)
  x = torch.ones(batch, channels, size, size)

  def forward(bf16):
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
      conv(x)

  def kernel_grad():  # PyTorch has no kernel-gradient-only call: the forward is timed in it
    torch.autograd.grad(conv(x), conv.weight, torch.ones(batch, channels, size, size))

  return {
    "forward fp32": lambda: forward(False),
    "forward bf16": lambda: forward(True),
    "kernel gradient fp32": kernel_grad,
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--size", type=int, default=112)
  parser.add_argument("--channels", type=int, default=64)
  parser.add_argument("--repeat", type=int, default=3)
  args = parser.parse_args()
  shape = (args.batch, args.size, args.channels)
  gflop = 2 * args.batch * args.size**2 * args.channels**2 * 9 / 1e9
  print(
    f"3x3 conv, {args.channels} -> {args.channels} channels, {args.size}x{args.size}, batch {args.batch}: "
    f"{gflop:.2f} GFLOP per forward or kernel gradient; CPU ms per call"
  )
  print("| op | JAX (XLA) | PyTorch |\n|---|---:|---:|")
  jax_ms = {name: cpu_ms(fn, args.repeat) for name, fn in jax_cases(*shape).items()}
  torch_ms = {name: cpu_ms(fn, 1 if "bf16" in name else args.repeat) for name, fn in torch_cases(*shape).items()}
  for name, ms in jax_ms.items():
    note = " (with its forward)" if name.startswith("kernel") else ""
    print(f"| {name} | {ms:,.0f} | {torch_ms[name]:,.0f}{note} |")


if __name__ == "__main__":
  main()
