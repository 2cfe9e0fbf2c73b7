"""Throughput of the dclf.distort filters on 224x224 images, one CPU core, one process.

    PYTHONPATH=. python benchmarks/distortions.py [--images 32] [--repeat 3]

Prints a Markdown table of images/s, per CPU second of this process and per wall second:
every NumPy filter at the poster's parameters, the JAX blur and noise (jit, batch of 64,
compile excluded, block_until_ready), and, when the optional ``imagecorruptions`` package is
installed, its gaussian_blur and gaussian_noise on the same images. XLA and BLAS are pinned
to one thread so the numbers are per core.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
  os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from dclf import distort  # noqa: E402
from dclf.bench.records import cpu_model  # noqa: E402

SIZE = 224
JAX_BATCH = 64


def _best_rate(fn, n_images: int, repeat: int):
  """(images per CPU second, images per wall second) of ``fn()``, best of ``repeat`` runs.

  CPU time of this (single-threaded) process is what "per core" means and stays meaningful
  when other jobs share the machine; wall time is reported next to it.
  """
  cpu = wall = float("inf")
  for _ in range(repeat):
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    cpu, wall = min(cpu, time.process_time() - c0), min(wall, time.perf_counter() - w0)
  return n_images / cpu, n_images / wall


def _numpy_rows(images, repeat):
  for name in distort.FILTERS:
    run = lambda: [distort.apply(name, im) for im in images]
    yield name, "dclf NumPy (jar port)", *_best_rate(run, len(images), repeat)


def _jax_rows(repeat):
  import jax
  import jax.numpy as jnp

  from dclf.distort import jax_ops

  batch = jnp.asarray(np.random.default_rng(1).integers(0, 256, (JAX_BATCH, SIZE, SIZE, 3), np.uint8))
  key = jax.random.key(0)
  cases = {
    "gaussian_blur": lambda: jax_ops.gaussian_blur(batch, 10.0),
    "color_noise": lambda: jax_ops.noise(batch, key, 25, 1.0),
  }
  for name, fn in cases.items():
    fn().block_until_ready()  # compile
    rates = _best_rate(lambda: fn().block_until_ready(), JAX_BATCH, repeat)
    yield name, f"dclf JAX (jit, batch {JAX_BATCH})", *rates


def _imagecorruptions_rows(images, repeat):
  try:
    import imagecorruptions
    from imagecorruptions import corruptions
  except ImportError:
    print("imagecorruptions is not installed: its rows are left out (pip install imagecorruptions).")
    return
  gaussian = corruptions.gaussian
  # imagecorruptions 1.1.2 still passes multichannel=True, which scikit-image >= 0.19 removed;
  # channel_axis=-1 is the same computation under the new name
  corruptions.gaussian = lambda x, sigma, multichannel=True: gaussian(x, sigma=sigma, channel_axis=-1)
  cases = [("gaussian_blur", "gaussian_blur", 3), ("color_noise", "gaussian_noise", 1)]
  for name, corruption, severity in cases:
    run = lambda: [imagecorruptions.corrupt(im, severity, corruption) for im in images]
    yield name, f"imagecorruptions {corruption} s{severity}", *_best_rate(run, len(images), repeat)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--images", type=int, default=32, help="images per timed NumPy run")
  parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is reported")
  args = parser.parse_args()
  images = np.random.default_rng(0).integers(0, 256, (args.images, SIZE, SIZE, 3), np.uint8)
  rows = [
    *_numpy_rows(images, args.repeat),
    *_jax_rows(args.repeat),
    *_imagecorruptions_rows(images, args.repeat),
  ]
  load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
  print(
    f"\n{SIZE}x{SIZE} RGB uint8, single process, one thread; CPU: {cpu_model()} "
    f"({os.cpu_count()} cores), load average {load}\n"
  )
  print("| filter | implementation | images/s per core (CPU time) | images/s (wall) |")
  print("|---|---|---:|---:|")
  for name, impl, cpu_rate, wall_rate in sorted(rows, key=lambda r: list(distort.FILTERS).index(r[0])):
    print(f"| {name} | {impl} | {cpu_rate:,.0f} | {wall_rate:,.0f} |")


if __name__ == "__main__":
  main()
