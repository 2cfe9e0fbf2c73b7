"""Benchmark records: one flat dict per measured configuration with the same fields for JAX and
PyTorch, and their Markdown table.

Throughput (`images_per_sec`, MFU) comes from the back-to-back run, what training sees; the
median and p90 step times from the per-step synced run; `cpu_time_ms_per_step` is the process's
CPU time per step of the back-to-back run (see `dclf.bench.timing`). MFU divides the analytic model FLOPs
(`dclf.bench.flops`, the same number for both frameworks, so MFU compares like for like) by the step
time and by the peak of every device used.
"""

import json
import os
import platform
import sys
from pathlib import Path

from dclf import cli
from dclf.bench import peaks
from dclf.bench.timing import Timings
from dclf.errors import UsageError


def cpu_model() -> str:
  try:
    with open("/proc/cpuinfo") as f:
      return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
  except (OSError, StopIteration):
    return platform.processor() or "unknown CPU"


def host_info() -> dict:
  """The machine, with its load: timings on a shared machine mean little without it."""
  return {
    "cpu": cpu_model(),
    "cpu_count": os.cpu_count(),
    "load_average": [round(x, 2) for x in os.getloadavg()],
    "python": platform.python_version(),
  }


def record(
  *,
  framework: str,
  versions: dict,
  device_kind: str,
  devices: int,
  config,
  mode: str,
  parallelism: str,
  precision: str,
  data: str,
  timings: Timings,
  compile_s: float,
  flops_per_step: float | None,
  flops_source: str,
  model_flops_per_step: float,
  peak_memory_bytes: int | None,
  program_memory_bytes: int | None = None,
  options: dict | None = None,
) -> dict:
  """The record of one configuration; `*_per_step` FLOPs are global (all devices)."""
  step_s = timings.back_to_back_step_s
  images_per_sec = config.batch_size / step_s
  peak = peaks.peak_flops(device_kind, precision)
  model_flops_per_sec_per_device = model_flops_per_step / step_s / devices
  return {
    "framework": framework,
    "versions": versions,
    "model": config.model,
    "mode": mode,
    "parallelism": parallelism,
    "precision": precision,
    "batch_size": config.batch_size,
    "batch_size_per_device": config.batch_size // devices,
    "image_size": config.image_size,
    "devices": devices,
    "device_kind": device_kind,
    "data": data,
    "steps": len(timings.step_s),
    "step_time_ms_median": 1e3 * timings.median_s,
    "step_time_ms_p90": 1e3 * timings.p90_s,
    "step_time_ms_back_to_back": 1e3 * step_s,
    "cpu_time_ms_per_step": 1e3 * timings.back_to_back_cpu_s / len(timings.step_s),
    "images_per_sec": images_per_sec,
    "images_per_sec_per_device": images_per_sec / devices,
    "compile_s": compile_s,
    "first_call_s": timings.first_call_s,
    "flops_per_step": flops_per_step,
    "flops_source": flops_source,
    "model_flops_per_step": model_flops_per_step,
    "model_tflops_per_sec_per_device": model_flops_per_sec_per_device / 1e12,
    "peak_flops_per_device": peak,
    "mfu": model_flops_per_sec_per_device / peak if peak else None,
    "peak_memory_bytes": peak_memory_bytes,
    "program_memory_bytes": program_memory_bytes,
    "options": options or {},
    "host": host_info(),
    # --real-data records: images/s over the same configuration's on synthetic data, and the
    # training loader's images per CPU second of its processes (`dclf.bench.data`).
    "real_vs_synthetic": None,
    "loader_images_per_sec_per_core": None,
  }


def _fmt(value, spec: str, scale: float = 1.0) -> str:
  return "n/a" if value is None else format(value * scale, spec)


# (column header, cell of a record).
COLUMNS = (
  ("framework", lambda r: r["framework"] + "".join(f" +{k}" for k, v in sorted(r["options"].items()) if v)),
  ("model", lambda r: r["model"]),
  ("mode", lambda r: r["mode"]),
  ("parallelism", lambda r: r["parallelism"]),
  ("precision", lambda r: r["precision"]),
  ("devices", lambda r: f"{r['devices']}x {r['device_kind']}"),
  ("batch/device", lambda r: str(r["batch_size_per_device"])),
  ("median ms", lambda r: _fmt(r["step_time_ms_median"], ",.1f")),
  ("p90 ms", lambda r: _fmt(r["step_time_ms_p90"], ",.1f")),
  ("back-to-back ms", lambda r: _fmt(r["step_time_ms_back_to_back"], ",.1f")),
  ("CPU ms/step", lambda r: _fmt(r["cpu_time_ms_per_step"], ",.1f")),
  ("img/s", lambda r: _fmt(r["images_per_sec"], ",.1f")),
  ("img/s/device", lambda r: _fmt(r["images_per_sec_per_device"], ",.1f")),
  ("compile s", lambda r: _fmt(r["compile_s"], ".2f")),
  ("GFLOP/step", lambda r: _fmt(r["flops_per_step"], ".4g", 1e-9) + f" ({r['flops_source']})"),
  ("model TFLOP/s/device", lambda r: _fmt(r["model_tflops_per_sec_per_device"], ".3g")),
  ("MFU", lambda r: _fmt(r["mfu"], ".1%")),
  ("peak memory GiB", lambda r: _fmt(r["peak_memory_bytes"], ".2f", 2.0**-30)),
  ("data", lambda r: r["data"]),
  ("real/synthetic", lambda r: _fmt(r.get("real_vs_synthetic"), ".0%")),
  ("loader img/s/core", lambda r: _fmt(r.get("loader_images_per_sec_per_core"), ",.0f")),
)


def markdown_table(records: list[dict]) -> str:
  lines = [
    "| " + " | ".join(name for name, _ in COLUMNS) + " |",
    "|" + "|".join("---" if i < 7 else "---:" for i in range(len(COLUMNS))) + "|",
  ]
  lines += ["| " + " | ".join(cell(r) for _, cell in COLUMNS) + " |" for r in records]
  return "\n".join(lines)


def _read(file: Path) -> list[dict]:
  try:
    records = json.loads(file.read_text())
  except (OSError, ValueError) as e:
    raise UsageError(f"{file}: cannot read benchmark records ({e})") from None
  if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
    raise UsageError(f"{file}: not a list of benchmark records (a --json file of python -m dclf.benchmark)")
  return records


def load(paths) -> list[dict]:
  """The records of `--json` files, and of every *.json file in the folders among `paths`."""
  files = []
  for path in map(Path, paths):
    files += sorted(path.glob("*.json")) if path.is_dir() else [path]
  return [r for f in files for r in _read(f)]


@cli.command
def main(argv=None) -> int:
  """`python -m dclf.bench.records FILE_OR_DIR...`: one Markdown table of saved records."""
  parser = cli.ArgumentParser(
    prog="python -m dclf.bench.records",
    description="Print benchmark records (--json files of python -m dclf.benchmark) as one Markdown table.",
  )
  parser.add_argument("paths", nargs="+", metavar="FILE_OR_DIR", help="record files, or folders of *.json records")
  args = parser.parse_args(argv)
  try:
    print(markdown_table(load(args.paths)))
  except KeyError as e:
    raise UsageError(f"a record lacks the field {e}: not written by python -m dclf.benchmark") from None
  return 0


if __name__ == "__main__":
  sys.exit(main())
