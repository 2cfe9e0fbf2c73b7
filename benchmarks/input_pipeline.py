"""Images/s per host core of dclf's training loader: PNG build vs raw copy, in the main process and
with worker processes.

    PYTHONPATH=. python benchmarks/input_pipeline.py [--dataset distortions/blur_noise_sample]
        [--data_dir D] [--formats tfds,raw] [--workers 0,1,2] [--batch_size 32] [--crop 0]
        [--images 0] [--repeats 1]

Reads the training split as `dclf.main` does (`dclf.bench.data.real_loader`: global-batch slices of
the per-epoch shuffled order, whole batches per record), puts each batch on the devices and waits
for it, without a model: the most the pipeline can feed. `img/s/core` divides the images by the
CPU seconds of the main process and every worker process, so it does not depend on what else runs
on the machine (a host with N free cores feeds about N times it); `img/s` is wall-clock and does.
The first batches (worker start-up) are not counted. The sample dataset is built, and converted
for the raw rows, on first use. Prints a Markdown table with the load average before each row.
"""

import argparse
import os

import jax

from configs import default
from dclf import input_pipeline, parallel
from dclf.bench import data
from dclf.bench.records import cpu_model


def row(config, images: int) -> str:
  load = os.getloadavg()[0]
  put = parallel.create("pmap").put_batch
  cost = data.loader_cost(
    config, lambda batch: jax.block_until_ready(put(batch)), batches=max(1, images // config.batch_size), warmup=4
  )
  per_image_us = lambda seconds: 1e6 * seconds / cost.images
  return (
    f"| {config.data_format} | {config.data_workers} | {cost.images_per_sec_per_core:,.0f} | "
    f"{cost.images / cost.wall_s:,.0f} | {per_image_us(cost.main_cpu_s):,.0f} + {per_image_us(cost.worker_cpu_s):,.0f} "
    f"| {load:.1f} |"
  )


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--dataset", default="distortions/blur_noise_sample")
  parser.add_argument("--data_dir", default="", help="default: $TFDS_DATA_DIR or ~/tensorflow_datasets")
  parser.add_argument("--formats", default="tfds,raw")
  parser.add_argument("--workers", default="0,1,2")
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--crop", type=int, default=0, help="random crops of this size (0: whole images)")
  parser.add_argument("--images", type=int, default=0, help="images per row (default: 1,280 PNG, 12,800 raw)")
  parser.add_argument("--repeats", type=int, default=1)
  args = parser.parse_args()
  config = default.get_config()
  config.update(dataset=args.dataset, data_dir=args.data_dir, batch_size=args.batch_size, train_crop_size=args.crop)
  print(
    f"{args.dataset} train, batch {args.batch_size}, crop {args.crop or 'none'}; {cpu_model()}, "
    f"{input_pipeline.host_cores()} cores"
  )
  print("| format | workers | img/s/core (CPU) | img/s (wall) | CPU us/img: main + workers | load |")
  print("|---|---:|---:|---:|---:|---:|")
  for _ in range(args.repeats):
    for data_format in args.formats.split(","):
      for workers in map(int, args.workers.split(",")):
        config.update(data_format=data_format, data_workers=workers)
        print(row(config, args.images or (12_800 if data_format == "raw" else 1_280)), flush=True)


if __name__ == "__main__":
  main()
