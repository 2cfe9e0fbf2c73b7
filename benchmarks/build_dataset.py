"""Times a full build of a dataset (default: the embedded blur_noise_sample) into a fresh folder.

    PYTHONPATH=. python benchmarks/build_dataset.py [--name distortions/blur_noise_sample]
        [--workers 1,2] [--num_sources N]

Prints, per worker count: examples, wall seconds, examples/s in total and per worker, and the
CPU seconds spent in this process (tfds serialising and writing) and in the worker processes
(decoding, distorting, encoding). CPU seconds do not depend on other load on the machine;
the load average is printed so that wall-clock numbers can be judged.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

import dclf.data
from dclf.bench.records import cpu_model


def _cpu_seconds(who: int) -> float:
  usage = resource.getrusage(who)
  return usage.ru_utime + usage.ru_stime


def time_build(name: str, workers: int, num_sources: int | None) -> tuple[int, float, float, float]:
  """(examples, wall s, main-process CPU s, worker CPU s) of one build from scratch."""
  with tempfile.TemporaryDirectory(prefix="dclf_bench_") as data_dir:
    main_cpu = _cpu_seconds(resource.RUSAGE_SELF)
    workers_cpu = _cpu_seconds(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    info = dclf.data.build(name, data_dir=data_dir, workers=workers, num_sources=num_sources)
    seconds = time.perf_counter() - start
    main_cpu = _cpu_seconds(resource.RUSAGE_SELF) - main_cpu
    workers_cpu = _cpu_seconds(resource.RUSAGE_CHILDREN) - workers_cpu
  examples = sum(split.num_examples for split in info.splits.values())
  return examples, seconds, main_cpu, workers_cpu


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--name", default="distortions/blur_noise_sample")
  parser.add_argument("--workers", default=str(os.cpu_count()), help="comma-separated worker counts")
  parser.add_argument("--num_sources", type=int, help="override the config's number of sources")
  args = parser.parse_args()
  print(f"{args.name} on {os.cpu_count()} x {cpu_model()}")
  print(
    f"{'workers':>7} {'examples':>8} {'seconds':>8} {'ex/s':>7} {'ex/s/worker':>11} "
    f"{'cpu main':>8} {'cpu workers':>11} {'load':>5}"
  )
  for workers in (int(count) for count in args.workers.split(",")):
    examples, seconds, main_cpu, workers_cpu = time_build(args.name, workers, args.num_sources)
    rate = examples / seconds
    load = os.getloadavg()[0]
    print(
      f"{workers:>7} {examples:>8} {seconds:>8.1f} {rate:>7.1f} {rate / max(workers, 1):>11.1f} "
      f"{main_cpu:>8.1f} {workers_cpu:>11.1f} {load:>5.1f}",
      flush=True,
    )


if __name__ == "__main__":
  main()
