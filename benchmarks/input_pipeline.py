"""Images/s of dclf's training input pipeline (grain over tfds.data_source), per worker count.

    PYTHONPATH=. python benchmarks/input_pipeline.py [--dataset distortions/blur_noise_sample]
        [--workers 0,1,2] [--batch_size 32] [--batches 40]

Reads the training split the way `dclf.main` does (global-batch slices, per-epoch shuffle, PNG
decoding in grain worker processes) without a model, so the number is the most the pipeline
can feed. The first batch (worker start-up) is not timed. Prints a Markdown table with the load
average, since wall-clock numbers depend on what else runs on the machine.
"""

import argparse
import os
import time

from configs import default
from dclf import datasets, input_pipeline
from dclf.bench.records import cpu_model


def images_per_sec(source, workers: int, batch_size: int, batches: int) -> float:
  loader = input_pipeline.train_loader(source, global_batch_size=batch_size, seed=0, workers=workers)
  iterator = iter(loader)
  next(iterator)  # worker start-up
  start = time.perf_counter()
  for _ in range(batches):
    next(iterator)
  return batches * batch_size / (time.perf_counter() - start)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--dataset", default="distortions/blur_noise_sample")
  parser.add_argument("--workers", default="0,1,2")
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--batches", type=int, default=40)
  args = parser.parse_args()
  config = default.get_config()
  config.dataset = args.dataset
  source = datasets.load(config, splits=("train",)).splits["train"]
  print(
    f"{args.dataset} train ({len(source)} examples), batch {args.batch_size}, {args.batches} batches; "
    f"{cpu_model()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"
  )
  print("| workers | images/s | images/s per worker |")
  print("|---|---|---|")
  for workers in (int(w) for w in args.workers.split(",")):
    rate = images_per_sec(source, workers, args.batch_size, args.batches)
    per_worker = f"{rate / workers:.0f}" if workers else "(main process)"
    print(f"| {workers} | {rate:.0f} | {per_worker} |", flush=True)


if __name__ == "__main__":
  main()
