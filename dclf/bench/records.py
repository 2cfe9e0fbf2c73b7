"""Benchmark records: one flat dict per measured configuration with the same fields for JAX, PyTorch
and Keras; their Markdown tables (every column, or the study's one table per model with the ratio
to the fastest framework) and the study's plot (`dclf.bench.plots`).

Throughput (`images_per_sec`, MFU) comes from the back-to-back run, what training sees; the
median and p90 step times from the per-step synced run; `cpu_time_ms_per_step` is the process's
CPU time per step of the back-to-back run (see `dclf.bench.timing`). MFU divides the analytic model FLOPs
(`dclf.bench.flops`, the same number for both frameworks, so MFU compares like for like) by the step
time and by the peak of every device used.
"""

import collections
import datetime
import json
import os
import platform
import sys
from pathlib import Path

from dclf import cli
from dclf.bench import peaks, plots
from dclf.bench.timing import Timings
from dclf.errors import UsageError


def cpu_model() -> str:
  try:
    with open("/proc/cpuinfo") as f:
      return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
  except (OSError, StopIteration):
    return platform.processor() or "unknown CPU"


# Environment variables that change what the frameworks run (kernels, threads, devices, caches).
ENVIRONMENT = (
  "XLA_FLAGS",
  "TF_ENABLE_ONEDNN_OPTS",
  "OMP_NUM_THREADS",
  "MKL_NUM_THREADS",
  "CUDA_VISIBLE_DEVICES",
  "TORCHINDUCTOR_CACHE_DIR",
)


def host_info() -> dict:
  """The machine, with its load (timings on a shared machine mean little without it) and the
  environment variables of ENVIRONMENT that are set."""
  return {
    "cpu": cpu_model(),
    "cpu_count": os.cpu_count(),
    "load_average": [round(x, 2) for x in os.getloadavg()],
    "python": platform.python_version(),
    "environment": {name: os.environ[name] for name in ENVIRONMENT if name in os.environ},
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
    "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    # --real-data records: images/s over the same configuration's on synthetic data, and the
    # training loader's images per CPU second of its processes (`dclf.bench.data`).
    "real_vs_synthetic": None,
    "loader_images_per_sec_per_core": None,
  }


def reference_record(
  *, framework: str, versions: dict, device_kind: str, config, mode: str, data: str, timings: Timings, model_flops, **kw
) -> dict:
  """The record of a reference run (PyTorch, Keras): one device, the analytic FLOPs of `model_flops`
  (a `dclf.bench.flops.ModelFlops`), and as compile time the first call (where they compile, and
  autotune) minus a steady step; `kw`: `peak_memory_bytes`, `options`."""
  per_step = (model_flops.train if mode == "train" else model_flops.forward) * config.batch_size
  return record(
    framework=framework,
    versions=versions,
    device_kind=device_kind,
    devices=1,
    config=config,
    mode=mode,
    parallelism="single",
    precision="bf16" if config.half_precision else "fp32",
    data=data,
    timings=timings,
    compile_s=max(timings.first_call_s - timings.median_s, 0.0),
    flops_per_step=per_step,
    flops_source="analytic",
    model_flops_per_step=per_step,
    **kw,
  )


def _fmt(value, spec: str, scale: float = 1.0) -> str:
  return "n/a" if value is None else format(value * scale, spec)


def framework_label(r: dict) -> str:
  """`jax`, `torch +channels-last +compile`, `keras/tensorflow-xla`: the framework and what changes its step."""
  if r["framework"] == "keras":
    return f"keras/{r['options']['keras_backend']}"
  return r["framework"] + "".join(f" +{k.replace('_', '-')}" for k, v in sorted(r["options"].items()) if v)


def row_label(r: dict) -> str:
  """One row of the study (a bar of its plot): the framework label, with JAX's parallelism."""
  return framework_label(r) + (f" {r['parallelism']}" if r["framework"] == "jax" else "")


def significant(value) -> str:
  """At least 3 significant digits, thousands grouped: 0.753, 8.31, 35.2, 1,263."""
  return "n/a" if value is None else f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


# (column header, cell of a record).
COLUMNS = (
  ("framework", framework_label),
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


# The study's table per model: (column header, cell of a record).
STUDY_COLUMNS = (
  ("framework", row_label),
  ("precision", lambda r: r["precision"]),
  ("mode", lambda r: r["mode"]),
  ("img/s", lambda r: significant(r["images_per_sec"])),
  ("median ms", lambda r: significant(r["step_time_ms_median"])),
  ("p90 ms", lambda r: significant(r["step_time_ms_p90"])),
  ("CPU ms/step", lambda r: significant(r["cpu_time_ms_per_step"])),
  ("compile s", lambda r: _fmt(r["compile_s"], ".1f")),
  ("MFU", lambda r: _fmt(r["mfu"], ".1%")),
  ("peak memory GiB", lambda r: _fmt(r["peak_memory_bytes"], ".2f", 2.0**-30)),
)
MODEL_ORDER = ("softmax", "sgdnet", "vgg16_transfer", "vgg16_scratch")


def latest(records: list[dict]) -> list[dict]:
  """One record per study row and setting (device, model, batch, data, precision, mode): the newest
  (`measured_at`; the last read among records without it), so a rerun replaces its row."""
  keyed = {}
  for r in sorted(records, key=lambda r: r.get("measured_at", "")):
    keyed[(_table_key(r), row_label(r), r["precision"], r["mode"])] = r
  return list(keyed.values())


def _table_key(r: dict) -> tuple:
  return (f"{r['devices']}x {r['device_kind']}", r["model"], r["batch_size_per_device"], r["image_size"], r["data"])


def _sorted_tables(records: list[dict]) -> dict[tuple, list[dict]]:
  """The latest records by table (device, model by MODEL_ORDER, ...), each sorted: fp32 before bf16,
  train before eval, the fastest first."""
  tables = collections.defaultdict(list)
  for r in latest(records):
    tables[_table_key(r)].append(r)
  model_rank = lambda model: (MODEL_ORDER.index(model) if model in MODEL_ORDER else len(MODEL_ORDER), model)
  return {
    key: sorted(tables[key], key=lambda r: (r["precision"] != "fp32", r["mode"] != "train", -r["images_per_sec"]))
    for key in sorted(tables, key=lambda k: (k[0], model_rank(k[1]), k[2:]))
  }


def _fastest(rows: list[dict]) -> dict:
  """(precision, mode) -> the most images/s per device among `rows`."""
  best = collections.defaultdict(float)
  for r in rows:
    best[r["precision"], r["mode"]] = max(best[r["precision"], r["mode"]], r["images_per_sec_per_device"])
  return best


def study_tables(records: list[dict]) -> str:
  """One Markdown table per model (and device, batch, image size, data): every framework row at each
  precision and mode, with its ratio to the fastest row of the same precision and mode in images/s
  per device (JAX runs use every device, the references one)."""
  out = []
  for (device, model, batch, size, data), rows in _sorted_tables(records).items():
    loads = [r["host"]["load_average"][0] for r in rows]
    columns = STUDY_COLUMNS
    if any(r["devices"] > 1 for r in rows):
      columns += (("img/s/device", lambda r: significant(r["images_per_sec_per_device"])),)
    best = _fastest(rows)
    ratio = lambda r: r["images_per_sec_per_device"] / best[r["precision"], r["mode"]]
    out += [
      f"### {model}: {device}, batch {batch} per device, {size}x{size}, {data} data",
      "",
      f"host: {rows[0]['host']['cpu']} ({rows[0]['host']['cpu_count']} cores), load average (1 min) "
      f"{min(loads):.1f} to {max(loads):.1f} over these rows",
      "",
      "| " + " | ".join(name for name, _ in columns) + " | vs fastest |",
      "|---|---|---|" + "---:|" * (len(columns) - 2),
    ]
    out += [
      "| " + " | ".join(cell(r) for _, cell in columns) + f" | {'fastest' if ratio(r) == 1 else f'{ratio(r):.2f}x'} |"
      for r in rows
    ]
    out.append("")
  return "\n".join(out)


def plot(records: list[dict], path) -> None:
  """The study's plot: a panel per model (a row of panels per device), grouped bars of images/s per
  device, a bar per framework row in each (mode, precision)."""
  tables = _sorted_tables(records)
  devices = sorted({key[0] for key in tables})
  per_panel = collections.Counter((key[0], key[1]) for key in tables)
  grid = []
  for device in devices:
    panels = []
    for (table_device, model, batch, size, _), rows in tables.items():
      if table_device != device:
        continue
      title = model + (f" ({device})" if len(devices) > 1 else "")
      if per_panel[device, model] > 1:  # several batch sizes, image sizes or data of one model
        title += f", batch {batch}, {size}x{size}"
      groups = sorted({(r["mode"], r["precision"]) for r in rows}, key=lambda g: (g[0] != "train", g[1] != "fp32"))
      by_row = {(row_label(r), r["mode"], r["precision"]): r["images_per_sec_per_device"] for r in rows}
      series = {row_label(r) for r in rows}
      panels.append(
        plots.Panel(
          title=title,
          groups=[f"{mode}\n{precision}" for mode, precision in groups],
          bars={label: [by_row.get((label, *g)) for g in groups] for label in series},
        )
      )
    grid.append(panels)
  title = "Images/s per device of the training and inference steps (higher is better)"
  plots.draw(grid, path, title=title, ylabel="images/s per device")


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
  """`python -m dclf.bench.records FILE_OR_DIR... [--plot OUT.png] [--wide]`: the study's tables."""
  parser = cli.ArgumentParser(
    prog="python -m dclf.bench.records",
    description="Print benchmark records (--json files of python -m dclf.benchmark) as one Markdown table per "
    "model, every framework with its ratio to the fastest; --plot draws them.",
  )
  parser.add_argument("paths", nargs="+", metavar="FILE_OR_DIR", help="record files, or folders of *.json records")
  parser.add_argument("--plot", metavar="OUT.png", help="also draw images/s per framework, a panel per model")
  parser.add_argument("--wide", action="store_true", help="one table of every record with all columns instead")
  args = parser.parse_args(argv)
  results = load(args.paths)
  if not results:
    raise UsageError(f"no benchmark records in {', '.join(args.paths)}")
  try:
    print(markdown_table(results) if args.wide else study_tables(results))
    if args.plot:
      plot(results, args.plot)
  except KeyError as e:
    raise UsageError(f"a record lacks the field {e}: not written by python -m dclf.benchmark") from None
  except OSError as e:
    raise UsageError(f"--plot {args.plot}: cannot write the plot ({e})") from None
  if args.plot:
    print(f"wrote {args.plot}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
